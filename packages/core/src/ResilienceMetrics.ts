/**
 * `ResilienceMetrics`: the figures users inspect. `snapshot` returns the tracker's summary plus the outcome of
 * every protected call per operation, and every `resilience_*` series is defined here (but the chaos layer's own),
 * as effect `Metric`s, so effect's `PrometheusMetrics` and `Otlp` exporters publish them with no extra code.
 *
 * **Details**
 *
 * The series, read when metrics are exported (recording updates no metric itself), in the `Metric.MetricRegistry`
 * of the context the service is made in:
 *
 * | series | type | from |
 * | --- | --- | --- |
 * | `resilience_calls_total{operation,outcome}` | counter | calls through `protect`, by {@link CallOutcome} |
 * | `resilience_errors_total{tag,code,kind,severity}` | counter | errors tracked, per tag and code |
 * | `resilience_recoveries_total{outcome}` | counter | tracked errors followed by a retry or fallback: `succeeded`, `failed`, `unobserved` |
 * | `resilience_recoveries_pending` | gauge | tracked errors whose retry or fallback is still running |
 * | `resilience_events_dropped_total` | counter | tracked errors that skipped history and subscribers |
 * | `resilience_subscriber_failures_total` | counter | tracker subscriber callbacks that failed |
 * | `resilience_breaker_state{breaker,state}` | gauge | 1 for a breaker's current state, 0 for the others |
 * | `resilience_breaker_calls_total{breaker,outcome}` | counter | calls through a breaker: `success`, `failure`, `ignored`, `rejected`, `slow` |
 * | `resilience_breaker_transitions_total{breaker,to,origin}` | counter | breaker state changes, by the state entered and where they were decided (`local`; with a shared store also `remote`, `sync`) |
 * | `resilience_breaker_shared_degraded{breaker}` | gauge | with a shared store: 1 while the store is unreachable and the breaker decides alone |
 * | `resilience_breaker_shared_sync_total{breaker,result}` | counter | with a shared store: resyncs, by result (`ok`, `repaired`: a lost change adopted, `reasserted`: an opening the store missed asserted again, `failed`) |
 * | `resilience_bulkhead_in_flight{bulkhead}` | gauge | calls running in a bulkhead |
 * | `resilience_bulkhead_queued{bulkhead}` | gauge | calls waiting for a place |
 * | `resilience_bulkhead_limit{bulkhead}` | gauge | the bulkhead's limit now (an adaptive one moves) |
 * | `resilience_bulkhead_admitted_total{bulkhead}` | counter | calls given a place |
 * | `resilience_bulkhead_rejections_total{bulkhead,reason}` | counter | calls refused: `full`, `queue_timeout`, `evicted` |
 * | `resilience_rate_limiter_permits_total{limiter}` | counter | calls a rate limiter let through (at once or after a wait) |
 * | `resilience_rate_limiter_rejections_total{limiter}` | counter | calls a rate limiter refused |
 * | `resilience_rate_limiter_waits_total{limiter}` | counter | calls that waited for a permit |
 * | `resilience_rate_limiter_keys{limiter}` | gauge | keys a limiter holds |
 * | `resilience_rate_limiter_shared_degraded{limiter}` | gauge | with a shared store: 1 while the store is unreachable and the limiter decides alone on its share |
 * | `resilience_call_duration_seconds{operation,outcome}` | histogram | durations of calls through `protect`, from admission to outcome (retries and hedges included, fallback not), by {@link CallOutcome} except `rejected` |
 * | `resilience_attempt_duration_seconds{operation,outcome}` | histogram | durations of each attempt (hedges included), by outcome: `succeeded`, `failed`, `interrupted` (a hedge race's loser among them) |
 * | `resilience_retries_suppressed_total{operation,reason}` | counter | retries a policy asked for that were not made: `budget` (the retry budget had none left), `pushback` (a retry-after hint above `maxRetryAfter`); operation `""` for `Effect.retry(PolicyService.retry)` |
 * | `resilience_hedges_total{operation,result}` | counter | hedges `started`, `won` (their success was the call's), `lost`, and `suppressed` (due, but the budget had none left) |
 * | `resilience_retry_budget_available{budget}` | gauge | retries (or hedges) a retry budget would allow now |
 * | `resilience_retry_budget_granted_total{budget}` | counter | retries and hedges a budget allowed |
 * | `resilience_retry_budget_refused_total{budget}` | counter | retries and hedges a budget refused |
 * | `resilience_chaos_injected_total{kind,operation}` | counter | faults a `Chaos` layer injected: exported by the `Chaos` service itself (see `Chaos.stats`), never here, so that with both there is one series per kind and operation, counted once |
 *
 * The duration histograms have the boundaries (seconds) 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
 * 1, 2.5, 5, 10, 30 and 60; unlike the other series they are updated as the calls end (a few comparisons and
 * additions per call, nothing allocated), and a series appears with its first duration. The suppression and
 * hedge counters of an operation exist from its first call (with every reason and result), so that a dashboard
 * reads zero rather than no data.
 *
 * The tracker's series are exact when read: what is queued for the tracker is taken in first.
 *
 * **Gotchas**
 *
 * - Services sharing a registry (two `ErrorLayer` builds) add up in the same series. Closing one freezes its
 *   counts in the counters (a counter never goes down, or Prometheus would read a reset) and takes its levels out
 *   of the gauges; a series with no source left leaves the registry.
 * - Calls and breakers are counted as the strategies emit them, so only through {@link layer} (or `ErrorLayer`),
 *   which adds the service to the context's observers; a breaker's series exist from when its registry builds it
 *   (a bulkhead's, rate limiter's and retry budget's likewise).
 * - Two services sharing a registry update the same duration histograms; closing one keeps what it recorded in
 *   them (they are cumulative, like the counters), and its call sites stop recording. A histogram leaves the
 *   registry when the last service recording into it closes.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import * as Bulkhead from "./Bulkhead.js"
import type * as Chaos from "./Chaos.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as ErrorTracker from "./ErrorTracker.js"
import { monotonicMillis } from "./internal/breaker/store.js"
import { LatencyWindow } from "./internal/latency.js"
import { addCounterSource, addGaugeSource, joinHistogram } from "./internal/metricSeries.js"
import {
  type AttemptOutcome,
  type BreakerAdded,
  type BudgetAdded,
  type BulkheadAdded,
  type Hedge,
  type LimiterAdded,
  observe,
  type Observer,
  type RetrySuppressed,
  type Timings
} from "./internal/observation.js"
import { internalsOf } from "./internal/tracker/store.js"
import * as RateLimiter from "./RateLimiter.js"
import * as RetryBudget from "./RetryBudget.js"

/**
 * The metrics service: `snapshot` is the current figures.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResilienceMetrics {
  readonly snapshot: Effect.Effect<Snapshot>
}

/**
 * The metrics service, provided by {@link layer} and by `ErrorLayer`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorLayer, ResilienceMetrics } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const metrics = yield* ResilienceMetrics.ResilienceMetrics
 *   const { errors, calls } = yield* metrics.snapshot
 *   yield* Effect.log(`${errors.total} errors; ${calls.length} operations`)
 * }).pipe(Effect.provide(ErrorLayer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export const ResilienceMetrics: Context.Service<ResilienceMetrics, ResilienceMetrics> = Context.Service<
  ResilienceMetrics
>("@effect-resilience/core/ResilienceMetrics")

/**
 * Makes the metrics service over a tracker, with the tracker's series in the registry of the current context
 * (see the module documentation); closing the scope removes them. The calls and breakers it counts are those of
 * the events it observes: {@link layer} adds it to the context's observers, which `make` alone does not.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorTracker, ResilienceMetrics } from "@effect-resilience/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const tracker = yield* ErrorTracker.make()
 *   const metrics = yield* ResilienceMetrics.make(tracker)
 *   return yield* metrics.snapshot
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (tracker: ErrorTracker.ErrorTracker): Effect.Effect<ResilienceMetrics, never, Scope.Scope> =>
  Effect.map(build(tracker, true), ({ metrics }) => metrics)

/**
 * A layer providing the metrics service over the `ErrorTracker`, and adding it to the context's observers so it
 * counts the calls `protect` makes and the breakers a `BreakerRegistry` built after it (in the same context)
 * builds.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { BreakerRegistry, ErrorTracker, ResilienceMetrics } from "@effect-resilience/core"
 *
 * const MetricsLive = BreakerRegistry.layer().pipe(
 *   Layer.provideMerge(ResilienceMetrics.layer),
 *   Layer.provideMerge(ErrorTracker.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ResilienceMetrics, never, ErrorTracker.ErrorTracker> = Layer.unwrap(
  Effect.suspend(() => layerOf(true))
)

const layerOf = (durations: boolean) =>
  Effect.gen(function*() {
    const { metrics, observer } = yield* build(yield* ErrorTracker.ErrorTracker, durations)
    return Layer.merge(Layer.succeed(ResilienceMetrics, metrics), observe(Effect.succeed(observer)))
  })

/**
 * Options of {@link layerWith}: `durations: false` records no call or attempt durations (no
 * `resilience_*_duration_seconds` histograms, an empty `latency` in the snapshot), so `protect` reads no clock
 * for them: two monotonic clock reads and a histogram update per call, the largest part of what the metrics add
 * to a call's success path (see the README's Performance section). Hedging keeps its own latency window either
 * way.
 *
 * @since 0.4.0
 * @category models
 */
