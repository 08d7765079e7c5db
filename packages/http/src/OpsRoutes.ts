/**
 * Operations endpoints, each one line to mount on an `HttpRouter` app:
 *
 * - `GET /metrics`: every effect `Metric` (the project's own included) as Prometheus text, through effect's
 *   `PrometheusMetrics`.
 * - `GET /health`: 200 when no breaker is open, 503 listing the open ones (with `Retry-After`) otherwise.
 * - `GET /errors`: the error tracker's summary as JSON.
 *
 * `/health` needs the `BreakerRegistry` and `/errors` the `ErrorTracker`; `ErrorLayer` provides both.
 *
 * **Gotchas**
 *
 * - `/health` answers 503 while any breaker is half-open or forced open too, not only open: see
 *   {@link unhealthyStatuses}.
 * - `/metrics` serves every metric of the process, not only this project's `resilience_*` series.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { BreakerRegistry, CircuitBreaker, ErrorTracker } from "@effect-resilience/core"

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
  }))
})

/**
 * The health of a set of breaker states: `ok` when none is open, half-open or forced open, `unavailable` with
 * those listed otherwise.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const check = Effect.map(BreakerRegistry.states, OpsRoutes.healthOf)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const healthOf = (states: ReadonlyArray<CircuitBreaker.State>): typeof Health.Type => {
  const open = states.filter((s) => unhealthyStatuses.includes(s.status)).map((s) => ({
    breaker: s.breaker,
    status: s.status,
    ...(s.retryAfterMillis !== undefined ? { retryAfterMillis: s.retryAfterMillis } : {})
  }))
  return { status: open.length === 0 ? "ok" : "unavailable", breakers: states.length, open }
}

/**
 * `GET /health` (or `path`): `200 {"status":"ok","breakers":n,"open":[]}` when no breaker is open;
 * `503 {"status":"unavailable","open":[{breaker,status,retryAfterMillis}]}` with `Retry-After` (the soonest
 * reopening, in seconds) otherwise.
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
    Effect.map(BreakerRegistry.states, (states) => {
      const body = healthOf(states)
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
