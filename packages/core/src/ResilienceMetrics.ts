/**
 * `ResilienceMetrics`: the figures users inspect. `snapshot` returns the tracker's summary plus the outcome of
 * every protected call per operation; the same figures are effect `Metric`s, so effect's `PrometheusMetrics` and
 * `Otlp` exporters publish them with no extra code.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import * as ErrorTracker from "./ErrorTracker.js"
import { addCounterSource } from "./internal/metricSeries.js"

/**
 * How a call made through `protect` ended: it succeeded on its first attempt (`succeeded`), succeeded after one
 * or more retries (`succeeded_after_retry`), failed without being retried (`failed`: a business error, a policy
 * that does not retry, a defect), or failed after retries (`failed_after_retry`). A fallback that recovers a
 * failed call does not change its outcome here; it counts in the tracker's `recovery`. Interrupted calls count
 * as neither.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CallOutcome = Schema.Literals(["succeeded", "succeeded_after_retry", "failed", "failed_after_retry"])

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
  failed_after_retry: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type OperationCalls = typeof OperationCalls.Type

/**
 * Everything at one instant: the tracker's summary (`errors`) and the calls per operation (`calls`, sorted by
 * operation). JSON-encodable through its Schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Snapshot = Schema.Struct({
  errors: ErrorTracker.Summary,
  calls: Schema.Array(OperationCalls)
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

/**
 * The metrics service.
 *
 * - `snapshot`: the current figures.
 * - `recordCall`: counts one call's outcome. Synchronous and cheap, for `protect`'s hot path; it never throws.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResilienceMetricsShape {
  readonly snapshot: Effect.Effect<Snapshot>
  readonly recordCall: (operation: string, outcome: CallOutcome) => void
}

/**
 * The metrics service, provided by `ErrorLayer`.
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
export class ResilienceMetrics extends Context.Service<ResilienceMetrics, ResilienceMetricsShape>()(
  "@effect-resilience/core/ResilienceMetrics"
) {}

const outcomes: ReadonlyArray<CallOutcome> = ["succeeded", "succeeded_after_retry", "failed", "failed_after_retry"]

type Counts = { -readonly [K in CallOutcome]: number }

/**
 * Makes the metrics service over a tracker. Call outcomes are published as the effect counter
 * `resilience_calls_total{operation,outcome}`, read when metrics are exported, in the `Metric.MetricRegistry` of
 * the context it is made in (services sharing a registry add up); closing the scope freezes its counts in the
 * series (a counter never goes down), and a series with no service left leaves the registry.
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
 *   metrics.recordCall("items.save", "succeeded")
 *   return yield* metrics.snapshot
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  tracker: ErrorTracker.ErrorTrackerShape
): Effect.Effect<ResilienceMetricsShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const operations = new Map<string, Counts>()
    const removals: Array<() => void> = []
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const remove of removals) remove()
        removals.length = 0
      })
    )

    const countsFor = (operation: string): Counts => {
      const created: Counts = { succeeded: 0, succeeded_after_retry: 0, failed: 0, failed_after_retry: 0 }
      operations.set(operation, created)
      if (closed) return created
      for (const outcome of outcomes) {
        removals.push(addCounterSource(
          context,
          "resilience_calls_total",
          "Calls made through protect, by operation and outcome",
          { operation, outcome },
          () => created[outcome]
        ))
      }
      return created
    }

    return ResilienceMetrics.of({
      recordCall: (operation, outcome) => {
        ;(operations.get(operation) ?? countsFor(operation))[outcome]++
      },
      snapshot: Effect.map(tracker.summary, (errors) => ({
        errors,
        calls: Array.from(operations, ([operation, counts]) => ({ operation, ...counts }))
          .sort((a, b) => a.operation.localeCompare(b.operation))
      }))
    })
  })

/**
 * A layer providing the metrics service over the `ErrorTracker`.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { ErrorTracker, ResilienceMetrics } from "@effect-resilience/core"
 *
 * const MetricsLive = ResilienceMetrics.layer.pipe(Layer.provideMerge(ErrorTracker.layer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ResilienceMetrics, never, ErrorTracker.ErrorTracker> = Layer.effect(
  ResilienceMetrics,
  ErrorTracker.ErrorTracker.use(make)
)

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