export interface Options {
  readonly durations?: boolean | undefined
}

/**
 * {@link layer} with options.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { ErrorTracker, ResilienceMetrics } from "@effect-resilience/core"
 *
 * // counts and states, no durations
 * const Counting = ResilienceMetrics.layerWith({ durations: false }).pipe(Layer.provideMerge(ErrorTracker.layer()))
 * ```
 *
 * @since 0.4.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<ResilienceMetrics, never, ErrorTracker.ErrorTracker> =>
  options.durations === false ? Layer.unwrap(layerOf(false)) : layer

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * How a call made through `protect` ended: it succeeded on its first attempt (`succeeded`), succeeded after one
 * or more retries (`succeeded_after_retry`), failed without being retried (`failed`: a business error, a policy
 * that does not retry, a defect), failed after retries (`failed_after_retry`), or was refused by a bulkhead or a
 * rate limiter before any attempt (`rejected`). A fallback that recovers a
 * failed call does not change its outcome here; it counts in the tracker's `recovery`. Interrupted calls count
 * as neither.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CallOutcome = Schema.Literals([
  "succeeded",
  "succeeded_after_retry",
  "failed",
  "failed_after_retry",
  "rejected"
])

/**
 * @since 0.1.0
 * @category models
 */
export type CallOutcome = typeof CallOutcome.Type

