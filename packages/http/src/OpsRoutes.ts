/**
 * Operations endpoints, each one line to mount on an `HttpRouter` app:
 *
 * - `GET /metrics`: every effect `Metric` (the project's own included) as Prometheus text, through effect's
 *   `PrometheusMetrics`.
 * - `GET /health`: 200 when no breaker is open, 503 listing the open ones (with `Retry-After`) otherwise; the
 *   saturated bulkheads and the rate limiters deciding alone while their shared store is away are listed too,
 *   without changing the status.
 * - `GET /errors`: the error tracker's summary as JSON.
 *
 * `/health` needs the `BreakerRegistry` and `/errors` the `ErrorTracker`; `ErrorLayer` provides both, and the
 * `BulkheadRegistry` and `RateLimiterRegistry` `/health` reads when they are there.
 *
 * **Gotchas**
 *
 * - `/health` answers 503 while any breaker is half-open or forced open too, not only open: see
 *   {@link unhealthyStatuses}.
 * - A saturated bulkhead does not make `/health` 503: it is the service shedding load it cannot take, and it
 *   still answers what it admits. A load balancer that took a saturated replica out would pile its traffic on the
 *   others, saturating them in turn; and saturation comes and goes faster than health checks look. It is listed
 *   under `saturated`, for a person or an alert to read (`resilience_bulkhead_*` has the figures over time).
 * - `/metrics` serves every metric of the process, not only this project's `resilience_*` series.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import {
  type Bulkhead,
  BreakerRegistry,
  BulkheadRegistry,
  CircuitBreaker,
  ErrorTracker,
  type RateLimiter,
  RateLimiterRegistry
} from "@effect-resilience/core"

/**
 * `GET /metrics` (or `path`): Prometheus text exposition of the metric registry. `prefix` is put before every
 * metric name.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const Ops = Layer.mergeAll(OpsRoutes.metrics(), OpsRoutes.health(), OpsRoutes.errors())
 * ```
 *
 * @since 0.1.0
 * @category routes
 */
