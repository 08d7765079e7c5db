/**
 * The one place the stages of `protect` are listed, innermost first, and composed: at run time, each stage wraps
 * the pipeline of the stages before it; at the type level, each stage's type lambda is applied to the types the
 * stages before it gave. A new strategy is its own module and one entry in {@link stages}.
 */
import { Cause, Clock, Context, Effect, Exit, Result } from "effect"
import * as ErrorLogger from "../../ErrorLogger.js"
import { protectModule } from "../logLines.js"
import { monotonicMillis } from "../breaker/store.js"
import { CurrentObserver, noObserver, type Observer, type Timings } from "../observation.js"
import { epoch } from "../reloadable.js"
import * as Breaker from "./breaker.js"
import * as Bulkhead from "./bulkhead.js"
import * as Chaos from "./chaos.js"
import * as Fallback from "./fallback.js"
import * as Hedge from "./hedge.js"
import * as RateLimit from "./rateLimit.js"
import * as Retry from "./retry.js"
import { electDefects, makeSite, Run } from "./run.js"
import type * as Stage from "./stage.js"
import * as Timeout from "./timeout.js"

/**
 * The stages, innermost first: `fallback(rateLimit(bulkhead(retry(hedge(breaker(timeout(chaos(call))))))))`,
 * where `chaos` wraps nothing unless a `Chaos` layer has rules for the operation. A
 * timed-out attempt counts against the breaker, a rejection never waits for a timeout, every retry and every
 * hedge goes through the breaker again (and has its own timeout); a hedged attempt is one attempt for the retry;
 * a call is admitted once, before its first attempt (a rate-limit permit, then a bulkhead place held until its
 * last retry ends), and a refused one makes no attempt at all; a fallback sees the run's last error (or its
 * refusal) once no retry follows.
 */
export const stages = [
  Chaos.stage,
  Timeout.stage,
  Breaker.stage,
  Hedge.stage,
  Retry.stage,
  Bulkhead.stage,
  RateLimit.stage,
  Fallback.stage
] as const

/** The type lambdas of the stages, in their order. */
export type Stages = Stage.TypesOfAll<typeof stages>

/** The options of `protect` the stages read, for a program failing with `E`. */
export type StageOptions<E> = Stage.OptionsOf<Stages, E>

/** The success type of a protected effect (distributes over a union of options). */
export type Success<A, O> = O extends unknown ? Stage.Fold<Stages, "Success", A, O> : never

/** The error type of a protected effect (distributes over a union of options). */
export type Error<E, O> = O extends unknown ? Stage.Fold<Stages, "Error", E, O> : never

/** The services of a protected effect (distributes over a union of options). */
export type Services<R, O> = O extends unknown ? Stage.Fold<Stages, "Services", R, O> : never

// Whether a consumer of the observer counts `Call` events (the metrics do, the tracker does not). An observer
// that does not say counts them.
const countsCalls = (observer: Observer): boolean =>
  observer.active && observer.calls !== false

/**
 * The protected effect: the stages the options ask for, wrapped around `self`. The pipeline is built once per
 * observer and values the stages read from the context (the breaker registry), not once per run.
 */
