/**
 * The retry stage: on a typed failure, the error's policy from the `PolicyService` decides (each error type keeps
 * its own attempt count and backoff for the run); a retried failure is emitted as pending and logged, the run
 * waits the policy's delay and reruns the attempt the stages inside built. When the failing type's policy is done
 * the run gives up: the call's outcome is emitted, the give-up line logged, an unrecoverable error's cleanup run,
 * and the outermost pipeline's `giveUp` (the fallback, else the failure) ends the run.
 *
 * With a `budget` named, each call admitted deposits into that retry budget of the `RetryBudgetRegistry`, each
 * retry withdraws from it, and a retry it refuses is not made: the run gives up at once with the error, marked
 * suppressed. A retry after an error carrying a retry-after hint waits at least that long (see `policyRun`).
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Pull, Result } from "effect"
import * as ErrorFamily from "../../ErrorFamily.js"
import { PolicyService } from "../../PolicyService.js"
import { RetryBudgetRegistry } from "../../RetryBudgetRegistry.js"
import { monotonicMillis } from "../breaker/store.js"
import type { BudgetInternal } from "../budget/budget.js"
import { logCleanupFailed, logGiveUp, logRetry } from "../logLines.js"
import type { RetrySuppressed } from "../observation.js"
import { currentPolicies } from "../reloadable.js"
import { makePolicyRun, type RetryDecision } from "../policyRun.js"
import { electDefects, type Run } from "./run.js"
import * as Stage from "./stage.js"

/** The option the stage reads. */
export interface Options {
  /**
   * The retry budget the call's retries (and hedges) spend: a name in the `RetryBudgetRegistry`, or `true` for the
   * one its `operations` option maps the operation to (by default the budget named after the operation).
   */
  readonly budget?: string | true | undefined
}

type NoBudget<O> = "budget" extends keyof O ? ([O[keyof O & "budget"]] extends [undefined] ? true : false) : true

/**
 * The stage's types: it adds the `PolicyService` it reads the policies from, and with a budget named the
 * registry of budgets. The error type is unchanged: a suppressed retry ends with the original error.
 */
export interface Types extends Stage.Types {
  readonly Options: Options
  readonly Success: this["In"]
  readonly Error: this["In"]
  readonly Services: this["In"] | PolicyService | (NoBudget<this["O"]> extends true ? never : RetryBudgetRegistry)
}

const isUnrecoverable = (error: unknown): boolean => ErrorFamily.isClassified(error) && error.kind === "unrecoverable"

/** Everything after the give-up's own line: an unrecoverable error's cleanup, then the outermost `giveUp`. */
const giveUp = (error: unknown, decision: RetryDecision, at: number, run: Run) => {
  const { operation, logger } = run.site
  const { policy, total } = decision
  if (decision.suppressed !== undefined) {
    run.suppressed = decision.suppressed
    if (run.observer.active) run.observer.emit(suppressedEvent(run, decision))
  }
  run.call(total > 1 ? "failed_after_retry" : "failed")
  const logged = logGiveUp(logger, error, decision, operation)
  const cleanup = policy.cleanup
  const cleaned = cleanup === undefined || !isUnrecoverable(error) ? logged : Effect.andThen(
    logged,
    Effect.catchCause(Effect.suspend(() => cleanup(error)), (cause) => logCleanupFailed(operation, cause))
  )
  // the give-up is recorded (and an alert subscription handed it) once the cleanup has run
  return Effect.andThen(cleaned, Effect.suspend(() => run.pipeline.giveUp(error, at, total, run)))
}

// the suppression events of a site, built once per site, reason and budget and emitted as the same objects
const suppressedEvents = new WeakMap<Run["site"], Map<string, RetrySuppressed>>()
const suppressedEvent = (run: Run, decision: RetryDecision): RetrySuppressed => {
  let events = suppressedEvents.get(run.site)
  if (events === undefined) suppressedEvents.set(run.site, events = new Map())
  const key = `${decision.suppressed}|${decision.budget ?? ""}`
  let event = events.get(key)
  if (event === undefined) {
    event = {
      _tag: "RetrySuppressed",
      operation: run.site.operation,
      budget: decision.budget,
      reason: decision.suppressed!
    }
    events.set(key, event)
  }
  return event
}

// The policy set in force as a call starts, read on every call (a context lookup, and a brand check that reads
// nothing from the service): the pipeline is built again when it differs, so a reload applies to the calls that
// start after it, and a call already running keeps the set its pipeline was built with. Each applied reload makes
// a new set, so every call site's pipeline is rebuilt on its next call and looks up again the strategies its
// operation maps to. (Without a PolicyService in the context, the set is looked up at the first failure.) A call
// in the context of the call site's last call, with nothing reloaded since, reads nothing (see the pipeline).
const policiesReader = () => (context: Context.Context<never>): PolicyServiceShape | undefined => {
  const service = Context.getOrUndefined(context, PolicyService)
  return service === undefined ? undefined : currentPolicies(service)
}