/**
 * The calls of one operation (the `operation` given to `protect`), by outcome.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OperationCalls = Schema.Struct({
  operation: Schema.String,
  succeeded: Schema.Number,
  succeeded_after_retry: Schema.Number,
  failed: Schema.Number,
  failed_after_retry: Schema.Number,
  rejected: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type OperationCalls = typeof OperationCalls.Type

/**
 * The recent durations of one operation's calls through `protect` (every outcome but `rejected`), in
 * milliseconds: how many ended in the last minute (`count`, to within 10 seconds: the window is counted in six
 * slots) and their p50, p90, p99 and maximum, each within about 3 % of the true value (the durations are counted
 * in log-linear buckets, so the memory does not grow with the calls). All zero when none ended in the window.
 *
 * @since 0.4.0
 * @category schemas
 */
export const OperationLatency = Schema.Struct({
  operation: Schema.String,
  count: Schema.Number,
  p50: Schema.Number,
  p90: Schema.Number,
  p99: Schema.Number,
  max: Schema.Number
})

/**
 * @since 0.4.0
 * @category models
 */
export type OperationLatency = typeof OperationLatency.Type

/**
 * The hedges of one operation since the service started: `started`, `won` (a hedge's success was the call's),
 * `lost` (another attempt won, or every attempt failed) and `suppressed` (a hedge was due but the retry budget had
 * none left).
 *
 * @since 0.4.0
 * @category schemas
 */
export const OperationHedges = Schema.Struct({
  operation: Schema.String,
  started: Schema.Number,
  won: Schema.Number,
  lost: Schema.Number,
  suppressed: Schema.Number
})