export const make = (
  self: Effect.Effect<unknown, unknown, unknown>,
  options: Stage.Options
): Effect.Effect<unknown, unknown, unknown> => {
  const site = makeSite(options.operation, ErrorLogger.make(options.module ?? protectModule))
  const wraps: Array<Stage.Wrap> = []
  // where the attempts are timed: around the stages inside the hedge and the retry (a timed-out attempt is a
  // failed one, a hedge that lost an interrupted one)
  let timedAt = 0
  for (const stage of stages) {
    if (stage.name === "hedge") timedAt = wraps.length
    const wrap = stage.make(options)
    if (wrap !== undefined) wraps.push(wrap)
  }
  // the call itself: its first failure ends the run, as the failure
  const call: Stage.Pipeline = {
    admit: (run) => run,
    attempt: () => self,
    recover: (error, at, run) => run.pipeline.giveUp(error, at, 1, run),
    giveUp: (error, at, attempts, run) => {
      run.failed(error, at, attempts, "none", true)
      return Effect.fail(error)
    }
  }

  const build = (observer: Observer, reads: ReadonlyArray<unknown>) => {
    const timings = observer.timings?.(options.operation)
    // `firstByCall`: the first attempt is timed with the call (one clock read fewer on the success path); a hedged
    // call times each of its attempts, as its primary's duration is not the call's
    const firstByCall = timings !== undefined && countsCalls(observer) && options.hedge === undefined
    let pipeline = call
    for (let i = 0; i < wraps.length; i++) {
      if (i === timedAt && timings !== undefined) pipeline = timedAttempts(pipeline, timings, firstByCall)
      pipeline = wraps[i]!.wrap(pipeline, reads[i])
    }
    const outer = pipeline
    const onFailure = (cause: Cause.Cause<unknown>, start?: number) =>
      Effect.withFiber((fiber) => {
        if (firstByCall && start !== undefined) {
          const millis = monotonicMillis(fiber.getRef(Clock.Clock)) - start
          timings!.attempt(Cause.hasInterruptsOnly(cause) ? "interrupted" : "failed", millis)
        }
        const found = Cause.findError(cause)
        if (Result.isFailure(found) || Cause.hasDies(cause)) {
          // a defect or an interruption: never retried, and a defect never recovered, even alongside a typed error
          if (observer.active && !Cause.hasInterruptsOnly(cause)) {
            observer.emit(site.calls.failed)
            if (timings !== undefined && start !== undefined) {
              const now = monotonicMillis(fiber.getRef(Clock.Clock))
              timings.call("failed", now - start, now)
            }
          }
          return Effect.failCause(electDefects(cause))
        }
        const run = new Run(site, outer, observer, fiber, start, timings)
        // interrupted while a retry or fallback runs, or the fallback failed: that failure's recovery failed
        return Effect.ensuring(outer.recover(found.success, run.now(), run), Effect.sync(() => run.settle("failed")))
      })
    // a refused call: no attempt was made; it gives up at once (the fallback, else the refusal)
    const reject = (error: unknown) =>
      Effect.withFiber((fiber) => {
        const run = new Run(site, outer, observer, fiber)
        run.call("rejected")
        // a fallback that fails, or is interrupted, resolves the refusal as failed
        return Effect.ensuring(outer.giveUp(error, run.now(), 0, run), Effect.sync(() => run.settle("failed")))
      })
    const started = outer.started
    // what the stages count as an admitted call starts (the budget's deposit), in a node of its own only when the
    // call is not timed (a timed call's node does it with the time it read)
    const attempt = outer.attempt(undefined)
    const first = started === undefined || (timings !== undefined && countsCalls(observer))
      ? attempt
      : Effect.withFiber((fiber) => {
        started(monotonicMillis(fiber.getRef(Clock.Clock)))
        return attempt
      })
    // Seeing the success costs a node of its own (about 30 ns here, as much as the error handler): only paid
    // when a consumer counts calls
    if (!countsCalls(observer)) return outer.admit(Effect.catchCause(first, (cause) => onFailure(cause)), reject)
    const succeeded = site.calls.succeeded
    if (timings !== undefined) {
      // the call's duration, from its admission: a start per call, so a node of its own
      return outer.admit(
        Effect.withFiber((fiber) => {
          const clock = fiber.getRef(Clock.Clock)
          const start = monotonicMillis(clock)
          if (started !== undefined) started(start)
          return Effect.matchCauseEffect(first, {
            onSuccess: (value) => {
              observer.emit(succeeded)
              const now = monotonicMillis(clock)
              const millis = now - start
              timings.call("succeeded", millis, now)
              if (firstByCall) timings.attempt("succeeded", millis)
              return Effect.succeed(value)
            },
            onFailure: (cause) => onFailure(cause, start)
          })
        }),
        reject
      )
    }
    return outer.admit(
      Effect.matchCauseEffect(first, {
        onSuccess: (value) => {
          observer.emit(succeeded)
          return Effect.succeed(value)
        },
        onFailure: (cause) => onFailure(cause)
      }),
      reject
    )
  }

  // the per-call-site cache: what was read from the context last, and the effect built for it; and the context
  // and epoch of the last call, which, when both are the same, make every read the same as then
  const readers: Array<number> = []
  for (let i = 0; i < wraps.length; i++) if (wraps[i]!.read !== undefined) readers.push(i)
  const reads: Array<unknown> = wraps.map(() => undefined)
  let cachedObserver: Observer | undefined
  let cached: Effect.Effect<unknown, unknown, unknown> | undefined
  let cachedContext: Context.Context<never> | undefined
  let cachedEpoch = -1
  return Effect.withFiber((fiber) => {
    if (fiber.context === cachedContext && epoch === cachedEpoch) return cached!
    const at = epoch
    // the reference's own lookup (`fiber.getRef`) costs more than a plain miss, on every call
    const observer = Context.getOrUndefined(fiber.context, CurrentObserver) ?? noObserver
    let stale = observer !== cachedObserver
    for (let r = 0; r < readers.length; r++) {
      const i = readers[r]!
      const value = wraps[i]!.read!(fiber.context)
      if (value !== reads[i]) {
        reads[i] = value
        stale = true
      }
    }
    if (stale || cached === undefined) {
      cachedObserver = observer
      cached = build(observer, reads)
    }
    cachedContext = fiber.context
    cachedEpoch = at
    return cached
  })
}

// the pipeline with its attempts timed (all, or the retries alone when the call times its first)
const timedAttempts = (inner: Stage.Pipeline, timings: Timings, firstByCall: boolean): Stage.Pipeline => ({
  ...inner,
  attempt: firstByCall
    ? (retry) => retry === undefined ? inner.attempt(retry) : timedAttempt(inner.attempt(retry), timings)
    : (retry) => timedAttempt(inner.attempt(retry), timings)
})

// one attempt of the call, timed: its outcome and duration handed to the site's timings however it ends
const timedAttempt = (
  self: Effect.Effect<unknown, unknown, unknown>,
  timings: Timings
): Effect.Effect<unknown, unknown, unknown> =>
  Effect.withFiber((fiber) => {
    const clock = fiber.getRef(Clock.Clock)
    const start = monotonicMillis(clock)
    return Effect.onExitPrimitive(self, (exit) => {
      const millis = monotonicMillis(clock) - start
      timings.attempt(
        Exit.isSuccess(exit) ? "succeeded" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed",
        millis
      )
      return undefined
    })
  })
