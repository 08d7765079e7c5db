/**
 * A rate limiter: at most `limit` permits per `window`, per key (a tenant, a client, a route), waiting up to a
 * bound for a permit or refusing at once with a typed {@link RateLimitedError} that says when to come back (the
 * HTTP edge answers it with 429 and `Retry-After`).
 *
 * Algorithms (`algorithm`):
 *
 * - `"token-bucket"` (default): a bucket of `limit` tokens refilled continuously at `limit` per `window`, so a
 *   burst of up to `limit` is allowed after a quiet spell. A call that may wait reserves its tokens at once and
 *   waits them out: waiting calls are served in the order they asked (see the gotcha on giving up).
 * - `"sliding-window"`: at most `limit` over any `window`, estimated from two counts per key (the current window
 *   and the previous one, weighted by how much of it the sliding window still covers): no burst at the window's
 *   edge, at the cost of assuming the previous window's calls were spread evenly.
 * - `"fixed-window"`: at most `limit` per calendar window (windows start at multiples of `window` since the
 *   epoch): the cheapest; twice `limit` can pass around a window's edge.
 *
 * **Details**
 *
 * The local limiter decides synchronously on the fiber's `Clock` (so `TestClock` drives it): no transaction, no
 * allocation on a call that is let through. A limiter keeps at most `keys` keys: past that it forgets the keys
 * whose state is the same as a fresh one, and if none is, the oldest tenth (those start afresh).
 *
 * With a shared store (`RedisBreakerStore`, provided to `ErrorLayer` or `RateLimiterRegistry`) a registry's
 * limiters share one limit across the fleet (see `RateLimiterRegistry`).
 *
 * **Gotchas**
 *
 * - Only the token bucket reserves: with a window algorithm a waiting call tries again when the window says the
 *   permits will be there, so waiting calls are not served in order.
 * - Asking for more permits than `limit` at once is always refused at once, whatever the `wait` (`retryAfter` is
 *   then one window); asking for fewer than 1, or a fraction, is a defect (a `RangeError`).
 * - A token-bucket waiter that gives up hands its tokens back only when it was the last to reserve: the calls
 *   behind it were timed with its tokens taken, and tokens handed back behind them would let a newcomer start
 *   alongside the next one (a burst over the limit). Until the bucket is full again that costs at most the
 *   tokens of the callers who gave up.
 *
 * @since 0.3.0
 */
import { Duration, Effect, Schema } from "effect"
import { dual } from "effect/Function"
import type * as ConfigError from "./ConfigError.js"
import * as ErrorFamily from "./ErrorFamily.js"
import { localDecider, makeLimiter } from "./internal/rateLimit/limiter.js"
import * as LimiterOptions from "./internal/rateLimit/options.js"

/**
 * A named rate limiter.
 *
 * - `acquire(key?, permits?)` takes permits for a key (default key `""`, one permit), waiting up to `wait`; it
 *   succeeds with a {@link Permit} (what the `RateLimit` response headers say) or fails with
 *   {@link RateLimitedError}.
 * - `execute(effect, key?)` runs an effect once it has a permit.
 * - `remaining(key?)` reads what is left for a key without taking anything; `state` the limiter's figures.
 *
 * @since 0.3.0
 * @category models
 */
export interface RateLimiter {
  readonly name: string
  readonly acquire: (key?: string, permits?: number) => Effect.Effect<Permit, RateLimitedError>
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>, key?: string) => Effect.Effect<A, E | RateLimitedError, R>
  readonly remaining: (key?: string) => Effect.Effect<{ readonly remaining: number; readonly resetAfterMillis: number }>
  readonly state: Effect.Effect<State>
}

/**
 * A permit taken: the limit, the permits left for the key, the milliseconds until the key is back to its full
 * limit, and how long the call waited for it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Permit {
  readonly limit: number
  readonly remaining: number
  readonly resetAfterMillis: number
  readonly waitedMillis: number
}

/**
 * Builds a standalone local limiter (`RateLimiterRegistry` gives named limiters shared by a whole program, and
 * across a fleet with a shared store). Invalid options fail with a `ConfigError` whose paths start at `options`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@effect-resilience/core"
 *
 * declare const sendSms: (to: string) => Effect.Effect<void>
 *
 * const program = Effect.gen(function*() {
 *   // 5 messages per minute per recipient, a burst of 5 allowed
 *   const limiter = yield* RateLimiter.make("sms", { limit: 5, window: "1 minute" })
 *   // Effect<void, RateLimitedError>
 *   yield* limiter.execute(sendSms("+15550100"), "+15550100")
 * })
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (name: string, options: Options): Effect.Effect<RateLimiter, ConfigError.ConfigError> =>
  Effect.map(validate(options), (config) => makeLimiter(name, config, localDecider(config, config.keys)))

/**
 * Runs an effect once a limiter gives it a permit for `key`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make("exports", { limit: 10, window: "1 hour", algorithm: "sliding-window" })
 *   return yield* Effect.succeed("export").pipe(RateLimiter.execute(limiter, "tenant-7"))
 * })
 * ```
 *
 * @since 0.3.0
 * @category combinators
 */
