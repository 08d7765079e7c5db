/**
 * `protect`: the whole rule set for one operation in one call. Failures are looked up in the `PolicyService`,
 * logged at their policy's level, retried on their policy's schedule with per-attempt timeouts, recovered by a
 * fallback when retries run out, and otherwise returned as the original typed error.
 *
 * @since 0.1.0
 */
import type { Fiber } from "effect"
import { Cause, Clock, Context, Duration, Effect, Pull, Result } from "effect"
import { dual } from "effect/Function"
import * as Alerts from "./Alerts.js"
import { BreakerRegistry } from "./BreakerRegistry.js"
import type { BreakerOpenError, CircuitBreaker } from "./CircuitBreaker.js"
import { TimeoutError } from "./CommonErrors.js"
import * as ErrorFamily from "./ErrorFamily.js"
import * as ErrorLogger from "./ErrorLogger.js"
import type * as ErrorTracker from "./ErrorTracker.js"
import { logRetry, makeDispatcher, type RetryDecision } from "./internal/dispatch.js"
import { recorderFor } from "./internal/track.js"
import { PolicyService } from "./PolicyService.js"
import * as ResilienceMetrics from "./ResilienceMetrics.js"

/**
 * The tags of an error union.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Tags<E> = E extends { readonly _tag: infer T extends string } ? T : never

/**
 * Fallbacks keyed by error tag, like `Effect.catchTags`: each receives the error of its tag once that tag's
 * retries are exhausted, and its result replaces the failure. As with `Effect.catchTags`, none runs for a cause
 * that also holds a defect.
 *
 * @since 0.1.0
 * @category models
 */
export type RecoverHandlers<E> = {
  readonly [K in Tags<E>]?: (error: Extract<E, { readonly _tag: K }>) => Effect.Effect<unknown, unknown, unknown>
}