type PolicyServiceShape = Context.Service.Shape<typeof PolicyService>

// the pipeline with the retry loop (spending `budget`, if any) in its `recover` slot
const retrying = (
  inner: Stage.Pipeline,
  budget: BudgetInternal | undefined,
  policies: PolicyServiceShape | undefined,
  attempt: Stage.Pipeline["attempt"] = inner.attempt
): Stage.Pipeline => ({
  ...inner,
  attempt,
  recover: (first, firstAt, run) =>
        withPolicies(policies, (service) => {
          const { operation, logger } = run.site
          const step = makePolicyRun(
            service.policyFor,
            budget,
            () => monotonicMillis(run.fiber.getRef(Clock.Clock))
          )
          const loop = (error: unknown, at: number): Effect.Effect<unknown, unknown, unknown> =>
            Pull.matchEffect(step(at, error), {
              onSuccess: ([decision, delay]) => {
                run.failed(error, at, decision.total, "pending", false)
                return logRetry(logger, error, decision, delay, operation).pipe(
                  // a zero delay retries at once: `Effect.sleep` would yield to the scheduler, a round trip through
                  // the event loop that costs more than the rest of the retry (effect's runloop yields on its own
                  // after enough work, so a zero-delay loop cannot starve other fibers)
                  Effect.andThen(Duration.isZero(delay) ? Effect.void : Effect.sleep(delay)),
                  Effect.andThen(Effect.matchCauseEffect(attempt(decision), {
                    onSuccess: (value) => {
                      run.settle("succeeded")
                      run.call("succeeded_after_retry")
                      return Effect.succeed(value)
                    },
                    onFailure: (cause) => {
                      run.settle("failed")
                      const next = Cause.findError(cause)
                      if (Result.isSuccess(next) && !Cause.hasDies(cause)) return loop(next.success, run.now())
                      if (!Cause.hasInterruptsOnly(cause)) run.call("failed_after_retry")
                      return Effect.failCause(electDefects(cause))
                    }
                  }))
                )
              },
              onFailure: Effect.failCause,
              onDone: (decision) => giveUp(error, decision, at, run)
            })
          return loop(first, firstAt)
        })
})


const withPolicies = <A, E, R>(
  policies: PolicyServiceShape | undefined,
  f: (service: PolicyServiceShape) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | PolicyService> => policies === undefined ? PolicyService.use(f) : f(policies)

// the tokens rule counts each attempt's outcome: a failure (typed or a defect) takes a token, a success gives
const counting = (budget: BudgetInternal, attempt: Effect.Effect<unknown, unknown, unknown>) =>
  Effect.onExitPrimitive(attempt, (exit) => {
    if (Exit.isSuccess(exit)) budget.recordUnsafe(false)
    else if (!Cause.hasInterruptsOnly(exit.cause)) budget.recordUnsafe(true)
    return undefined
  })


/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "retry",
  make: (options) => {
    const name = (options as Options).budget
    if (name === undefined) {
      return {
        read: policiesReader(),
        wrap: (inner, policies: PolicyServiceShape | undefined) => retrying(inner, undefined, policies)
      }
    }
    const operation = options.operation
    const budgets = Stage.strategyReader(RetryBudgetRegistry, name, operation, (registry, name) => registry.budget(name))
    // the registry (or its routes) and the policy set, as one value that is the same object while both are
    let read: { readonly registry: unknown; readonly policies: PolicyServiceShape | undefined } | undefined
    const readPolicies = policiesReader()
    return {
      read: (context) => {
        const registry = budgets.read(context)
        const policies = readPolicies(context)
        if (read === undefined || read.registry !== registry || read.policies !== policies) read = { registry, policies }
        return read
      },
      wrap: (inner, { policies, registry }: NonNullable<typeof read>) => {
        const budget = budgets.resolve(registry) as BudgetInternal
        const pipeline = retrying(
          inner,
          budget,
          policies,
          // (the kind read per attempt: a reload may change it in place, and this pipeline is not rebuilt for that)
          (retry) => budget.config.kind === "tokens" ? counting(budget, inner.attempt(retry)) : inner.attempt(retry)
        )
        // a call admitted deposits once into the budget, after the admission of the stages outside (a bulkhead's
        // or a rate limiter's refusal makes no request)
        const started = inner.started
        return {
          ...pipeline,
          started: started === undefined ? budget.depositUnsafe : (now) => {
            started(now)
            budget.depositUnsafe(now)
          }
        }
      }
    }
  }
}
