/**
 * Operations endpoints, each one line to mount on an `HttpRouter` app:
 *
 * - `GET /metrics`: every effect `Metric` (the project's own included) as Prometheus text, through effect's
 *   `PrometheusMetrics`.
 * - `GET /health`: 200 when no breaker is open, 503 listing the open ones (with `Retry-After`) otherwise; the
 *   saturated bulkheads and the rate limiters deciding alone while their shared store is away are listed too,
 *   without changing the status.
 * - `GET /errors`: the error tracker's summary as JSON.
 * - `GET /events`: the live view (`LiveView`) as Server-Sent Events: a frame of the figures about twice a second,
 *   each breaker transition and alert-worthy error as it happens.
 * - `GET /dashboard`: a page drawing `/events` (one self-contained document: no CDN, no build step, works offline).
 *
 * `/health` needs the `BreakerRegistry`, `/errors` the `ErrorTracker` and `/events` the `LiveView`; `ErrorLayer`
 * provides all three, and the `BulkheadRegistry` and `RateLimiterRegistry` `/health` reads when they are there.
 *
 * **Keeping them private.** These routes tell whoever asks how the service is doing, what fails and how often:
 * serve them on an internal port (a second `HttpRouter.serve` on its own listener, reachable only from the
 * cluster), or behind your own authentication middleware, and give them a bearer token ({@link layerWith} with
 * `token`): every data route then answers 401 without `Authorization: Bearer <token>`. The dashboard page itself
 * holds no data and is served without it; open it as `/dashboard#token=<token>` (the fragment never leaves the
 * browser) and it sends the token with its requests.
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
import { Duration, Effect, Layer, Redacted, Schedule, Schema, Stream } from "effect"
import * as Base64 from "effect/encoding/Base64"
import * as Sse from "effect/encoding/Sse"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import {
  type Bulkhead,
  BreakerRegistry,
  BulkheadRegistry,
  CircuitBreaker,
  ConfigError,
  ConfigReload,
  ErrorTracker,
  LiveView,
  type RateLimiter,
  RateLimiterRegistry
} from "@effect-resilience/core"
import * as Page from "./internal/dashboard/page.js"

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
  options: {
    readonly path?: HttpRouter.PathInput | undefined
    readonly prefix?: string | undefined
    readonly token?: Token | undefined
  } = {}
): Layer.Layer<never, ConfigError.ConfigError, HttpRouter.HttpRouter> =>
  route(
    options.path ?? "/metrics",
    options.token,
    Effect.map(
      PrometheusMetrics.format(options.prefix ? { prefix: options.prefix } : undefined),
      (body) => HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    )
  )

/**
 * A bearer token the ops routes require (`Authorization: Bearer <token>`): a string, or a `Redacted` one (read
 * from `Config.Redacted`, so it is never logged). It must not be empty.
 *
 * @since 0.5.0
 * @category models
 */
export type Token = string | Redacted.Redacted<string>

// one GET route, behind the token when there is one; an empty token fails the layer, naming the option
const route = <E, R>(
  path: HttpRouter.PathInput,
  token: Token | undefined,
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) => {
  if (token === undefined) return HttpRouter.add("GET", path, handler)
  const expected = Redacted.isRedacted(token) ? Redacted.value(token) : token
  if (typeof expected !== "string" || !/^[\x21-\x7e]+$/.test(expected)) {
    return Layer.effectDiscard(Effect.fail(
      new ConfigError.ConfigError({
        issues: [{
          path: ["token"],
          message: expected === "" || typeof expected !== "string" || expected.trim() === ""
            ? "Expected a non-empty bearer token"
            : "Expected a bearer token of visible ASCII characters only (no spaces): a header could not carry it"
        }]
      })
    ))
  }
  return HttpRouter.add(
    "GET",
    path,
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      bearerOf(request.headers["authorization"]) !== undefined &&
        sameText(bearerOf(request.headers["authorization"])!, expected)
        ? handler
        : Effect.succeed(unauthorized))
  )
}

const bearerOf = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header)
  return match === null ? undefined : match[1]
}