export const metrics = (
  options: { readonly path?: HttpRouter.PathInput | undefined; readonly prefix?: string | undefined } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  PrometheusMetrics.layerHttp({ path: options.path ?? "/metrics", ...(options.prefix ? { prefix: options.prefix } : {}) })

/**
 * The breaker states that fail the health check: the breaker rejects calls (`open`, `forced_open`), or lets
 * only probes through (`half_open`).
 *
 * @since 0.1.0
 * @category constants
 */
export const unhealthyStatuses: ReadonlyArray<CircuitBreaker.Status> = ["open", "half_open", "forced_open"]

/**
 * The body of `GET /health`.
 *
 * - `status`, `breakers`, `open`: whether the service can serve, from its breakers (see {@link healthOf}).
 * - `saturated` (with a `BulkheadRegistry`): the bulkheads that refuse calls now, every place taken and their
 *   queue full (see {@link isSaturated}), with their figures.
 * - `degraded` (with a `RateLimiterRegistry`): the rate limiters deciding alone on their share of a fleet-wide
 *   limit while the shared store is unreachable.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Health = Schema.Struct({
  status: Schema.Literals(["ok", "unavailable"]),
  breakers: Schema.Number,
  open: Schema.Array(Schema.Struct({
    breaker: Schema.String,
    status: Schema.String,
    retryAfterMillis: Schema.optional(Schema.Number)
  })),
  saturated: Schema.optional(Schema.Array(Schema.Struct({
    bulkhead: Schema.String,
    limit: Schema.Number,
    inFlight: Schema.Number,
    queued: Schema.Number,
    queue: Schema.Number
  }))),
  degraded: Schema.optional(Schema.Array(Schema.Struct({
    limiter: Schema.String,
    limit: Schema.Number
  })))
})

/**
 * Whether a bulkhead is saturated: every place is taken (`inFlight >= limit`) and, if it has a queue, the queue
 * is full (`queued >= queue`), so the next call is refused at once (or, in `"lifo"` order, evicts a waiter).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BulkheadRegistry } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const saturated = BulkheadRegistry.BulkheadRegistry.use((registry) =>
 *   Effect.map(registry.states, (states) => states.filter(OpsRoutes.isSaturated))
 * )
 * ```
 *
 * @since 0.3.0
 * @category getters
 */
export const isSaturated = (state: Bulkhead.State): boolean =>
  state.inFlight >= state.limit && (state.queue === 0 || state.queued >= state.queue)

/**
 * The health of a set of breaker states: `ok` when none is open, half-open or forced open, `unavailable` with
 * those listed otherwise. With bulkhead states, the saturated ones are listed under `saturated`; with rate
 * limiter states, those in `degraded` mode under `degraded`; neither changes `status`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry, BulkheadRegistry } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const check = Effect.map(BreakerRegistry.states, OpsRoutes.healthOf)
 * const withBulkheads = Effect.gen(function*() {
 *   const bulkheads = yield* BulkheadRegistry.BulkheadRegistry
 *   return OpsRoutes.healthOf(yield* BreakerRegistry.states, { bulkheads: yield* bulkheads.states })
 * })
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const healthOf = (
  states: ReadonlyArray<CircuitBreaker.State>,
  admission: {
    readonly bulkheads?: ReadonlyArray<Bulkhead.State> | undefined
    readonly limiters?: ReadonlyArray<RateLimiter.State> | undefined
  } = {}
): typeof Health.Type => {
  const open = states.filter((s) => unhealthyStatuses.includes(s.status)).map((s) => ({
    breaker: s.breaker,
    status: s.status,
    ...(s.retryAfterMillis !== undefined ? { retryAfterMillis: s.retryAfterMillis } : {})
  }))
  const { bulkheads, limiters } = admission
  return {
    status: open.length === 0 ? "ok" : "unavailable",
    breakers: states.length,
    open,
    ...(bulkheads !== undefined
      ? {
        saturated: bulkheads.filter(isSaturated).map((b) => ({
          bulkhead: b.name,
          limit: b.limit,
          inFlight: b.inFlight,
          queued: b.queued,
          queue: b.queue
        }))
      }
      : {}),
    ...(limiters !== undefined
      ? { degraded: limiters.filter((l) => l.mode === "degraded").map((l) => ({ limiter: l.name, limit: l.limit })) }
      : {})
  }
}

/**
 * `GET /health` (or `path`): `200 {"status":"ok","breakers":n,"open":[]}` when no breaker is open;
 * `503 {"status":"unavailable","open":[{breaker,status,retryAfterMillis}]}` with `Retry-After` (the soonest
 * reopening, in seconds) otherwise.
 *
 * With a `BulkheadRegistry` in the context (`ErrorLayer` provides one) the body lists the saturated bulkheads,
 * `"saturated":[{bulkhead,limit,inFlight,queued,queue}]`, and with a `RateLimiterRegistry` the limiters in
 * degraded mode, `"degraded":[{limiter,limit}]`: both are reported, neither makes the answer 503 (a saturated
 * bulkhead is the service shedding load, not failing; a degraded limiter still limits, on its share).
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const App = HttpRouter.serve(OpsRoutes.health()).pipe(Layer.provide(ErrorLayer.layerDefault))
 * ```
 *
 * @since 0.1.0
 * @category routes
 */
export const health = (
  options: { readonly path?: HttpRouter.PathInput | undefined } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | HttpRouter.Request<"Requires", BreakerRegistry.BreakerRegistry>> =>
  HttpRouter.add(
    "GET",
    options.path ?? "/health",
    Effect.gen(function*() {
      const states = yield* BreakerRegistry.states
      const bulkheads = yield* Effect.serviceOption(BulkheadRegistry.BulkheadRegistry)
      const limiters = yield* Effect.serviceOption(RateLimiterRegistry.RateLimiterRegistry)
      const body = healthOf(states, {
        bulkheads: bulkheads._tag === "Some" ? yield* bulkheads.value.states : undefined,
        limiters: limiters._tag === "Some" ? yield* limiters.value.states : undefined
      })
      if (body.status === "ok") return HttpServerResponse.jsonUnsafe(body)
      const waits = body.open.flatMap((o) => (o.retryAfterMillis !== undefined ? [o.retryAfterMillis] : []))
      return HttpServerResponse.jsonUnsafe(body, {
        status: 503,
        headers: waits.length > 0 ? { "retry-after": String(Math.max(1, Math.ceil(Math.min(...waits) / 1000))) } : {}
      })
    })
  )

/**
 * `GET /errors` (or `path`): the error tracker's `Summary` as JSON: totals by severity and tag, rates, recovery
 * outcomes, subscribers and breaker transitions. It carries public messages and codes only, never internal
 * detail.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const App = HttpRouter.serve(OpsRoutes.errors()).pipe(Layer.provide(ErrorLayer.layerDefault))
 * ```
 *
 * @since 0.1.0
 * @category routes
 */
export const errors = (
  options: { readonly path?: HttpRouter.PathInput | undefined } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | HttpRouter.Request<"Requires", ErrorTracker.ErrorTracker>> =>
  HttpRouter.add(
    "GET",
    options.path ?? "/errors",
    Effect.map(ErrorTracker.summary, (summary) => HttpServerResponse.jsonUnsafe(summary))
  )

/**
 * All three endpoints at their default paths.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { HttpEdge, OpsRoutes } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make()
 * const App = HttpRouter.serve(Layer.mergeAll(OpsRoutes.layer, Edge.layer)).pipe(
 *   Layer.provide(ErrorLayer.layerDefault)
 * )
 * ```
 *
 * @since 0.1.0
 * @category routes
 */
export const layer: Layer.Layer<
  never,
  never,
  | HttpRouter.HttpRouter
  | HttpRouter.Request<"Requires", BreakerRegistry.BreakerRegistry>
  | HttpRouter.Request<"Requires", ErrorTracker.ErrorTracker>
> = Layer.mergeAll(metrics(), health(), errors())
