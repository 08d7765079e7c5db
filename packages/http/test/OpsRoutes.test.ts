import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { HttpRouter, HttpServerRequest } from "effect/http"
import {
  BreakerRegistry,
  type Bulkhead,
  BulkheadRegistry,
  type CircuitBreaker,
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  type RateLimiter
} from "@effect-resilience/core"
import { OpsRoutes } from "@effect-resilience/http"
import { errorLayer, readResponse, requestOf } from "./fixtures.js"

// test bodies are read loosely
type Json = any

/** The ops routes served in-process over the fixtures' error layer (a `storage` breaker opening after 6 failures). */
const ops = Effect.gen(function*() {
  const services = yield* Layer.build(errorLayer)
  const app = yield* HttpRouter.toHttpEffect(OpsRoutes.layer)
  const get = (path: string) =>
    app.pipe(
      Effect.provideService(HttpServerRequest.HttpServerRequest, requestOf(path)),
      Effect.provide(services),
      Effect.flatMap(readResponse)
    )
  return { get, run: <A, E>(effect: Effect.Effect<A, E, ErrorTracker.ErrorTracker | BreakerRegistry.BreakerRegistry>) => Effect.provide(effect, services) }
})

const tripStorage = Effect.gen(function*() {
  const breaker = yield* BreakerRegistry.breaker("storage")
  for (let i = 0; i < 6; i++) {
    yield* Effect.ignore(breaker.execute(Effect.fail(new CommonErrors.StorageError({ operation: "save" }))))
  }
})

describe("OpsRoutes.healthOf", () => {
  const state = (breaker: string, status: CircuitBreaker.Status, retryAfterMillis?: number) =>
    ({ breaker, status, ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {}) }) as CircuitBreaker.State

  it("ok when no breaker is open, half-open or forced open", () => {
    assert.deepStrictEqual(OpsRoutes.healthOf([state("a", "closed"), state("b", "disabled")]), {
      status: "ok",
      breakers: 2,
      open: []
    })
  })

  it("unavailable, listing the unhealthy ones with their wait", () => {
    const health = OpsRoutes.healthOf([
      state("a", "open", 5000),
      state("b", "half_open"),
      state("c", "forced_open"),
      state("d", "closed")
    ])
    assert.deepStrictEqual(health, {
      status: "unavailable",
      breakers: 4,
      open: [
        { breaker: "a", status: "open", retryAfterMillis: 5000 },
        { breaker: "b", status: "half_open" },
        { breaker: "c", status: "forced_open" }
      ]
    })
  })
})

describe("OpsRoutes.healthOf: bulkheads and rate limiters", () => {
  const bulkhead = (name: string, figures: { limit: number; inFlight: number; queued?: number; queue?: number }) =>
    ({
      name,
      queued: 0,
      queue: 0,
      order: "fifo",
      admitted: 0,
      rejected: { full: 0, queue_timeout: 0, evicted: 0 },
      ...figures
    }) as Bulkhead.State
  const limiter = (name: string, mode: RateLimiter.State["mode"]) =>
    ({
      name,
      algorithm: "token-bucket",
      limit: 100,
      windowMillis: 1000,
      mode,
      keys: 1,
      granted: 0,
      rejected: 0,
      waited: 0
    }) as RateLimiter.State

  it("a bulkhead is saturated when every place is taken and its queue, if it has one, is full", () => {
    assert.isTrue(OpsRoutes.isSaturated(bulkhead("a", { limit: 2, inFlight: 2 })))
    assert.isFalse(OpsRoutes.isSaturated(bulkhead("b", { limit: 2, inFlight: 1 })))
    assert.isFalse(OpsRoutes.isSaturated(bulkhead("c", { limit: 2, inFlight: 2, queued: 3, queue: 4 })))
    assert.isTrue(OpsRoutes.isSaturated(bulkhead("d", { limit: 2, inFlight: 2, queued: 4, queue: 4 })))
    // an adaptive limit that just dropped below the calls in flight
    assert.isTrue(OpsRoutes.isSaturated(bulkhead("e", { limit: 3, inFlight: 5 })))
  })

  it("saturated bulkheads and degraded limiters are listed; neither changes the status", () => {
    const health = OpsRoutes.healthOf([], {
      bulkheads: [
        bulkhead("search", { limit: 10, inFlight: 10, queued: 5, queue: 5 }),
        bulkhead("reports", { limit: 2, inFlight: 1 })
      ],
      limiters: [limiter("api", "degraded"), limiter("exports", "shared"), limiter("sms", "local")]
    })
    assert.deepStrictEqual(health, {
      status: "ok",
      breakers: 0,
      open: [],
      saturated: [{ bulkhead: "search", limit: 10, inFlight: 10, queued: 5, queue: 5 }],
      degraded: [{ limiter: "api", limit: 100 }]
    })
    // without the registries, the lists are left out
    assert.deepStrictEqual(OpsRoutes.healthOf([]), { status: "ok", breakers: 0, open: [] })
    // an open breaker still decides the status
    const open = { breaker: "db", status: "open", retryAfterMillis: 1000 } as CircuitBreaker.State
    assert.strictEqual(
      OpsRoutes.healthOf([open], { bulkheads: [bulkhead("search", { limit: 1, inFlight: 1 })] }).status,
      "unavailable"
    )
  })
})

