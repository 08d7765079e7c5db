/**
 * A circuit breaker: fails fast while a dependency is unhealthy, and lets a few probe calls through to see whether
 * it has recovered.
 *
 * - **closed**: calls run; their outcomes feed the {@link TripRule}s, and the first rule that trips opens it.
 * - **open**: calls are rejected at once with a {@link BreakerOpenError} carrying `retryAfter`, for a duration
 *   taken from the `openDuration` schedule, stepped once per consecutive opening (so it can grow, capped).
 * - **half_open**: the first call after the open duration is a probe, and up to `halfOpenProbes` probes run at
 *   once; other calls are rejected. `closeAfter` successful probes close it; a failed probe opens it again.
 * - Manual states: **forced_open** (isolated: every call rejected), **forced_closed** (every call runs, nothing
 *   trips) and **disabled** (every call runs and is recorded; trips are only counted, as `wouldOpen`). `reset`
 *   returns to closed with fresh counts.
 *
 * **Details**
 *
 * The state machine is plain data changed by pure transitions, held by a store (in memory, on a `TxRef`): every
 * transition is a compare-and-set on the breaker's `generation`, so each happens once however many fibers race for
 * it. The per-call path runs no transaction: it reads the committed state and updates the trip counts (kept by the
 * breaker, not the store) in one synchronous step, which no other fiber can interleave with.
 *
 * **Gotchas**
 *
 * - Through `protect` the order of the stages is fixed: `fallback(rateLimit(bulkhead(retry(hedge(breaker(timeout(call)))))))`. Each attempt is
 *   one call of the breaker, and a policy's timeout fails it (counted); a timeout or race put *around* the breaker
 *   interrupts the call instead, which counts as `ignored`, never as a failure.
 * - Consecutive openings carry on (and keep their longer open durations) when the breaker closed less time ago than
 *   it was last open: a dependency that flaps is not retried at the first duration each time.
 * - Calls rejected in the same millisecond with the same status share one {@link BreakerOpenError} value (built
 *   without a stack trace): compare rejections by their fields, not by identity.
 * - An isolated breaker's `retryAfter` is only a hint (the first open duration): it rejects every call until it is
 *   set otherwise by hand.
 * - A breaker's state, counts and trip windows belong to the process that built it.
 *
 * @since 0.1.0
 */
import type { Schedule, Scope } from "effect"
import { Duration, Effect, PubSub, Schema, Stream } from "effect"
import { dual } from "effect/Function"
import type * as ConfigError from "./ConfigError.js"
import * as ErrorFamily from "./ErrorFamily.js"
import { makeBreaker } from "./internal/breaker/breaker.js"
import * as BreakerOptions from "./internal/breaker/options.js"
import type * as TripRule from "./TripRule.js"

/**
 * A named circuit breaker.
 *
 * - `execute(effect)` runs an effect through the breaker, adding {@link BreakerOpenError} to its error type.
 * - `state` reads the current {@link State}; `changes` streams every {@link Transition} from when it is run (each
 *   consumer has a buffer of 1 024 transitions; a consumer that falls further behind loses the oldest).
 * - `isolate`, `forceClosed`, `disable` and `reset` set the state by hand (each one a transition).
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  readonly name: string
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BreakerOpenError, R>
  readonly state: Effect.Effect<State>
  readonly changes: Stream.Stream<Transition>
  readonly isolate: Effect.Effect<void>
  readonly forceClosed: Effect.Effect<void>
  readonly disable: Effect.Effect<void>
  readonly reset: Effect.Effect<void>
}

/**
 * Builds a standalone breaker, outside any registry (`BreakerRegistry` gives named breakers shared by a whole
 * program). Its `changes` stream ends when the scope closes. Invalid options fail with a `ConfigError` whose paths
 * start at `options`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { CircuitBreaker, CommonErrors, TripRule } from "@effect-resilience/core"
 *
 * declare const charge: Effect.Effect<string, CommonErrors.NetworkError>
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make("payments", {
 *     trip: [TripRule.consecutive(5), TripRule.failureRate({ threshold: 0.5, lastCalls: 20 })],
 *     openDuration: Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("30 seconds")]),
 *     halfOpenProbes: 2
 *   })
 *   return yield* breaker.execute(charge)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  name: string,
  options?: Options
): Effect.Effect<CircuitBreaker, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* validate(options)
    const pubsub = yield* PubSub.sliding<Transition>(1024)
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    return makeBreaker(name, config, { publish: (t) => PubSub.publishUnsafe(pubsub, t) }, Stream.fromPubSub(pubsub))
  })

/**
 * Runs an effect through a breaker.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * declare const charge: Effect.Effect<string, Error>
 *
 * const guarded = charge.pipe(CircuitBreaker.execute(breaker))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const execute: {
  (breaker: CircuitBreaker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BreakerOpenError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker): Effect.Effect<A, E | BreakerOpenError, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker) => breaker.execute(self))

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * The states of a breaker: the three of the automatic state machine and the three set by hand.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Status = Schema.Literals(["closed", "open", "half_open", "forced_open", "forced_closed", "disabled"])

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * Why a breaker changed state.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literals([
  "consecutive_failures",
  "failure_rate",
  "slow_call_rate",
  "open_elapsed",
  "probe_failed",
  "probes_succeeded",
  "isolated",
  "forced_closed",
  "disabled",
  "reset"
])

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * Where a transition was decided: `"local"` by this breaker (always, without a shared store), `"remote"` by
 * another replica sharing its state (adopted from the change it published), `"sync"` found on a resync with the
 * shared store (a change whose message was lost, or made while this replica could not reach the store).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Origin = Schema.Literals(["local", "remote", "sync"])

/**
 * @since 0.1.0
 * @category models
 */