// compares in time independent of where the texts differ (only their lengths show)
const sameText = (given: string, expected: string): boolean => {
  let difference = given.length ^ expected.length
  for (let i = 0; i < expected.length; i++) difference |= (given.charCodeAt(i) | 0) ^ expected.charCodeAt(i)
  return difference === 0
}

const unauthorized = HttpServerResponse.jsonUnsafe(
  { type: "about:blank", title: "Unauthorized", status: 401, detail: "These routes need a bearer token." },
  {
    status: 401,
    contentType: "application/problem+json",
    headers: { "www-authenticate": `Bearer realm="ops"`, "cache-control": "no-store" }
  }
)

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
  options: { readonly path?: HttpRouter.PathInput | undefined; readonly token?: Token | undefined } = {}
): Layer.Layer<
  never,
  ConfigError.ConfigError,
  HttpRouter.HttpRouter | HttpRouter.Request<"Requires", BreakerRegistry.BreakerRegistry>
> =>
  route(
    options.path ?? "/health",
    options.token,
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
  options: { readonly path?: HttpRouter.PathInput | undefined; readonly token?: Token | undefined } = {}
): Layer.Layer<
  never,
  ConfigError.ConfigError,
  HttpRouter.HttpRouter | HttpRouter.Request<"Requires", ErrorTracker.ErrorTracker>
> =>
  route(
    options.path ?? "/errors",
    options.token,
    Effect.map(ErrorTracker.summary, (summary) => HttpServerResponse.jsonUnsafe(summary))
  )

/**
 * `GET /rules` (or `path`): the reloadable rules in force and their last change, from `ConfigReload.status`, as
 * JSON: `generation` (0: the layer's own rules), `rules` (each section as the last applied candidate or the layer
 * gave it; values that are code, such as a `Policy.forFamily` entry or a schedule, shown by what they are),
 * `lastApplied` (when, from where, and what changed) and `lastEvent` (the last outcome, a refusal with every
 * problem and its path). Not part of {@link layer}: mount it where a `ConfigReload` is provided.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { ConfigReload, ErrorLayer } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const App = HttpRouter.serve(Layer.merge(OpsRoutes.layer, OpsRoutes.rules())).pipe(
 *   Layer.provide(ConfigReload.layer),
 *   Layer.provideMerge(ErrorLayer.layerDefault)
 * )
 * ```
 *
 * @since 0.6.0
 * @category routes
 */
export const rules = (
  options: { readonly path?: HttpRouter.PathInput | undefined; readonly token?: Token | undefined } = {}
): Layer.Layer<
  never,
  ConfigError.ConfigError,
  HttpRouter.HttpRouter | HttpRouter.Request<"Requires", ConfigReload.ConfigReload>
> =>
  route(
    options.path ?? "/rules",
    options.token,
    Effect.map(ConfigReload.status, (status) =>
      HttpServerResponse.text(JSON.stringify(status, plainValue, 2), {
        contentType: "application/json",
        headers: { "cache-control": "no-store" }
      }))
  )

// rules hold values that are code as well as data: each shown as what it is (a family by its tag, a duration as
// text, a function or schedule by its kind), so the document is plain JSON. The holder's own value is read, as
// JSON.stringify hands the replacer what `toJSON` made of it
const plainValue = function(this: Record<string, unknown>, key: string, given: unknown): unknown {
  const value = key === "" ? given : this[key]
  if (typeof value === "function") {
    const family = (value as { readonly family?: { readonly tag?: unknown } }).family
    return typeof family?.tag === "string" ? `[family ${family.tag}]` : "[function]"
  }
  if (Duration.isDuration(value)) return Duration.format(value)
  if (Schedule.isSchedule(value)) return "[schedule]"
  if (typeof value === "bigint") return String(value)
  return given
}

/**
 * `GET /events` (or `path`): the live view as Server-Sent Events (`text/event-stream`). Each message's `event` is
 * `hello` (first, once), `frame` (about twice a second), `transition`, `alert` or `dropped`, and its `data` one
 * JSON object: the `LiveView.Message` without its `_tag` (a frame's data is its `View`). A comment line is sent
 * every 15 seconds so idle proxies keep the connection. The stream ends when the `LiveView` closes.
 *
 * A client over the view's `maxClients` is answered 503 (with `Retry-After`); one that reads too slowly loses
 * its oldest messages and gets a `dropped` message saying how many: it never holds anything up.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const App = HttpRouter.serve(Layer.mergeAll(OpsRoutes.events(), OpsRoutes.dashboard())).pipe(
 *   Layer.provide(ErrorLayer.layerDefault)
 * )
 * ```
 *
 * @since 0.5.0
 * @category routes
 */
