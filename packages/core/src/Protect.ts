/**
 * `protect`: the whole rule set for one operation in one call. Failures are looked up in the `PolicyService`,
 * logged at their policy's level, retried on their policy's schedule with per-attempt timeouts, recovered by a
 * fallback when retries run out, and otherwise returned as the original typed error.
 *
 * **Details**
 *
 * `protect` is a pipeline of stages, each wrapped around the ones inside it, in one fixed order:
 *
 * ```text
 * fallback ( rateLimit ( bulkhead ( retry ( hedge ( breaker ( timeout ( call ) ) ) ) ) ) )
 * ```
 *
 * - `timeout` bounds each attempt (`timeout`, or the timeout of the policy of the error being retried).
 * - `breaker` runs each attempt through a breaker of the `BreakerRegistry` (`breaker`).
 * - `hedge` starts another attempt beside one still running after a delay (`hedge`, idempotent operations only);
 *   the first success wins, the others are interrupted and awaited.
 * - `retry` steps the policy of each failure and reruns the attempt; when the policy is done, it gives up. With a
 *   `budget`, each retry (and each hedge) is paid from a retry budget of the `RetryBudgetRegistry`, and one the
 *   budget refuses is not made. A retry-after hint on the error (`Pushback`) lengthens the backoff.
 * - `bulkhead` runs the whole call in a place of a bulkhead of the `BulkheadRegistry` (`bulkhead`), held across
 *   its retries.
 * - `rateLimit` takes one permit of a limiter of the `RateLimiterRegistry` per call (`rateLimit`), before
 *   anything else.
 * - `fallback` answers the error the run gave up on, or the refusal of the bulkhead or the limiter (`recover`).
 *
 * Why this order (Polly's standard pipeline puts its rate and concurrency limiters outermost; resilience4j puts
 * its bulkhead innermost and then counts `BulkheadFullException` as a breaker failure unless told otherwise):
 * admission is decided once per call, before any attempt. A refused call makes no attempt, so it spends no retry
 * and never reaches the breaker (an overloaded caller does not open the breaker of a healthy dependency); a call
 * admitted keeps its place through its retries, so retries never add concurrent calls beyond the bulkhead's
 * limit; and the rate limit counts calls, not attempts. The refusal reaches the fallback, recorded by the tracker
 * and counted as a `rejected` call.
 *
 * A stage the options do not ask for is not there at all, and the error-channel type says exactly what the
 * stages asked for add and remove.
 *
 * **Gotchas**
 *
 * - A timed-out attempt counts against the breaker (the timeout is inside it), and every retry goes through the
 *   breaker again.
 * - A rejection (`BreakerOpenError`) is not retried unless it has a policy of its own: the run stops at the first
 *   rejection instead of spending its retries, and a `recover.BreakerOpenError` fallback can answer instead.
 * - This differs from effect's own breaker guidance (`effect/persistence/CircuitBreaker`: put `Effect.retry` and
 *   `Effect.timeout` inside it, one outcome per call): here the breaker sees each attempt, so a call retried
 *   three times is three outcomes.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { dual } from "effect/Function"
import * as Pipeline from "./internal/protect/pipeline.js"
import type * as Stage from "./internal/protect/stage.js"

/**
 * Applies the whole rule set to one operation.
 *
 * **Details**
 *
 * On each typed failure, `protect` looks up the error's policy in the `PolicyService` and steps that policy's
 * schedule (each error type keeps its own attempt count and backoff), logs the failure at the policy's level
 * annotated with operation, error tag, code, severity and attempt, waits the schedule's delay and tries again.
 * When the failing type's schedule is done it gives up: an unrecoverable error first runs its policy's
 * `cleanup`; then the fallback for the tag runs if there is one, or the effect fails with the original error.
 * Business and unrecoverable errors are not retried unless their policy says so. Defects and interruptions are
 * never retried: interrupting during a backoff stops the retries. A defect is never recovered or dropped either,
 * even when the cause also holds a typed error: the run ends with that cause, its typed errors turned into
 * defects as `Effect.retry` does. The stages and their order are in the module's documentation.
 *
 * With `ErrorLayer` (or an `ErrorTracker` layer) in the context, each failure is recorded when it occurs, as
 * `"pending"` when a retry or fallback follows and resolved to `"succeeded"` or `"failed"` when that ends; the
 * failure that ends the run is marked `gaveUp`. With `ErrorLayer` (or a `ResilienceMetrics` layer) each call's
 * outcome is counted for its `operation` too. To page on
 * an unrecoverable error ending an operation, subscribe to the tracker with
 * `{ kinds: ["unrecoverable"], gaveUp: true }`.
 *
 * The success path costs one match node and one context lookup per context value a stage reads: no schedule is
 * built and no policy is looked up until a call fails.
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
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, options: Options<E>) =>
    Pipeline.make(self as Effect.Effect<unknown, unknown, unknown>, options as Stage.Options)
) as any

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
 * Options of {@link protect}: `operation` and `module`, and the options of each stage.
 *
 * - `operation` names the operation in logs and in what the tracker and the metrics record.
 * - `timeout` limits every attempt. A retry after an error whose policy has its own `timeout` uses that one
 *   instead. Policy timeouts only apply to calls that set `timeout`, since only those declare `TimeoutError` in
 *   their error type. To set it conditionally write `timeout: cond ? "1 second" : undefined`: TypeScript reduces
 *   `cond ? { operation, timeout } : { operation }` to the type without `timeout`, which would hide the
 *   `TimeoutError`.
 * - `recover` holds fallbacks per error tag, run when that tag's retries are exhausted.
 * - `breaker` names the circuit breaker of `BreakerRegistry` every attempt goes through, or is `true` for the one
 *   the registry's `operations` option maps `operation` to (by default the breaker named after the operation);
 *   it adds `BreakerOpenError` to the error type and `BreakerRegistry` to the services.
 * - `bulkhead` names the bulkhead of `BulkheadRegistry` the call runs in, or is `true` for the one the
 *   registry's `operations` option maps `operation` to (by default the one named after the operation); it adds
 *   `BulkheadFullError` to the error type and `BulkheadRegistry` to the services.
 * - `rateLimit` names the limiter of `RateLimiterRegistry` the call takes a permit of (key `""`), or is
 *   `{ limiter, key }`; it adds `RateLimitedError` to the error type and `RateLimiterRegistry` to the services.
 * - `budget` names the retry budget of `RetryBudgetRegistry` the call deposits into and its retries and hedges
 *   withdraw from, or is `true` for the one the registry's `operations` option maps `operation` to; it adds
 *   `RetryBudgetRegistry` to the services and nothing to the error type (a refused retry ends with the error).
 * - `hedge` is `{ idempotent: true, delay, maxHedges?, minDelay?, maxDelay?, minSamples? }`: `delay` a duration or a
 *   percentile of the recent primary attempts' durations (`"p95"`). `idempotent: true` is required: hedging runs
 *   the operation more than once. Invalid hedge options make the protected effect die with a `ConfigError`
 *   naming each field (`hedge.maxHedges`).
 * - `module` is the module name on log lines (default `"effect-resilience/protect"`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import type { CommonErrors, Protect } from "@effect-resilience/core"
 *
 * const options: Protect.Options<CommonErrors.NetworkError> = {
 *   operation: "profile.load",
 *   timeout: "2 seconds",
 *   breaker: "profiles",
 *   recover: { NetworkError: () => Effect.succeed({ name: "anonymous" }) }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Options<E> =
  & {
    readonly operation: string
    readonly module?: string | undefined
  }
  & Pipeline.StageOptions<E>

/**
 * The error type of a protected effect: the program's own errors, plus `TimeoutError` when a `timeout` is set,
 * plus `BreakerOpenError` when a `breaker` is named, `BulkheadFullError` when a `bulkhead` is, `RateLimitedError`
 * when a `rateLimit` is, less the tags a fallback surely handles, plus the fallbacks' errors. Each stage's contribution is applied in the pipeline's order.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ProtectedError<E, O> = Pipeline.Error<E, O>

/**
 * The success type of a protected effect: the program's, or a fallback's.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ProtectedSuccess<A, O> = Pipeline.Success<A, O>

/**
 * The services a protected effect needs: the program's, the fallbacks', `PolicyService`, and `BreakerRegistry`,
 * `BulkheadRegistry`, `RateLimiterRegistry` or `RetryBudgetRegistry` when a `breaker`, `bulkhead`, `rateLimit` or
 * `budget` is named.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ProtectedServices<R, O> = Pipeline.Services<R, O>