export type Origin = typeof Origin.Type

/**
 * One state change. `openings` is the number of consecutive openings so far and `openMillis` how long an opening
 * lasts (set when `to` is `"open"`). `generation` increases by one per change of that breaker in this process,
 * so consumers can order and de-duplicate them. `origin` says where it was decided (see {@link Origin}); with a
 * shared store, `replica` names the replica that decided it, and `reason` is that replica's.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Transition = Schema.Struct({
  breaker: Schema.String,
  from: Status,
  to: Status,
  reason: Reason,
  at: Schema.Number,
  generation: Schema.Number,
  openings: Schema.Number,
  openMillis: Schema.optional(Schema.Number),
  origin: Origin,
  replica: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Transition = typeof Transition.Type

/**
 * Calls through a breaker by outcome. `ignored` counts the calls that ended in a failure that does not count (see
 * {@link Counts}) or were interrupted, whether they interrupted themselves or were interrupted from outside (a
 * timeout or a race around the breaker, a caller going away); `rejected` counts calls the breaker did not run.
 * So `success + failure + ignored + rejected` is the number of calls made, whatever the trip rules. `slow`
 * counts calls slower than the slow-call threshold (they are also counted as `success` or `failure`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Calls = Schema.Struct({
  success: Schema.Number,
  failure: Schema.Number,
  ignored: Schema.Number,
  rejected: Schema.Number,
  slow: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Calls = typeof Calls.Type

/**
 * How a breaker shares its state with other replicas (present on {@link State} only with a shared store, such as
 * `RedisBreakerStore`):
 *
 * - `mode`: `"shared"` while the store is reachable, `"degraded"` while it is not (the breaker then decides alone,
 *   as a local breaker), `"off"` for a breaker whose options say `share: "off"` (or whose name cannot be stored).
 * - `generation`: the fleet's generation of this breaker as last known (`-1` before the first read).
 * - `replica`: this replica's id; `probeHolder`: the replica holding the probe lease, while half-open.
 * - `rulesMismatch`: set when another replica stored different rules for this breaker: that replica's id.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Shared = Schema.Struct({
  mode: Schema.Literals(["shared", "degraded", "off"]),
  generation: Schema.Number,
  replica: Schema.String,
  probeHolder: Schema.optional(Schema.String),
  rulesMismatch: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Shared = typeof Shared.Type

/**
 * A breaker's state as read: its status and since when, its `generation` (the number of state changes so far, as
 * in {@link Transition}), the consecutive openings, how long until an open breaker
 * lets a probe through (`retryAfterMillis`), the probes running and succeeded in half-open, the calls by outcome,
 * `wouldOpen`, the trips counted while disabled, and with a shared store how it is shared (`shared`, see
 * {@link Shared}).
 *
 * @since 0.1.0
 * @category schemas
 */
export const State = Schema.Struct({
  breaker: Schema.String,
  status: Status,
  since: Schema.Number,
  generation: Schema.Number,
  openings: Schema.Number,
  retryAfterMillis: Schema.optional(Schema.Number),
  probes: Schema.Struct({ running: Schema.Number, succeeded: Schema.Number, limit: Schema.Number }),
  calls: Calls,
  wouldOpen: Schema.Number,
  shared: Schema.optional(Shared)
})

/**
 * @since 0.1.0
 * @category models
 */
export type State = typeof State.Type

/**
 * Which failures count against a breaker: a predicate on the error, or the error tags that count. Either way,
 * interruptions count as neither success nor failure (they are counted as `ignored` and never trip the breaker),
 * and defects count as failures, even in a cause that also holds an error that does not count. A cause with
 * several typed errors counts when any of them does.
 *
 * @since 0.1.0
 * @category models
 */