/**
 * Options of {@link protect}.
 *
 * - `operation` names the operation in logs and alerts.
 * - `timeout` limits every attempt. A retry after an error whose policy has its own `timeout` uses that one
 *   instead. Policy timeouts only apply to calls that set `timeout`, since only those declare `TimeoutError` in
 *   their error type. To set it conditionally write `timeout: cond ? "1 second" : undefined`: TypeScript reduces
 *   `cond ? { operation, timeout } : { operation }` to the type without `timeout`, which would hide the
 *   `TimeoutError`.
 * - `recover` holds fallbacks per error tag, run when that tag's retries are exhausted.
 * - `breaker` names the circuit breaker of `BreakerRegistry` every attempt goes through, or is `true` for the one
 *   the registry's `operations` option maps `operation` to (by default the breaker named after the operation);
 *   it adds `BreakerOpenError` to the error type and `BreakerRegistry` to the services.
 * - `module` is the module name on log lines (default `"effect-resilience/protect"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E> {
  readonly operation: string
  readonly timeout?: Duration.Input | undefined
  readonly recover?: RecoverHandlers<E | BreakerOpenError> | undefined
  readonly breaker?: string | true | undefined
  readonly module?: string | undefined
}

// The fallbacks that may run (for the success, error and service types they add).
type RecoverOf<O> = O extends { readonly recover?: infer H } ? NonNullable<H> : {}

// The fallbacks that surely exist: `recover` is required and not undefined, and so is the handler. Only their
// tags leave the error type; options whose `recover` may be absent keep every tag.
type SureRecoverOf<O> = O extends { readonly recover: infer H } ? (undefined extends H ? {} : H) : {}

type HandledTags<H> = { [K in keyof H]-?: undefined extends H[K] ? never : K }[keyof H]

// whether the options surely name no breaker
type NoBreaker<O> = "breaker" extends keyof O ? ([O["breaker"]] extends [undefined] ? true : false) : true

type HandlerResults<O> = {
  [K in keyof RecoverOf<O>]-?: NonNullable<RecoverOf<O>[K]> extends (...args: any) => infer R ? R : never
}[keyof RecoverOf<O>]

/**
 * The error type of a protected effect: the program's own errors (and `BreakerOpenError` when a `breaker` is
 * named), less the tags a fallback handles, plus the fallbacks' errors, plus `TimeoutError` when a `timeout` is
 * set.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ProtectedError<E, O> = O extends unknown ? // distributes over a union of options
    | Exclude<E | (NoBreaker<O> extends true ? never : BreakerOpenError), { readonly _tag: HandledTags<SureRecoverOf<O>> }>
    | Effect.Error<HandlerResults<O>>
    | ("timeout" extends keyof O ? ([O["timeout"]] extends [undefined] ? never : TimeoutError) : never)
  : never

/**
 * The success type of a protected effect: the program's, or a fallback's.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ProtectedSuccess<A, O> = A | Effect.Success<HandlerResults<O>>

/**
 * The services a protected effect needs: the program's, the fallbacks', `PolicyService`, and `BreakerRegistry`
 * when a `breaker` is named.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ProtectedServices<R, O> =
  | R
  | Effect.Services<HandlerResults<O>>
  | PolicyService
  | (O extends unknown ? (NoBreaker<O> extends true ? never : BreakerRegistry) : never)

// A cause with a defect ends the run as it is, except that its typed errors become defects too, as effect's own
// typed recovery does (`Effect.retry`, `Effect.catch`, `Effect.result`): the defect is never dropped, and no error
// whose tag `recover` handles, which the error type therefore no longer lists, is left in the typed channel.
const electDefects = (cause: Cause.Cause<unknown>): Cause.Cause<unknown> =>
  !Cause.hasDies(cause) || !Cause.hasFails(cause) ? cause : Cause.fromReasons(cause.reasons.map((reason) =>
    Cause.isFailReason(reason) && !Cause.isDone(reason.error)
      ? Cause.makeDieReason(reason.error).annotate(Cause.reasonAnnotations(reason))
      : reason
  ))

/**
 * Applies the whole rule set to one operation.
 *
 * **Details**
 *
 * On each typed failure, `protect` looks up the error's policy in the `PolicyService` and steps that policy's
 * schedule (each error type keeps its own attempt count and backoff), logs the failure at the policy's level
 * annotated with operation, error tag, code, severity and attempt, waits the schedule's delay and tries again.
 * When the failing type's schedule is done it gives up: an unrecoverable error first runs its policy's
 * `cleanup` and raises an alert on the `Alerts` hub (if one is provided); then the fallback for the tag runs
 * if there is one, or the effect fails with the original error. Business and unrecoverable errors are not
 * retried unless their policy says so. Defects and interruptions are never retried: interrupting during a
 * backoff stops the retries. A defect is never recovered or dropped either, even when the cause also holds a
 * typed error: the run ends with that cause, its typed errors turned into defects as `Effect.retry` does.
 *
 * With `breaker`, every attempt runs through that breaker of the `BreakerRegistry`: the order is fallback ( retry
 * ( breaker ( timeout ( call ) ) ) ), so a timed-out attempt counts against the breaker. A rejection
 * (`BreakerOpenError`) is not retried unless it has a policy of its own, so the run stops at the first rejection
 * instead of spending its remaining retries, and a `recover.BreakerOpenError` fallback can answer in its place.
 *
 * With an `ErrorTracker` and `ResilienceMetrics` in the context (both come with `ErrorLayer`), each failure is
 * recorded when it occurs, as `"pending"` when a retry or fallback follows and resolved to `"succeeded"` or
 * `"failed"` when that ends, and each call's outcome is counted for its `operation`.
 *
 * The success path costs one match node and one context lookup (the metrics service, to count the call): no
 * schedule is built and no policy is looked up until a call fails.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, ErrorLayer, protect } from "@effect-resilience/core"
 *
 * declare const loadProfile: (id: string) => Effect.Effect<{ readonly name: string }, CommonErrors.NetworkError>
 *
 * // Effect<{ readonly name: string }, CommonErrors.TimeoutError, PolicyService>
 * const profile = loadProfile("42").pipe(
 *   protect({
 *     operation: "profile.load",
 *     timeout: "2 seconds",
 *     recover: { NetworkError: () => Effect.succeed({ name: "anonymous" }) }
 *   })
 * )
 * const runnable = profile.pipe(Effect.provide(ErrorLayer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  <E, const O extends Options<E>>(
    options: O
  ): <A, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<ProtectedSuccess<A, O>, ProtectedError<E, O>, ProtectedServices<R, O>>
  <A, E, R, const O extends Options<E>>(
    self: Effect.Effect<A, E, R>,
    options: O
  ): Effect.Effect<ProtectedSuccess<A, O>, ProtectedError<E, O>, ProtectedServices<R, O>>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, options: Options<E>) => {
  const operation = options.operation
  const logger = ErrorLogger.make(options.module ?? "effect-resilience/protect")
  const recover = options.recover as Record<string, (error: unknown) => Effect.Effect<unknown, unknown, unknown>>
  const baseTimeout = options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout)

  // one attempt: the breaker (if named) around the timeout around the call, so a timeout counts against the
  // breaker and a rejection never waits for a timeout
  const attemptWith = (breaker: CircuitBreaker | undefined) => (timeout: Duration.Duration | undefined) => {
    const timed: Effect.Effect<A, unknown, R> = timeout === undefined ? self : Effect.timeoutOrElse(self, {
      duration: timeout,
      orElse: () => Effect.fail(new TimeoutError({ operation, timeoutMillis: Duration.toMillis(timeout) }))
    })
    return breaker === undefined ? timed : breaker.execute(timed)
  }

  // Everything after a failure. Each failure is recorded in the tracker when it occurs: as pending when a retry
  // or fallback follows, resolved when that ends, or as "none" when nothing follows.
  const onFailure = (
    cause: Cause.Cause<unknown>,
    fiber: Fiber.Fiber<unknown, unknown>,
    metrics: ResilienceMetrics.ResilienceMetricsShape | undefined,
    attempt: (timeout: Duration.Duration | undefined) => Effect.Effect<A, unknown, R>
  ): Effect.Effect<unknown, unknown, unknown> => {
    const clock = fiber.getRef(Clock.Clock)
    const found = Cause.findError(cause)
    if (Result.isFailure(found) || Cause.hasDies(cause)) {
      // a defect or an interruption on the first attempt: never retried, and a defect never recovered, even
      // alongside a typed error
      if (metrics !== undefined && !Cause.hasInterruptsOnly(cause)) metrics.recordCall(operation, "failed")
      return Effect.failCause(electDefects(cause))
    }
    const recorder = recorderFor(fiber, "protect", operation)
    // the failure whose retry or fallback is running: recorded as pending, resolved when that ends
    let pending: ErrorTracker.Occurrence | undefined
    const track = (error: unknown, at: number, attempt: number, recovery: "none" | "pending") => {
      const occurrence = recorder?.record(error, at, attempt, recovery)
      if (recovery === "pending") pending = occurrence
    }
    const settle = (outcome: "succeeded" | "failed") => {
      if (pending === undefined) return
      recorder!.tracker.resolve(pending, outcome)
      pending = undefined
    }

    const giveUp = (error: unknown, decision: RetryDecision, at: number) => {
      const { policy, total: attempts } = decision
      metrics?.recordCall(operation, attempts > 1 ? "failed_after_retry" : "failed")
      const tag = ErrorFamily.tagOf(error)
      const logged = logger.log(
        policy.logLevel,
        `${operation} failed on attempt ${attempts}, giving up`,
        error,
        { operation, attempt: attempts, withCause: true }
      )
      const unrecoverable = ErrorFamily.isClassified(error) && error.kind === "unrecoverable"
      const cleanup = !unrecoverable ? Effect.void : Effect.andThen(
        policy.cleanup === undefined ? Effect.void : Effect.catchCause(
          Effect.suspend(() => policy.cleanup!(error)),
          (cause) => Effect.logError(`cleanup after ${operation} failed`, cause)
        ),
        Alerts.raise(error, operation)
      )
      const handler = tag === undefined || recover === undefined || !Object.hasOwn(recover, tag)
        ? undefined
        : recover[tag]
      if (handler === undefined) {
        track(error, at, attempts, "none")
        return Effect.andThen(Effect.andThen(logged, cleanup), Effect.fail(error))
      }
      track(error, at, attempts, "pending")
      const fallback = Effect.tap(Effect.suspend(() => handler(error)), () => Effect.sync(() => settle("succeeded")))
      return Effect.andThen(Effect.andThen(logged, cleanup), fallback)
    }

    return PolicyService.use((service) => {
      const dispatch = makeDispatcher(service.policyFor)
      const loop = (error: unknown, at: number): Effect.Effect<unknown, unknown, unknown> =>
        Pull.matchEffect(dispatch(at, error), {
          onSuccess: ([decision, delay]) => {
            track(error, at, decision.total, "pending")
            const timeout = baseTimeout === undefined ? undefined : decision.policy.timeout ?? baseTimeout
            return logRetry(logger, error, decision, delay, operation).pipe(
              // a zero delay retries at once: `Effect.sleep` would yield to the scheduler, a round trip through
              // the event loop that costs more than the rest of the retry (effect's runloop yields on its own after
              // enough work, so a zero-delay loop cannot starve other fibers)
              Effect.andThen(Duration.isZero(delay) ? Effect.void : Effect.sleep(delay)),
              Effect.andThen(Effect.matchCauseEffect(attempt(timeout), {
                onSuccess: (value) => {
                  settle("succeeded")
                  metrics?.recordCall(operation, "succeeded_after_retry")
                  return Effect.succeed(value)
                },
                onFailure: (cause) => {
                  settle("failed")
                  const next = Cause.findError(cause)
                  if (Result.isSuccess(next) && !Cause.hasDies(cause)) {
                    return loop(next.success, clock.currentTimeMillisUnsafe())
                  }
                  if (metrics !== undefined && !Cause.hasInterruptsOnly(cause)) {
                    metrics.recordCall(operation, "failed_after_retry")
                  }
                  return Effect.failCause(electDefects(cause))
                }
              }))
            )
          },
          onFailure: Effect.failCause,
          onDone: (decision) => giveUp(error, decision, at)
        })
      // interrupted while a retry or fallback runs, or the fallback failed: that failure's recovery failed
      return Effect.ensuring(loop(found.success, clock.currentTimeMillisUnsafe()), Effect.sync(() => settle("failed")))
    })
  }

  const build = (
    metrics: ResilienceMetrics.ResilienceMetricsShape | undefined,
    breaker: CircuitBreaker | undefined
  ) => {
    const attempt = attemptWith(breaker)
    const first = attempt(baseTimeout)
    const failed = (cause: Cause.Cause<unknown>) =>
      Effect.withFiber((fiber) => onFailure(cause, fiber, metrics, attempt))
    // one node either way: counting the success costs no more than the error handler alone
    return metrics === undefined ? Effect.catchCause(first, failed) : Effect.matchCauseEffect(first, {
      onSuccess: (value) => {
        metrics.recordCall(operation, "succeeded")
        return Effect.succeed(value)
      },
      onFailure: failed
    })
  }

  // the protected effect is built once per metrics service and breaker registry seen, not once per run
  const breakerName = options.breaker
  let cachedFor: ResilienceMetrics.ResilienceMetricsShape | undefined | null = null
  let cachedRegistry: BreakerRegistry["Service"] | undefined
  let cached: Effect.Effect<unknown, unknown, unknown> = self
  return Effect.withFiber((fiber) => {
    const metrics = Context.getOrUndefined(fiber.context, ResilienceMetrics.ResilienceMetrics)
    const registry = breakerName === undefined ? undefined : Context.getUnsafe(fiber.context, BreakerRegistry)
    if (metrics !== cachedFor || registry !== cachedRegistry) {
      cachedFor = metrics
      cachedRegistry = registry
      cached = build(
        metrics,
        registry === undefined
          ? undefined
          : breakerName === true
          ? registry.forOperation(operation)
          : registry.breaker(breakerName!)
      )
    }
    return cached
  })
}) as any