export const execute: {
  (limiter: RateLimiter, key?: string): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RateLimitedError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter, key?: string): Effect.Effect<A, E | RateLimitedError, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter, key?: string) => limiter.execute(self, key)
)

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * A call a limiter refused: the limiter, the key, the limit and window, and the milliseconds until a permit would
 * be there (`retryAfterMillis`). Recoverable, never retried unless it has a policy of its own. Refusals of one key
 * with the same `retryAfter` share one value, built without a stack trace: compare them by their fields.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@effect-resilience/core"
 *
 * declare const limited: Effect.Effect<string, RateLimiter.RateLimitedError>
 *
 * const answered = limited.pipe(
 *   Effect.catchTag("RateLimitedError", (e) => Effect.succeed(`slow down: ${e.retryAfterMillis} ms`))
 * )
 * ```
 *
 * @since 0.3.0
 * @category errors
 */
export class RateLimitedError extends ErrorFamily.TaggedError<RateLimitedError>()("RateLimitedError", {
  limiter: Schema.String,
  key: Schema.String,
  limit: Schema.Number,
  windowMillis: Schema.Number,
  retryAfterMillis: Schema.Number
}, {
  code: "resilience.E0010",
  kind: "recoverable",
  severity: "low",
  publicMessage: "Too many requests. Please try again later."
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
 * A limiter's figures: its rules, where its permits come from (`local`; with a shared store `shared`, or
 * `degraded` while the store is unreachable and it decides alone on its share of the limit), the keys it holds,
 * and the calls it let through, refused, and made wait.
 *
 * @since 0.3.0
 * @category schemas
 */
export const State = Schema.Struct({
  name: Schema.String,
  algorithm: Schema.Literals(["token-bucket", "sliding-window", "fixed-window"]),
  limit: Schema.Number,
  windowMillis: Schema.Number,
  mode: Schema.Literals(["local", "shared", "degraded"]),
  keys: Schema.Number,
  granted: Schema.Number,
  rejected: Schema.Number,
  waited: Schema.Number
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
 * Options of a limiter.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `limit` | permits per window (token bucket: its size, refilled at `limit` per `window`) | required |
 * | `window` | the window (at least 1 millisecond) | required |
 * | `algorithm` | `"token-bucket"`, `"sliding-window"` or `"fixed-window"` | `"token-bucket"` |
 * | `wait` | the longest a call waits for a permit (`0`: refuse at once) | `0` |
 * | `keys` | keys kept at most | `10000` |
 * | `share` | with a shared store: `"any"` (one limit for the fleet), `"off"` (this limiter stays local), or `{ replicas, lease }`: the replicas whose share of the limit each takes while the store is unreachable (default: the replicas seen on Redis in the last minute) and the permits leased from Redis at a time | `"any"` |
 *
 * An unknown key is refused, with the nearest option name.
 *
 * **Example**
 *
 * ```ts
 * import type { RateLimiter } from "@effect-resilience/core"
 *
 * const perTenant: RateLimiter.Options = { limit: 100, window: "1 second", wait: "200 millis" }
 * const exports: RateLimiter.Options = { algorithm: "sliding-window", limit: 10, window: "1 hour" }
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly limit: number
  readonly window: Duration.Input
  readonly algorithm?: "token-bucket" | "sliding-window" | "fixed-window" | undefined
  readonly wait?: Duration.Input | undefined
  readonly keys?: number | undefined
  readonly share?: "any" | "off" | { readonly replicas?: number | undefined; readonly lease?: number | undefined } | undefined
}

/**
 * A limiter's options, validated, with the defaults applied (durations in milliseconds).
 *
 * @since 0.3.0
 * @category models
 */
export interface Config {
  readonly algorithm: "token-bucket" | "sliding-window" | "fixed-window"
  readonly limit: number
  readonly windowMillis: number
  readonly waitMillis: number
  readonly keys: number
  readonly share:
    | { readonly _tag: "off" }
    | { readonly _tag: "any"; readonly replicas?: number | undefined; readonly lease?: number | undefined }
}

/**
 * Checks options and applies the defaults: every problem at once in a `ConfigError`, paths from the options.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "@effect-resilience/core"
 *
 * // fails with "Invalid options: limit: Expected an integer of at least 1, got 0"
 * const invalid = RateLimiter.validate({ limit: 0, window: "1 second" }).pipe(Effect.flip)
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const validate = (options: Options): Effect.Effect<Config, ConfigError.ConfigError> =>
  LimiterOptions.decode(options)