/**
 * @since 0.4.0
 * @category models
 */
export type OperationHedges = typeof OperationHedges.Type

/**
 * The retries of one operation that a policy asked for and that were not made, since the service started, by
 * reason: the retry budget had none left (`budget`), or the error's retry-after hint exceeded the policy's
 * `maxRetryAfter` (`pushback`). The operation is `""` for `Effect.retry(PolicyService.retry)`.
 *
 * @since 0.4.0
 * @category schemas
 */
export const OperationRetriesSuppressed = Schema.Struct({
  operation: Schema.String,
  budget: Schema.Number,
  pushback: Schema.Number
})

/**
 * @since 0.4.0
 * @category models
 */
export type OperationRetriesSuppressed = typeof OperationRetriesSuppressed.Type

/**
 * The faults a `Chaos` layer injected into one operation's attempts since the service started, by kind (see
 * `Chaos.CallKind`): failures, defects, delays and interruptions. Each is also in the call's own figures (an
 * injected failure is a failed attempt), so these say how much of them was a rehearsal.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ResilienceMetrics } from "@effect-resilience/core"
 *
 * // the operations under rehearsal
 * const rehearsed = ResilienceMetrics.snapshot.pipe(Effect.map((snapshot) => snapshot.chaos.map((c) => c.operation)))
 * ```
 *
 * @since 0.6.0
 * @category schemas
 */
export const OperationChaos = Schema.Struct({
  operation: Schema.String,
  fail: Schema.Number,
  die: Schema.Number,
  latency: Schema.Number,
  interrupt: Schema.Number
})

/**
 * @since 0.6.0
 * @category models
 */
export type OperationChaos = typeof OperationChaos.Type

