/**
 * A bulkhead: a limit on how many calls run at once, with a bounded queue for the calls that find it full. It
 * keeps one slow dependency from taking every fiber, connection and byte of memory a service has, and sheds load
 * with a typed error the caller (or the HTTP edge: 503 with `Retry-After`) can answer at once.
 *
 * - A call runs at once when a place is free and nobody is queued; it gives its place back however it ends.
 * - Otherwise it queues, if the queue (`queue`) has room, for at most `queueTimeout`; in `"fifo"` order the
 *   oldest waiter goes first and a full queue rejects the newcomer; in `"lifo"` order the newest goes first and a
 *   full queue evicts its oldest waiter (under overload the newest callers are the ones still waiting for an
 *   answer).
 * - A call that gets no place fails with a {@link BulkheadFullError}: `reason` `"full"`, `"queue_timeout"` or
 *   `"evicted"`, the bulkhead's figures at that moment, and a `retryAfter` hint.
 * - `limit` is a number, or an adaptive limit ({@link AdaptiveLimit}: AIMD, Gradient2, Vegas) that the bulkhead
 *   sets after every call from its latency and whether it was a drop (a timeout, an overload error); a larger
 *   limit admits waiters at once, a smaller one lets the calls in flight finish.
 *
 * **Details**
 *
 * Interruption is cancellation, and it never leaks a place: a waiter that is interrupted (or times out) leaves
 * the queue, and a place handed to a waiter in the instant it gave up is passed to the next one. A freed place
 * goes straight to the next waiter, counted in flight before that waiter runs again, so no newcomer can take it
 * in between (the microtask gap of cockatiel's bulkhead), and the count of calls in flight never exceeds the limit.
 * The path of a call that finds a free place is synchronous: no transaction, no allocation but the call's own.
 *
 * **Gotchas**
 *
 * - Through `protect` the bulkhead is outside the retry: a call holds its place across its retries and their
 *   backoff, so retries never add concurrent calls; an adaptive limit then samples the whole call's latency,
 *   retries included. Put `Bulkhead.execute` around the dependency call itself (inside the effect given to
 *   `protect`) to sample each attempt.
 * - `retryAfter` is a hint (the `retryAfter` option, 1 second by default), not a promise of a place.
 * - An adaptive limit learns from what the call inside it ends with: put the call's timeout inside the bulkhead
 *   (as `protect`'s `timeout` is), so that a timeout is a drop. A timeout around the bulkhead interrupts the call,
 *   and an interruption is no sample.
 *
 * @since 0.3.0
 */
import { Duration, Effect, Schema } from "effect"
import { dual } from "effect/Function"
import type * as AdaptiveLimit from "./AdaptiveLimit.js"
import type * as ConfigError from "./ConfigError.js"
import * as ErrorFamily from "./ErrorFamily.js"
import { makeBulkhead } from "./internal/bulkhead/bulkhead.js"
import * as BulkheadOptions from "./internal/bulkhead/options.js"

/**
 * A named bulkhead.
 *
 * - `execute(effect)` runs an effect in a place of the bulkhead, adding {@link BulkheadFullError} to its error type.
 * - `state` reads its current {@link State}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Bulkhead {
  readonly name: string
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFullError, R>
  readonly state: Effect.Effect<State>
}

/**
 * Builds a standalone bulkhead (`BulkheadRegistry` gives named bulkheads shared by a whole program). Invalid
 * options fail with a `ConfigError` whose paths start at `options`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead, CommonErrors } from "@effect-resilience/core"
 *
 * declare const search: Effect.Effect<ReadonlyArray<string>, CommonErrors.NetworkError>
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make("search", { limit: 10, queue: 20, queueTimeout: "200 millis" })
 *   // Effect<ReadonlyArray<string>, NetworkError | BulkheadFullError>
 *   return yield* bulkhead.execute(search)
 * })
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (name: string, options: Options = {}): Effect.Effect<Bulkhead, ConfigError.ConfigError> =>
  Effect.map(validate(options), (config) => makeBulkhead(name, config))

/**
 * Runs an effect in a place of a bulkhead.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make("reports", { limit: 2 })
 *   return yield* Effect.succeed("report").pipe(Bulkhead.execute(bulkhead))
 * })
 * ```
 *
 * @since 0.3.0
 * @category combinators
 */