describe("OpsRoutes: the routes", () => {
  it.effect("/health answers 200 with no breaker open, 503 with Retry-After once one opens", () =>
    Effect.gen(function*() {
      const { get, run } = yield* ops
      const ok = yield* get("/health")
      assert.strictEqual(ok.status, 200)
      // ErrorLayer provides the bulkhead and limiter registries: their lists are there, empty
      assert.deepStrictEqual(JSON.parse(ok.text), { status: "ok", breakers: 1, open: [], saturated: [], degraded: [] })
      yield* run(tripStorage)
      const down = yield* get("/health")
      assert.strictEqual(down.status, 503)
      assert.strictEqual(down.headers.get("retry-after"), "60")
      const body: Json = JSON.parse(down.text)
      assert.deepStrictEqual(body.open, [{ breaker: "storage", status: "open", retryAfterMillis: 60_000 }])
    }))

  it.effect("/health lists a saturated bulkhead of the registry and stays 200", () =>
    Effect.gen(function*() {
      const services = yield* Layer.build(ErrorLayer.layer({
        logFormat: false,
        bulkheads: { bulkheads: { reports: { limit: 1, queue: 1 } } }
      }))
      const app = yield* HttpRouter.toHttpEffect(OpsRoutes.health())
      const get = () =>
        app.pipe(
          Effect.provideService(HttpServerRequest.HttpServerRequest, requestOf("/health")),
          Effect.provide(services),
          Effect.flatMap(readResponse)
        )
      const gate = yield* Deferred.make<void>()
      const report = BulkheadRegistry.bulkhead("reports").pipe(
        Effect.flatMap((bulkhead) => bulkhead.execute(Deferred.await(gate))),
        Effect.provide(services)
      )
      const running = yield* Effect.forkChild(report)
      yield* Effect.yieldNow
      // one in flight, the queue's one place free: busy, not saturated
      assert.deepStrictEqual(JSON.parse((yield* get()).text).saturated, [])
      const queued = yield* Effect.forkChild(report)
      yield* Effect.yieldNow
      const res = yield* get()
      assert.strictEqual(res.status, 200)
      assert.deepStrictEqual(JSON.parse(res.text), {
        status: "ok",
        breakers: 0,
        open: [],
        saturated: [{ bulkhead: "reports", limit: 1, inFlight: 1, queued: 1, queue: 1 }],
        degraded: []
      })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(running)
      yield* Fiber.join(queued)
      assert.deepStrictEqual(JSON.parse((yield* get()).text).saturated, [])
    }))

  it.effect("/metrics is Prometheus text with the project's series", () =>
    Effect.gen(function*() {
      const { get } = yield* ops
      const res = yield* get("/metrics")
      assert.strictEqual(res.status, 200)
      const sample =
        /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? -?(\d+(\.\d+)?([eE][-+]?\d+)?|NaN|\+Inf|-Inf)( \d+)?$/
      const bad = res.text.split("\n").filter((l) => l !== "" && !l.startsWith("#") && !sample.test(l))
      assert.deepStrictEqual(bad, [])
      assert.match(res.text, /^resilience_breaker_state\{breaker="storage",state="closed"\} 1$/m)
      assert.match(res.text, /^# TYPE resilience_breaker_calls_total counter$/m)
    }))

  it.effect("/errors is the tracker summary as JSON, public messages and codes only", () =>
    Effect.gen(function*() {
      const { get, run } = yield* ops
      yield* run(ErrorTracker.record(
        new CommonErrors.StorageError({ operation: "save", detail: "pg: ECONNRESET 10.1.2.3 (secret-host)" })
      ))
      const res = yield* get("/errors")
      assert.strictEqual(res.status, 200)
      const body: Json = JSON.parse(res.text)
      assert.strictEqual(body.total, 1)
      assert.isTrue(body.byTag.some((t: Json) => t.tag === "StorageError" && t.code === "resilience.E0004"))
      assert.notInclude(res.text, "ECONNRESET")
      assert.notInclude(res.text, "secret")
    }))

  it.effect("each route takes another path", () =>
    Effect.gen(function*() {
      const services = yield* Layer.build(errorLayer)
      const app = yield* HttpRouter.toHttpEffect(Layer.mergeAll(
        OpsRoutes.health({ path: "/ops/health" }),
        OpsRoutes.errors({ path: "/ops/errors" })
      ))
      const get = (path: string) =>
        app.pipe(
          Effect.provideService(HttpServerRequest.HttpServerRequest, requestOf(path)),
          Effect.provide(services),
          Effect.flatMap(readResponse)
        )
      assert.strictEqual((yield* get("/ops/health")).status, 200)
      assert.strictEqual((yield* get("/ops/errors")).status, 200)
      assert.strictEqual((yield* Effect.flip(get("/health")))._tag, "HttpServerError")
    }))
})