/**
 * Everything at one instant: the tracker's summary (`errors`), the calls per operation (`calls`, sorted by
 * operation), and the figures of every bulkhead and rate limiter of the registries built over this service
 * (`bulkheads`, `rateLimiters`, sorted by name). JSON-encodable through its Schema.
 *
 * Since 0.4.0 also:
 *
 * - `latency`: the rolling percentiles of each operation's call durations over the last minute (see
 *   {@link OperationLatency}), for every operation that has had a timed call; sorted by operation. The window's
 *   time is the `Clock` of the context the service was made in.
 * - `hedges`: per operation that has hedged (or had a hedge suppressed), its hedges (see {@link OperationHedges});
 *   sorted by operation.
 * - `retriesSuppressed`: per operation that has had a retry suppressed, by reason (see
 *   {@link OperationRetriesSuppressed}); sorted by operation.
 * - `budgets`: the figures of every retry budget of the `RetryBudgetRegistry`s built over this service; sorted by
 *   name.
 *
 * Since 0.6.0 also:
 *
 * - `chaos`: per operation that a `Chaos` layer injected faults into, how many of each kind (see
 *   {@link OperationChaos}); sorted by operation. The fleet's Redis faults hit no protected call and are not here
 *   (they are in `Chaos.stats` and its series, as operation `redis`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Snapshot = Schema.Struct({
  errors: ErrorTracker.Summary,
  calls: Schema.Array(OperationCalls),
  bulkheads: Schema.Array(Bulkhead.State),
  rateLimiters: Schema.Array(RateLimiter.State),
  latency: Schema.Array(OperationLatency),
  hedges: Schema.Array(OperationHedges),
  retriesSuppressed: Schema.Array(OperationRetriesSuppressed),
  budgets: Schema.Array(RetryBudget.State),
  chaos: Schema.Array(OperationChaos)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Snapshot = typeof Snapshot.Type

/**
 * The snapshot as a JSON string and back.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ResilienceMetrics } from "@effect-resilience/core"
 *
 * const json = ResilienceMetrics.snapshot.pipe(Effect.flatMap(Schema.encodeEffect(ResilienceMetrics.SnapshotJson)))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const SnapshotJson = Schema.fromJsonString(Snapshot)

// ---------------------------------------------------------------------------------------------------------------
// series
// ---------------------------------------------------------------------------------------------------------------

const callOutcomes: ReadonlyArray<CallOutcome> = CallOutcome.literals
const breakerOutcomes = ["success", "failure", "ignored", "rejected", "slow"] as const
const recoveryOutcomes = ["succeeded", "failed", "unobserved"] as const

type Counts = { -readonly [K in CallOutcome]: number }

type TimedOutcome = Exclude<CallOutcome, "rejected">
const suppressionReasons = ["budget", "pushback"] as const satisfies ReadonlyArray<RetrySuppressed["reason"]>
const hedgeResults = ["started", "won", "lost", "suppressed"] as const satisfies ReadonlyArray<Hedge["result"]>

// the service, and the observer its layer adds
const build = (tracker: ErrorTracker.ErrorTracker, durations: boolean) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    // the latency windows' time: the clock of the context the service is made in (a TestClock drives them)
    const clock = yield* Effect.clockWith(Effect.succeed)
    const removals: Array<() => void> = []
    let closed = false
    // counters (`_total`, never decreasing) unless `gauge` (a level, which goes up and down)
    const series = (
      name: string,
      description: string,
      attributes: Record<string, string>,
      get: () => number,
      gauge = false
    ) => {
      if (closed) return undefined
      const remove = (gauge ? addGaugeSource : addCounterSource)(context, name, description, attributes, get)
      removals.push(remove)
      return remove
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const remove of removals.splice(0)) remove()
      })
    )

    // --- the tracker's figures, read after taking in what is queued for it
    const internals = internalsOf(tracker)
    if (internals !== undefined) {
      const { drain, store } = internals
      const exact = (get: () => number) => () => {
        drain()
        return get()
      }
      const addEntry = (entry: (typeof store.entries)[number]) =>
        series("resilience_errors_total", "Errors tracked, by tag, code, kind and severity", {
          tag: entry.tag,
          code: entry.code,
          kind: entry.kind,
          severity: entry.severity
        }, exact(() => entry.count))
      for (const entry of store.entries) addEntry(entry)
      removals.push(store.onEntry(addEntry))
      // an error's recovery is pending until its outcome is known, so pending is a level: a gauge, not an outcome
      for (const outcome of recoveryOutcomes) {
        series("resilience_recoveries_total", "Tracked errors followed by a retry or fallback, by outcome", {
          outcome
        }, exact(() => store.recovery[outcome]))
      }
      series(
        "resilience_recoveries_pending",
        "Tracked errors whose retry or fallback is still running",
        {},
        exact(() => store.recovery.pending),
        true
      )
      series(
        "resilience_events_dropped_total",
        "Tracked errors that skipped history and subscribers",
        {},
        exact(() => store.dropped)
      )
      series(
        "resilience_subscriber_failures_total",
        "Error tracker subscriber callbacks that failed",
        {},
        exact(() => store.subscribers.failed)
      )
    }

    // --- calls through protect
    const operations = new Map<string, Counts>()
    const countsFor = (operation: string): Counts => {
      const created: Counts = { succeeded: 0, succeeded_after_retry: 0, failed: 0, failed_after_retry: 0, rejected: 0 }
      operations.set(operation, created)
      for (const outcome of callOutcomes) {
        series(
          "resilience_calls_total",
          "Calls made through protect, by operation and outcome",
          { operation, outcome },
          () => created[outcome]
        )
      }
      if (!extras.has(operation)) extrasFor(operation)
      return created
    }

    // --- suppressed retries and hedges per operation, their series made with the operation's first call (or
    // first such event), every reason and result at once
    interface Extras {
      readonly suppressed: { -readonly [K in RetrySuppressed["reason"]]: number }
      readonly hedges: { -readonly [K in Hedge["result"]]: number }
    }
    const extras = new Map<string, Extras>()
    const extrasFor = (operation: string): Extras => {
      const created: Extras = {
        suppressed: { budget: 0, pushback: 0 },
        hedges: { started: 0, won: 0, lost: 0, suppressed: 0 }
      }
      extras.set(operation, created)
      for (const reason of suppressionReasons) {
        series(
          "resilience_retries_suppressed_total",
          "Retries a policy asked for that were not made, by operation and reason",
          { operation, reason },
          () => created.suppressed[reason]
        )
      }
      // `""` is `Effect.retry(PolicyService.retry)` without an operation, which never hedges
      if (operation !== "") {
        for (const result of hedgeResults) {
          series(
            "resilience_hedges_total",
            "Hedged attempts of protect, by operation and result",
            { operation, result },
            () => created.hedges[result]
          )
        }
      }
      return created
    }

    // --- chaos: the injections per operation and kind, for the snapshot only (the `Chaos` service exports their
    // series, so that a registry holds them once however many metrics services observe the injections)
    const chaos = new Map<string, { -readonly [K in Chaos.CallKind]: number }>()
    const chaosFor = (operation: string) => {
      const created = { fail: 0, die: 0, latency: 0, interrupt: 0 }
      chaos.set(operation, created)
      return created
    }

    // --- durations: per operation a rolling window (the snapshot's percentiles) and its histogram series, each
    // series joined with its first duration; the sink is made once per operation, whatever its call sites
    interface OperationTimings {
      readonly timings: Timings
      readonly window: LatencyWindow
    }
    const timed = new Map<string, OperationTimings>()
    const histogram = (name: string, description: string, attributes: Record<string, string>) => {
      const { leave, update } = joinHistogram(context, name, description, attributes)
      removals.push(leave)
      return update
    }
    const timingsFor = (operation: string): Timings => {
      const found = timed.get(operation)
      if (found !== undefined) return found.timings
      const window = new LatencyWindow()
      const calls: { [K in TimedOutcome]?: (seconds: number) => void } = {}
      const attempts: { [K in AttemptOutcome]?: (seconds: number) => void } = {}
      const timings: Timings = {
        call: (outcome, millis, now) => {
          // after the close, the call sites built over this service record nothing
          if (closed) return
          // the window counts in the Clock's monotonic time, which the call read for its duration anyway
          window.record(millis, now)
          ;(calls[outcome] ??= histogram(
            "resilience_call_duration_seconds",
            "Durations of calls through protect (retries and hedges included), by operation and outcome",
            { operation, outcome }
          ))(millis / 1000)
        },
        attempt: (outcome, millis) => {
          if (closed) return
          ;(attempts[outcome] ??= histogram(
            "resilience_attempt_duration_seconds",
            "Durations of the attempts of calls through protect (hedges included), by operation and outcome",
            { operation, outcome }
          ))(millis / 1000)
        }
      }
      timed.set(operation, { timings, window })
      return timings
    }

    const syncResults = ["ok", "repaired", "reasserted", "failed"] as const
    // --- breakers: their state and calls read from the breaker, their state changes counted here
    const transitionsTo = new Map<string, Record<string, number>>()
    // each breaker's own sources, removed when its registry closes: a counter keeps what it counted, its gauge
    // leaves, and the breaker is no longer read (nor kept in memory)
    const breakerSources = new Map<BreakerAdded, Array<() => void>>()
    const addBreaker = (added: BreakerAdded) => {
      const { name, state } = added
      const own: Array<() => void> = []
      const keep = (remove: (() => void) | undefined) => {
        if (remove !== undefined) own.push(remove)
      }
      for (const status of CircuitBreaker.Status.literals) {
        keep(series(
          "resilience_breaker_state",
          "1 for the breaker's current state, 0 for the others",
          { breaker: name, state: status },
          () => state().status === status ? 1 : 0,
          true
        ))
      }
      for (const outcome of breakerOutcomes) {
        keep(series(
          "resilience_breaker_calls_total",
          "Calls through a circuit breaker, by outcome (slow calls are also counted as success or failure)",
          { breaker: name, outcome },
          () => state().calls[outcome]
        ))
      }
      const shared = state().shared
      const sharing = shared !== undefined && shared.mode !== "off"
      if (sharing) {
        keep(series(
          "resilience_breaker_shared_degraded",
          "1 while the breaker's shared store is unreachable and the breaker decides alone",
          { breaker: name },
          () => state().shared?.mode === "degraded" ? 1 : 0,
          true
        ))
      }
      if (own.length > 0) breakerSources.set(added, own)
      if (sharing && !syncs.has(name)) {
        const counts: Record<string, number> = {}
        syncs.set(name, counts)
        for (const result of syncResults) {
          series(
            "resilience_breaker_shared_sync_total",
            "Resyncs of a shared breaker with its store, by result",
            { breaker: name, result },
            () => counts[result] ?? 0
          )
        }
      }
      // a second breaker of the same name (another registry) shares the name's transition counts
      if (!transitionsTo.has(name)) transitionsTo.set(name, {})
      for (const origin of sharing ? CircuitBreaker.Origin.literals : ["local" as const]) {
        for (const status of CircuitBreaker.Status.literals) transitionSeries(name, status, origin)
      }
    }
    const transitionSeries = (name: string, to: string, origin: string) => {
      const counts = transitionsTo.get(name)!
      const key = `${to}|${origin}`
      if (key in counts) return counts
      counts[key] = 0
      series(
        "resilience_breaker_transitions_total",
        "Circuit breaker state changes, by the state entered and where they were decided",
        { breaker: name, to, origin },
        () => counts[key] ?? 0
      )
      return counts
    }
    const syncs = new Map<string, Record<string, number>>()

    // --- bulkheads and rate limiters: every figure read from their state when exported; a registry's close
    // removes their sources (a counter keeps what it counted)
    const admission = new Map<BulkheadAdded | LimiterAdded | BudgetAdded, Array<() => void>>()
    const sourcesOf = (added: BulkheadAdded | LimiterAdded | BudgetAdded) => {
      const own: Array<() => void> = []
      admission.set(added, own)
      return (remove: (() => void) | undefined) => {
        if (remove !== undefined) own.push(remove)
      }
    }
    const addBulkhead = (added: BulkheadAdded) => {
      const keep = sourcesOf(added)
      const { name, state } = added
      const attributes = { bulkhead: name }
      keep(series("resilience_bulkhead_in_flight", "Calls running in the bulkhead", attributes, () => state().inFlight, true))
      keep(series("resilience_bulkhead_queued", "Calls waiting for a place in the bulkhead", attributes, () => state().queued, true))
      keep(series("resilience_bulkhead_limit", "The bulkhead's limit now", attributes, () => state().limit, true))
      keep(series("resilience_bulkhead_admitted_total", "Calls given a place in the bulkhead", attributes, () => state().admitted))
      for (const reason of Bulkhead.RejectionReason.literals) {
        keep(series(
          "resilience_bulkhead_rejections_total",
          "Calls the bulkhead refused, by reason",
          { bulkhead: name, reason },
          () => state().rejected[reason]
        ))
      }
    }
    const addLimiter = (added: LimiterAdded) => {
      const keep = sourcesOf(added)
      const { name, state } = added
      const attributes = { limiter: name }
      keep(series("resilience_rate_limiter_permits_total", "Calls the rate limiter let through", attributes, () => state().granted))
      keep(series("resilience_rate_limiter_rejections_total", "Calls the rate limiter refused", attributes, () => state().rejected))
      keep(series("resilience_rate_limiter_waits_total", "Calls that waited for a permit", attributes, () => state().waited))
      keep(series("resilience_rate_limiter_keys", "Keys the rate limiter holds", attributes, () => state().keys, true))
      if (state().mode !== "local") {
        keep(series(
          "resilience_rate_limiter_shared_degraded",
          "1 while the rate limiter's shared store is unreachable and it decides alone on its share of the limit",
          attributes,
          () => state().mode === "degraded" ? 1 : 0,
          true
        ))
      }
    }
    // retry budgets, likewise
    const addBudget = (added: BudgetAdded) => {
      const keep = sourcesOf(added)
      const { name, state } = added
      const attributes = { budget: name }
      keep(series(
        "resilience_retry_budget_available",
        "Retries (or hedges) the retry budget would allow now",
        attributes,
        () => state().available,
        true
      ))
      keep(series(
        "resilience_retry_budget_granted_total",
        "Retries and hedges the retry budget allowed",
        attributes,
        () => state().granted
      ))
      keep(series(
        "resilience_retry_budget_refused_total",
        "Retries and hedges the retry budget refused",
        attributes,
        () => state().refused
      ))
    }
    const removeAdmission = (added: BulkheadAdded | LimiterAdded | BudgetAdded) => {
      const own = admission.get(added)
      if (own === undefined) return
      admission.delete(added)
      for (const remove of own) remove()
    }

    const observer: Observer = {
      active: true,
      timings: durations ? timingsFor : undefined,
      emit: (event) => {
        switch (event._tag) {
          case "Call": {
            ;(operations.get(event.operation) ?? countsFor(event.operation))[event.outcome]++
            return
          }
          case "BreakerAdded":
            return addBreaker(event)
          case "BreakerRemoved": {
            const own = breakerSources.get(event.added)
            if (own === undefined) return
            breakerSources.delete(event.added)
            for (const remove of own) remove()
            return
          }
          case "Transition": {
            const { breaker, origin, to } = event.transition
            if (!transitionsTo.has(breaker)) return
            const counts = transitionSeries(breaker, to, origin)
            counts[`${to}|${origin}`] = (counts[`${to}|${origin}`] ?? 0) + 1
            return
          }
          case "BulkheadAdded":
            return addBulkhead(event)
          case "LimiterAdded":
            return addLimiter(event)
          case "BudgetAdded":
            return addBudget(event)
          case "BulkheadRemoved":
          case "LimiterRemoved":
          case "BudgetRemoved":
            return removeAdmission(event.added)
          case "RetrySuppressed": {
            const operation = event.operation ?? ""
            ;(extras.get(operation) ?? extrasFor(operation)).suppressed[event.reason]++
            return
          }
          case "Hedge": {
            ;(extras.get(event.operation) ?? extrasFor(event.operation)).hedges[event.result]++
            return
          }
          case "ChaosInjected": {
            ;(chaos.get(event.operation) ?? chaosFor(event.operation))[event.kind]++
            return
          }
          case "Synced": {
            const counts = syncs.get(event.breaker)
            if (counts !== undefined) counts[event.result] = (counts[event.result] ?? 0) + 1
            return
          }
        }
      }
    }

    const statesOf = <S extends { readonly name: string }>(tag: "BulkheadAdded" | "LimiterAdded" | "BudgetAdded") =>
      Array.from(admission.keys())
        .filter((added) => added._tag === tag)
        .map((added) => added.state() as unknown as S)
        .sort((a, b) => a.name.localeCompare(b.name))
    const byOperation = (a: { readonly operation: string }, b: { readonly operation: string }) =>
      a.operation.localeCompare(b.operation)
    const latency = (): Array<OperationLatency> => {
      const now = monotonicMillis(clock)
      const rows: Array<OperationLatency> = []
      for (const [operation, { window }] of timed) {
        if (window.recorded > 0) rows.push({ operation, ...window.percentiles(now) })
      }
      return rows.sort(byOperation)
    }
    const extrasRows = <K extends "suppressed" | "hedges">(key: K) => {
      const rows: Array<{ operation: string } & Extras[K]> = []
      for (const [operation, figures] of extras) {
        const counts = figures[key]
        if (Object.values(counts).some((n) => n > 0)) rows.push({ operation, ...counts })
      }
      return rows.sort(byOperation)
    }
    const metrics: ResilienceMetrics = {
      snapshot: Effect.map(tracker.summary, (errors) => ({
        errors,
        calls: Array.from(operations, ([operation, counts]) => ({ operation, ...counts })).sort(byOperation),
        bulkheads: statesOf<Bulkhead.State>("BulkheadAdded"),
        rateLimiters: statesOf<RateLimiter.State>("LimiterAdded"),
        latency: latency(),
        hedges: extrasRows("hedges"),
        retriesSuppressed: extrasRows("suppressed"),
        budgets: statesOf<RetryBudget.State>("BudgetAdded"),
        chaos: Array.from(chaos, ([operation, counts]) => ({ operation, ...counts })).sort(byOperation)
      }))
    }
    return { metrics, observer }
  })

// ---------------------------------------------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The current snapshot.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorLayer, ResilienceMetrics } from "@effect-resilience/core"
 *
 * const calls = ResilienceMetrics.snapshot.pipe(
 *   Effect.map((snapshot) => snapshot.calls),
 *   Effect.provide(ErrorLayer.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const snapshot: Effect.Effect<Snapshot, never, ResilienceMetrics> = ResilienceMetrics.use((m) => m.snapshot)
