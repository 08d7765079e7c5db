/**
 * The retry stage: on a typed failure, the error's policy from the `PolicyService` decides (each error type keeps
 * its own attempt count and backoff for the run); a retried failure is emitted as pending and logged, the run
 * waits the policy's delay and reruns the attempt the stages inside built. When the failing type's policy is done
 * the run gives up: the call's outcome is emitted, the give-up line logged, an unrecoverable error's cleanup run,
 * and the outermost pipeline's `giveUp` (the fallback, else the failure) ends the run.
 */
import { Cause, Duration, Effect, Pull, Result } from "effect"
import * as ErrorFamily from "../../ErrorFamily.js"
import { PolicyService } from "../../PolicyService.js"
import { logCleanupFailed, logGiveUp, logRetry } from "../logLines.js"
import { makePolicyRun, type RetryDecision } from "../policyRun.js"
import { electDefects, type Run } from "./run.js"
import type * as Stage from "./stage.js"

/** The stage's types: it adds the `PolicyService` it reads the policies from. */
export interface Types extends Stage.Types {
  readonly Options: {}
  readonly Success: this["In"]
  readonly Error: this["In"]
  readonly Services: this["In"] | PolicyService
}

const isUnrecoverable = (error: unknown): boolean => ErrorFamily.isClassified(error) && error.kind === "unrecoverable"

/** Everything after the give-up's own line: an unrecoverable error's cleanup, then the outermost `giveUp`. */
const giveUp = (error: unknown, decision: RetryDecision, at: number, run: Run) => {
  const { operation, logger } = run.site
  const { policy, total } = decision
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

/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "retry",
  make: () => ({
    wrap: (inner) => ({
      ...inner,
      recover: (first, firstAt, run) =>
        PolicyService.use((service) => {
          const { operation, logger } = run.site
          const step = makePolicyRun(service.policyFor)
          const loop = (error: unknown, at: number): Effect.Effect<unknown, unknown, unknown> =>
            Pull.matchEffect(step(at, error), {
              onSuccess: ([decision, delay]) => {
                run.failed(error, at, decision.total, "pending", false)
                return logRetry(logger, error, decision, delay, operation).pipe(
                  // a zero delay retries at once: `Effect.sleep` would yield to the scheduler, a round trip through
                  // the event loop that costs more than the rest of the retry (effect's runloop yields on its own
                  // after enough work, so a zero-delay loop cannot starve other fibers)
                  Effect.andThen(Duration.isZero(delay) ? Effect.void : Effect.sleep(delay)),
                  Effect.andThen(Effect.matchCauseEffect(inner.attempt(decision), {
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
  })
}