export const execute: {
  (bulkhead: Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFullError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadFullError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadFullError, R> =>
    bulkhead.execute(self)
)

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Why a call got no place: the bulkhead and its queue were full (`full`), it waited `queueTimeout` in the queue
 * (`queue_timeout`), or a newer waiter took its place in a full LIFO queue (`evicted`).
 *
 * @since 0.3.0
 * @category schemas
 */
export const RejectionReason = Schema.Literals(["full", "queue_timeout", "evicted"])

/**
 * @since 0.3.0
 * @category models
 */
export type RejectionReason = typeof RejectionReason.Type

/**
 * A call the bulkhead did not run: `reason`, the bulkhead's figures when it was refused (`limit`, `inFlight`,
 * `queued`) and a `retryAfterMillis` hint. Recoverable, never retried unless it has a policy of its own. Calls
 * refused with the same figures share one value, built without a stack trace: compare them by their fields.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "@effect-resilience/core"
 *
 * declare const guarded: Effect.Effect<string, Bulkhead.BulkheadFullError>
 *
 * const answered = guarded.pipe(
 *   Effect.catchTag("BulkheadFullError", (e) => Effect.succeed(`busy, retry in ${e.retryAfterMillis} ms`))
 * )
 * ```
 *
 * @since 0.3.0
 * @category errors
 */
export class BulkheadFullError extends ErrorFamily.TaggedError<BulkheadFullError>()("BulkheadFullError", {
  bulkhead: Schema.String,
  reason: RejectionReason,
  limit: Schema.Number,
  inFlight: Schema.Number,
  queued: Schema.Number,
  retryAfterMillis: Schema.Number
}, {
  code: "resilience.E0009",
  kind: "recoverable",
  severity: "medium",
  publicMessage: "The service is busy. Please try again later."
}) {
  /**
   * `retryAfterMillis` as a `Duration`.
   *
   * @since 0.3.0
   */
  get retryAfter(): Duration.Duration {
    return Duration.millis(this.retryAfterMillis)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// state
// ---------------------------------------------------------------------------------------------------------------

/**
 * A bulkhead at one instant: its limit now, the calls in flight and queued, its queue's capacity and order, the
 * calls it admitted and those it refused by reason; with an adaptive limit, its algorithm and figures
 * (`minRttMillis`: Vegas's no-load latency, Gradient2's long-term average latency, in milliseconds; `gradient`:
 * Gradient2's last gradient).
 *
 * @since 0.3.0
 * @category schemas
 */
export const State = Schema.Struct({
  name: Schema.String,
  limit: Schema.Number,
  inFlight: Schema.Number,
  queued: Schema.Number,
  queue: Schema.Number,
  order: Schema.Literals(["fifo", "lifo"]),
  admitted: Schema.Number,
  rejected: Schema.Struct({ full: Schema.Number, queue_timeout: Schema.Number, evicted: Schema.Number }),
  adaptive: Schema.optional(Schema.Struct({
    algorithm: Schema.Literals(["Aimd", "Gradient2", "Vegas"]),
    minRttMillis: Schema.optional(Schema.Number),
    gradient: Schema.optional(Schema.Number)
  }))
})

/**
 * @since 0.3.0
 * @category models
 */
export type State = typeof State.Type

// ---------------------------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of a bulkhead.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `limit` | calls at once: an integer of at least 1, or an {@link AdaptiveLimit} | `25` |
 * | `queue` | calls that may wait for a place (`0`: refuse at once) | `0` |
 * | `queueTimeout` | the longest a call waits in the queue | none: until a place frees or the call is interrupted |
 * | `order` | `"fifo"` (oldest waiter first; a full queue refuses newcomers) or `"lifo"` (newest first; a full queue evicts its oldest waiter) | `"fifo"` |
 * | `retryAfter` | the `retryAfter` hint of a refusal | `1 second` |
 * | `drops` | for an adaptive limit: the failures that count as drops, a predicate or a list of error tags | `TimeoutError`, `UnavailableError`, `BulkheadFullError`, `RateLimitedError`, `BreakerOpenError` |
 *
 * An unknown key (a misspelt `queueTimout`) is refused, with the nearest option name.
 *
 * **Example**
 *
 * ```ts
 * import { AdaptiveLimit, type Bulkhead } from "@effect-resilience/core"
 *
 * const fixed: Bulkhead.Options = { limit: 10, queue: 50, queueTimeout: "1 second", order: "lifo" }
 * const adaptive: Bulkhead.Options = { limit: AdaptiveLimit.gradient2({ min: 5, max: 100 }) }
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly limit?: number | AdaptiveLimit.AdaptiveLimit | undefined
  readonly queue?: number | undefined
  readonly queueTimeout?: Duration.Input | undefined
  readonly order?: "fifo" | "lifo" | undefined
  readonly retryAfter?: Duration.Input | undefined
  readonly drops?: ReadonlyArray<string> | ((error: unknown) => boolean) | undefined
}

/**
 * A bulkhead's options, validated, with the defaults applied.
 *
 * @since 0.3.0
 * @category models
 */
export interface Config {
  readonly limit: number | AdaptiveLimit.AdaptiveLimit
  readonly queue: number
  readonly queueTimeoutMillis: number | undefined
  readonly order: "fifo" | "lifo"
  readonly retryAfterMillis: number
  readonly drops: (error: unknown) => boolean
}

/**
 * Checks options and applies the defaults: every problem at once in a `ConfigError`, paths from the options.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "@effect-resilience/core"
 *
 * // fails with "Invalid options: queue: Expected an integer of at least 0, got -1"
 * const invalid = Bulkhead.validate({ queue: -1 }).pipe(Effect.flip)
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<Config, ConfigError.ConfigError> =>
  BulkheadOptions.decode(options)