export const events = (
  options: { readonly path?: HttpRouter.PathInput | undefined; readonly token?: Token | undefined } = {}
): Layer.Layer<
  never,
  ConfigError.ConfigError,
  HttpRouter.HttpRouter | HttpRouter.Request<"Requires", LiveView.LiveView>
> =>
  route(
    options.path ?? "/events",
    options.token,
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const { clients, maxClients } = yield* live.stats
      if (clients >= maxClients) {
        return HttpServerResponse.jsonUnsafe(
          { type: "about:blank", title: "Service Unavailable", status: 503, detail: refusedDetail(maxClients) },
          { status: 503, contentType: "application/problem+json", headers: { "retry-after": "5", "cache-control": "no-store" } }
        )
      }
      return HttpServerResponse.stream(Stream.encodeText(sseOf(live.messages)), {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache, no-store", "x-accel-buffering": "no" }
      })
    })
  )

const refusedDetail = (limit: number) =>
  `${limit} ${limit === 1 ? "client is" : "clients are"} watching already (the limit); try again later.`

// each message as SSE text, once: every client gets the same message objects, so the text is kept by message
const texts = new WeakMap<LiveView.Message, string>()
const encoded = (message: LiveView.Message): string => {
  let text = texts.get(message)
  if (text === undefined) {
    const { _tag, ...data } = message
    const payload = _tag === "Frame" ? (data as { readonly view: LiveView.View }).view : data
    text = Sse.encoder.write({ _tag: "Event", event: _tag.toLowerCase(), id: undefined, data: JSON.stringify(payload) })
    texts.set(message, text)
  }
  return text
}

// the messages as SSE text, with a comment every 15 s; a client refused after the check above (a race with
// another) gets one `refused` event, and its stream ends
const sseOf = (messages: Stream.Stream<LiveView.Message, LiveView.LiveViewError>): Stream.Stream<string> =>
  messages.pipe(
    Stream.map(encoded),
    Stream.catchTag("LiveViewError", (error) =>
      Stream.succeed(
        Sse.encoder.write({
          _tag: "Event",
          event: "refused",
          id: undefined,
          data: JSON.stringify({ detail: refusedDetail(error.limit) })
        })
      )),
    Stream.merge(Stream.map(Stream.drop(Stream.tick("15 seconds"), 1), () => ": ping\n\n"), { haltStrategy: "left" })
  )

/**
 * `GET /dashboard` (or `path`): the live dashboard, one self-contained HTML page drawing the stream at `events`
 * (a URL relative to the page, `"events"` by default, so `/ops/dashboard` reads `/ops/events`). It shows a circle
 * per operation (its colour the error rate: green under 1 %, yellow under 5 %, orange under 25 %, red above; its
 * size the traffic) with a two-minute sparkline and p50/p99, a "chaos" badge with the faults a `Chaos` layer
 * injected into it in the view's window by kind (so a rehearsal is not read as an outage), each breaker's state
 * with a countdown while open, bulkhead and limiter gauges, the retry budgets, and the latest error events by tag
 * and severity; with several replicas, the fleet's sum or any one replica.
 *
 * The page is served with a strict `Content-Security-Policy` (only its own script and style run; it connects only
 * to its own origin) and writes every name and message as text, never as markup. It holds no data itself, so it
 * needs no token: with a token on `/events`, open it as `/dashboard#token=<token>`.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * const Ops = Layer.mergeAll(
 *   OpsRoutes.events({ path: "/ops/events" }),
 *   OpsRoutes.dashboard({ path: "/ops/dashboard" })
 * )
 * const App = HttpRouter.serve(Ops).pipe(Layer.provide(ErrorLayer.layerDefault))
 * ```
 *
 * @since 0.5.0
 * @category routes
 */