export type Counts = ((error: unknown) => boolean) | ReadonlyArray<string>

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The rejection of a call by an open, half-open (all probe slots taken) or isolated breaker. It carries the
 * breaker's name, its state and `retryAfter`: how long until the breaker lets a probe through (zero in half-open,
 * where probes are already running; the first open duration when isolated by hand). The HTTP edge turns it into
 * a 503 with `Retry-After`.
 *
 * **Details**
 *
 * A recoverable error that `PolicyService` does not retry unless given a policy of its own, so `protect` never
 * spends retries on rejections. Rejections are built without a stack trace and shared between calls rejected in
 * the same millisecond, which keeps a rejection about as cheap as `Effect.fail` of a ready value.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * declare const charge: Effect.Effect<string, CircuitBreaker.BreakerOpenError>
 *
 * const answer = charge.pipe(
 *   Effect.catchTag("BreakerOpenError", (e) =>
 *     Effect.succeed(`payments unavailable, retry in ${e.retryAfterMillis} ms`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BreakerOpenError extends ErrorFamily.TaggedError<BreakerOpenError>()("BreakerOpenError", {
  breaker: Schema.String,
  status: Schema.Literals(["open", "half_open", "forced_open"]),
  retryAfterMillis: Schema.Number
}, {
  code: "resilience.E0008",
  kind: "recoverable",
  severity: "medium",
  publicMessage: "The service is temporarily unavailable. Please try again later."
}) {
  /**
   * `retryAfterMillis` as a `Duration`.
   *
   * @since 0.1.0
   */
  get retryAfter(): Duration.Duration {
    return Duration.millis(this.retryAfterMillis)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of a breaker.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `trip` | one {@link TripRule} or several (the first that trips opens the breaker) | `TripRule.consecutive(5)` |
 * | `openDuration` | how long it stays open: a duration, or a `Schedule` stepped once per consecutive opening (input: the opening's number, from 1); when the schedule ends its last duration is kept | exponential from 5 s, capped at 1 min |
 * | `halfOpenProbes` | probe calls allowed at once in half-open | `1` |
 * | `closeAfter` | successful probes that close it | `halfOpenProbes` |
 * | `counts` | which failures count (see {@link Counts}) | every error but business errors and the refusals of a bulkhead or rate limiter inside it (`BulkheadFullError`, `RateLimitedError`: this service's own overload, not the dependency failing) |
 * | `share` | with a shared store (`RedisBreakerStore`): `"any"` (the first replica to trip opens the fleet), `{ quorum, within }` (the fleet opens once `quorum` replicas tripped within `within`; a replica that trips opens for itself at once) or `"off"` (this breaker stays local) | `"any"` |
 *
 * Consecutive openings start again from the first duration once the breaker has stayed closed at least as long
 * as it was last open, so a dependency that flaps keeps its longer open durations.
 *
 * An unknown key (a misspelt `openDuraton`) is refused, with the nearest option name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly trip?: TripRule.TripRule | ReadonlyArray<TripRule.TripRule> | undefined
  readonly openDuration?: Duration.Input | Schedule.Schedule<unknown, number> | undefined
  readonly halfOpenProbes?: number | undefined
  readonly closeAfter?: number | undefined
  readonly counts?: Counts | undefined
  readonly share?: "any" | "off" | { readonly quorum: number; readonly within: Duration.Input } | undefined
}

/**
 * How a breaker shares its openings with other replicas, after validation (see `share` in {@link Options}).
 *
 * @since 0.1.0
 * @category models
 */
export type Share =
  | { readonly _tag: "any" }
  | { readonly _tag: "off" }
  | { readonly _tag: "quorum"; readonly quorum: number; readonly withinMillis: number }

/**
 * Options after validation. `firstOpenMillis` is the first open duration (the `retryAfter` of an isolated
 * breaker).
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly rules: ReadonlyArray<TripRule.TripRule>
  readonly openDuration: Schedule.Schedule<unknown, number> | Duration.Duration
  readonly firstOpenMillis: number
  readonly halfOpenProbes: number
  readonly closeAfter: number
  readonly counts: (error: unknown) => boolean
  readonly share: Share
  /**
   * A hash of the rules (trip rules, open duration, probes, counts, share), compared between replicas sharing the
   * breaker to report one configured differently. A `Schedule` or a predicate is hashed by kind only.
   */
  readonly fingerprint: string
}

/**
 * Validates breaker options (decoded by Schema). Every problem is reported at once in a `ConfigError`, with paths
 * from the options object (`["trip", 0, "failures"]`, `["halfOpenProbes"]`), an unknown key among them
 * (`openDuraton`: `Unknown key "openDuraton", did you mean "openDuration"?`). A caller that reads the options
 * as part of its own roots the paths there with `ConfigError.under`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, TripRule } from "@effect-resilience/core"
 *
 * const config = CircuitBreaker.validate({ trip: TripRule.consecutive(3), openDuration: "10 seconds" })
 * // fails with "Invalid options: halfOpenProbes: Expected an integer of at least 1, got 0"
 * const invalid = CircuitBreaker.validate({ halfOpenProbes: 0 }).pipe(Effect.flip)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<Config, ConfigError.ConfigError> =>
  BreakerOptions.decode(options)