export const dashboard = (
  options: {
    readonly path?: HttpRouter.PathInput | undefined
    readonly events?: string | undefined
    readonly title?: string | undefined
  } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  HttpRouter.add(
    "GET",
    options.path ?? "/dashboard",
    Effect.map(policy, (csp) =>
      HttpServerResponse.text(Page.html({ events: options.events ?? "events", title: options.title }), {
        contentType: "text/html; charset=utf-8",
        headers: {
          "content-security-policy": csp,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          "x-frame-options": "DENY",
          "cache-control": "no-cache"
        }
      }))
  )

// the page's policy: its own script and style (by hash), connections to its own origin only
// (Web Crypto, which Node, Deno, Bun and workers all have; this package has no platform types, hence the cast)
const subtle = (globalThis as unknown as {
  readonly crypto: { readonly subtle: { digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer> } }
}).crypto.subtle
const policy = Effect.cached(Effect.promise(async () => {
  const hash = async (text: string) =>
    `'sha256-${Base64.encode(new Uint8Array(await subtle.digest("SHA-256", utf8(text))))}'`
  return [
    "default-src 'none'",
    `script-src ${await hash(Page.script)}`,
    `style-src ${await hash(Page.style)}`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join("; ")
})).pipe(Effect.runSync)

// UTF-8 bytes of a string (TextEncoder's job, without the platform types)
const utf8 = (text: string): Uint8Array => {
  const bytes: Array<number> = []
  for (const char of text) {
    const code = char.codePointAt(0)!
    if (code < 0x80) bytes.push(code)
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f))
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f))
    else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 0x3f), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f))
  }
  return new Uint8Array(bytes)
}

/**
 * All five endpoints at their default paths (`/metrics`, `/health`, `/errors`, `/events`, `/dashboard`), with no
 * token; {@link layerWith} takes one.
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
  | HttpRouter.Request<"Requires", LiveView.LiveView>
> = Layer.orDie(Layer.mergeAll(metrics(), health(), errors(), events(), dashboard()))

/**
 * Options of {@link layerWith}: a bearer `token` every data route requires (see {@link Token}), and a `prefix`
 * put before every path (`"/ops"` serves `/ops/metrics`, …, `/ops/dashboard`).
 *
 * @since 0.5.0
 * @category models
 */
export interface Options {
  readonly token?: Token | undefined
  readonly prefix?: `/${string}` | undefined
}

/**
 * All five endpoints, behind a bearer token and/or under a prefix. An empty token fails the layer with a
 * `ConfigError` naming `token`.
 *
 * **Example**
 *
 * ```ts
 * import { Config, Effect, Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { OpsRoutes } from "@effect-resilience/http"
 *
 * // the token from OPS_TOKEN, never logged; the page is then /ops/dashboard#token=<token>
 * const Ops = Layer.unwrap(Effect.map(
 *   Config.Redacted("OPS_TOKEN"),
 *   (token) => OpsRoutes.layerWith({ token, prefix: "/ops" })
 * ))
 * const App = HttpRouter.serve(Ops).pipe(Layer.provide(ErrorLayer.layerDefault))
 * ```
 *
 * @since 0.5.0
 * @category routes
 */
export const layerWith = (options: Options): Layer.Layer<
  never,
  ConfigError.ConfigError,
  | HttpRouter.HttpRouter
  | HttpRouter.Request<"Requires", BreakerRegistry.BreakerRegistry>
  | HttpRouter.Request<"Requires", ErrorTracker.ErrorTracker>
  | HttpRouter.Request<"Requires", LiveView.LiveView>
> => {
  const prefix = options.prefix
  if (prefix !== undefined && !/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/.test(prefix)) {
    return Layer.effectDiscard(Effect.fail(
      new ConfigError.ConfigError({
        issues: [{ path: ["prefix"], message: `Expected a path such as "/ops" (no trailing slash, query or fragment), got ${JSON.stringify(prefix)}` }]
      })
    ))
  }
  const at = (path: `/${string}`) => `${prefix ?? ""}${path}` as HttpRouter.PathInput
  const token = options.token
  return Layer.mergeAll(
    metrics({ path: at("/metrics"), token }),
    health({ path: at("/health"), token }),
    errors({ path: at("/errors"), token }),
    events({ path: at("/events"), token }),
    dashboard({ path: at("/dashboard"), events: "events" })
  )
}
