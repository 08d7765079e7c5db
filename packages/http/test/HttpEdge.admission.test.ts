import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Option } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { TestClock } from "effect/testing"
import { ConfigError, ErrorLayer, protect, RateLimiterRegistry } from "@effect-resilience/core"
import { HttpEdge, OpsRoutes } from "@effect-resilience/http"
import { captureLogs, type Line, readResponse, requestOf, serve } from "./fixtures.js"

// test bodies are read loosely
type Json = any

/** What a test sends: a path, headers, and the address the request comes from (none: the server gave none). */
interface Send {
  readonly path?: string
  readonly headers?: Record<string, string>
  readonly from?: string
}

/**
 * The edge's routes served in-process (`HttpRouter.toHttpEffect`), so the limiter runs on the test's `TestClock`;
 * `services` (an error layer's) are in the context the edge's layer is built in and the requests run in.
 */
const appOf = <E>(
  Edge: HttpEdge.HttpEdge<any>,
  routes: Layer.Layer<never, E, any>,
  services: Context.Context<never> = Context.empty()
) =>
  Effect.gen(function*() {
    const lines: Array<Line> = []
    const app = yield* HttpRouter.toHttpEffect(Layer.mergeAll(routes, Edge.layer)).pipe(Effect.provide(services))
    const send = ({ path = "/items", headers = {}, from }: Send = {}) => {
      const base = requestOf(path, { headers })
      const request = from === undefined ? base : base.modify({ remoteAddress: Option.some(from) })
      return app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, request),
        Effect.provide(services),
        Effect.provide(captureLogs(lines)),
        Effect.flatMap(readResponse)
      ) as Effect.Effect<{ readonly status: number; readonly headers: Headers; readonly text: string }>
    }
    return { send, lines }
  })

/** A route that counts the requests it ran. */
const counted = () => {
  const runs = { count: 0 }
  const route = HttpRouter.add(
    "GET",
    "/items",
    Effect.sync(() => {
      runs.count++
      return HttpServerResponse.jsonUnsafe([])
    })
  )
  return { runs, route }
}

const limiters = (options: RateLimiterRegistry.Options) =>
  Layer.build(ErrorLayer.layer({ logFormat: false, rateLimiters: options }))

describe("HttpEdge rateLimit: the 429", () => {
  it.effect("past the limit: the edge's 429 problem, Retry-After, RateLimit fields, and the route never runs", () =>
    Effect.gen(function*() {
      // 3 per 3 seconds: a token back every second
      const services = yield* limiters({ limiters: { "edge-limiter": { limit: 3, window: "3 seconds" } } })
      const Edge = HttpEdge.make({
        rateLimit: { limiter: "edge-limiter", key: (request) => request.headers["x-api-key"] }
      })
      const { route, runs } = counted()
      const { send, lines } = yield* appOf(Edge, route, services)
      const asTenant = { headers: { "x-api-key": "tenant-secret-7", "x-request-id": "rl-1" } }

      const answered = []
      for (let i = 0; i < 3; i++) answered.push(yield* send(asTenant))
      assert.deepStrictEqual(answered.map((r) => r.status), [200, 200, 200])
      assert.deepStrictEqual(answered.map((r) => r.headers.get("ratelimit-policy")), [
        '"default";q=3;w=3',
        '"default";q=3;w=3',
        '"default";q=3;w=3'
      ])
      // permits left, and the seconds until the key is back to its full limit
      assert.deepStrictEqual(answered.map((r) => r.headers.get("ratelimit")), [
        '"default";r=2;t=1',
        '"default";r=1;t=2',
        '"default";r=0;t=3'
      ])
      assert.strictEqual(runs.count, 3)

      const refused = yield* send(asTenant)
      assert.strictEqual(refused.status, 429)
      assert.strictEqual(refused.headers.get("content-type"), "application/problem+json")
      assert.strictEqual(refused.headers.get("retry-after"), "1")
      assert.strictEqual(refused.headers.get("x-request-id"), "rl-1")
      assert.strictEqual(refused.headers.get("ratelimit-policy"), '"default";q=3;w=3')
      assert.strictEqual(refused.headers.get("ratelimit"), '"default";r=0;t=1')
      const body: Json = JSON.parse(refused.text)
      assert.deepStrictEqual(body, {
        type: "about:blank",
        title: "Too Many Requests",
        status: 429,
        detail: "Too many requests. Please try again later.",
        instance: "/items",
        code: "resilience.E0010",
        requestId: "rl-1"
      })
      // the key (a tenant id here) and the limiter's name stay inside
      assert.notInclude(refused.text, "tenant-secret-7")
      assert.notInclude(refused.text, "edge-limiter")
      assert.strictEqual(runs.count, 3) // the route did not run

      // one line for the refused request, a client's status: INFO, no cause
      const refusedLines = lines.filter((l) => l.annotations.status === 429)
      assert.strictEqual(refusedLines.length, 1)
      assert.deepStrictEqual([refusedLines[0]?.level, refusedLines[0]?.message, refusedLines[0]?.cause], [
        "INFO",
        "GET /items 429 RateLimitedError",
        undefined
      ])
      assert.deepInclude(refusedLines[0]?.annotations, { errorTag: "RateLimitedError", errorCode: "resilience.E0010" })

      // a second later a token is back
      yield* TestClock.adjust("1 second")
      const again = yield* send(asTenant)
      assert.deepStrictEqual([again.status, again.headers.get("ratelimit")], [200, '"default";r=0;t=3'])
      assert.strictEqual(runs.count, 4)
    }))

  it.effect("each client key has its own limit: by remote address by default", () =>
    Effect.gen(function*() {
      const Edge = HttpEdge.make({ rateLimit: { limiter: { limit: 1, window: "1 minute" } } })
      const { route, runs } = counted()
      const { send } = yield* appOf(Edge, route)
      assert.strictEqual((yield* send({ from: "198.51.100.7" })).status, 200)
      assert.strictEqual((yield* send({ from: "198.51.100.7" })).status, 429)
      // another address is untouched, and so are requests with no address (keyed "unknown")
      const other = yield* send({ from: "203.0.113.9" })
      assert.deepStrictEqual([other.status, other.headers.get("ratelimit")], [200, '"default";r=0;t=60'])
      assert.strictEqual((yield* send()).status, 200)
      assert.strictEqual((yield* send()).status, 429)
      assert.strictEqual(runs.count, 3)
    }))

  it.effect("each client key has its own limit: by a key function, undefined lets a request through unlimited", () =>
    Effect.gen(function*() {
      const Edge = HttpEdge.make({
        rateLimit: {
          limiter: { limit: 1, window: "1 minute" },
          key: (request) => (request.url.startsWith("/health") ? undefined : request.headers["x-api-key"] ?? "anonymous")
        }
      })
      const { route, runs } = counted()
      const health = HttpRouter.add("GET", "/health", HttpServerResponse.text("ok"))
      const { send } = yield* appOf(Edge, Layer.mergeAll(route, health))
      assert.strictEqual((yield* send({ headers: { "x-api-key": "a" } })).status, 200)
      assert.strictEqual((yield* send({ headers: { "x-api-key": "a" } })).status, 429)
      assert.strictEqual((yield* send({ headers: { "x-api-key": "b" } })).status, 200)
      assert.strictEqual((yield* send()).status, 200)
      assert.strictEqual((yield* send()).status, 429)
      assert.strictEqual(runs.count, 3)
      for (let i = 0; i < 3; i++) {
        const probe = yield* send({ path: "/health" })
        assert.deepStrictEqual([probe.status, probe.headers.get("ratelimit")], [200, null])
      }
    }))

  it.effect("every limited response carries the fields, an unknown route's 404 included; headers: false drops them", () =>
    Effect.gen(function*() {
      const withFields = yield* appOf(HttpEdge.make({ rateLimit: { limiter: { limit: 5, window: "10 seconds" } } }), counted().route)
      const missing = yield* withFields.send({ path: "/nowhere" })
      assert.deepStrictEqual([missing.status, missing.headers.get("ratelimit-policy"), missing.headers.get("ratelimit")], [
        404,
        '"default";q=5;w=10',
        '"default";r=4;t=2'
      ])
      const quiet = yield* appOf(
        HttpEdge.make({ rateLimit: { limiter: { limit: 1, window: "10 seconds" }, headers: false } }),
        counted().route
      )
      const ok = yield* quiet.send()
      assert.deepStrictEqual([ok.status, ok.headers.get("ratelimit"), ok.headers.get("ratelimit-policy")], [200, null, null])
      const refused = yield* quiet.send()
      assert.deepStrictEqual([refused.status, refused.headers.get("retry-after"), refused.headers.get("ratelimit")], [
        429,
        "10",
        null
      ])
    }))

  it.effect("a window that is not whole seconds leaves w out of the policy", () =>
    Effect.gen(function*() {
      const { send } = yield* appOf(HttpEdge.make({ rateLimit: { limiter: { limit: 2, window: "1500 millis" } } }), counted().route)
      assert.strictEqual((yield* send()).headers.get("ratelimit-policy"), '"default";q=2')
    }))

  it.effect("a key function that throws is a bug: 500, the generic problem, logged with the cause", () =>
    Effect.gen(function*() {
      const Edge = HttpEdge.make({
        rateLimit: {
          limiter: { limit: 1, window: "1 minute" },
          key: () => {
            throw new Error("key lookup broke")
          }
        }
      })
      const { route, runs } = counted()
      const { send, lines } = yield* appOf(Edge, route)
      const res = yield* send()
      assert.strictEqual(res.status, 500)
      assert.strictEqual(JSON.parse(res.text).code, "resilience.E0000")
      assert.notInclude(res.text, "key lookup broke")
      assert.include(lines.find((l) => l.annotations.status === 500)?.cause ?? "", "key lookup broke")
      assert.strictEqual(runs.count, 0)
    }))
})

describe("HttpEdge rateLimit on a real server", () => {
  it("keys by the socket's address: the client sees the fields, then 429 with Retry-After, on the wire", async () => {
    const lines: Array<Line> = []
    // one request an hour: no refill between two requests, whatever the real clock does
    const Edge = HttpEdge.make({ rateLimit: { limiter: { limit: 1, window: "1 hour" } } })
    const { route, runs } = counted()
    const app = await serve(Layer.mergeAll(route, Edge.layer), lines)
    try {
      const first = await fetch(app.url + "/items")
      assert.strictEqual(first.status, 200)
      assert.strictEqual(first.headers.get("ratelimit-policy"), '"default";q=1;w=3600')
      assert.match(first.headers.get("ratelimit") ?? "", /^"default";r=0;t=360\d$/)
      await first.arrayBuffer()
      const second = await fetch(app.url + "/items", { headers: { "x-request-id": "wire-1" } })
      assert.strictEqual(second.status, 429)
      assert.strictEqual(second.headers.get("content-type"), "application/problem+json")
      assert.strictEqual(second.headers.get("x-request-id"), "wire-1")
      const retryAfter = Number(second.headers.get("retry-after"))
      assert.isTrue(retryAfter > 3590 && retryAfter <= 3600, String(retryAfter))
      assert.strictEqual(second.headers.get("ratelimit"), `"default";r=0;t=${retryAfter}`)
      const body: Json = await second.json()
      assert.deepStrictEqual([body.status, body.title, body.code, body.requestId], [
        429,
        "Too Many Requests",
        "resilience.E0010",
        "wire-1"
      ])
      // the default key is the socket's address: 127.0.0.1 (or its IPv6 form), never in the body
      assert.notInclude(JSON.stringify(body), "127.0.0.1")
      assert.strictEqual(runs.count, 1)
      const line = lines.find((l) => l.annotations.requestId === "wire-1" && l.annotations.status !== undefined)
      assert.deepStrictEqual([line?.level, line?.message], ["INFO", "GET /items 429 RateLimitedError"])
    } finally {
      await app.close()
    }
  })
})

describe("HttpEdge rateLimit: the limiter is found when the layer is built", () => {
  const buildError = <ROut, E>(Edge: HttpEdge.HttpEdge<any>, services: Layer.Layer<ROut, E>) =>
    Layer.build(Layer.provide(Edge.layer, Layer.mergeAll(HttpRouter.layer, services))).pipe(
      Effect.scoped,
      Effect.flip
    ) as Effect.Effect<unknown>

  it.effect("a name with no RateLimiterRegistry in the context fails the layer at rateLimit.limiter", () =>
    Effect.gen(function*() {
      const error = yield* buildError(HttpEdge.make({ rateLimit: { limiter: "api" } }), Layer.empty)
      assert.instanceOf(error, ConfigError.ConfigError)
      const issues = (error as ConfigError.ConfigError).issues
      assert.deepStrictEqual(issues.map((i) => i.path), [["rateLimit", "limiter"]])
      assert.match(issues[0]!.message, /^No RateLimiterRegistry to find the rate limiter "api" in/)
    }))

  it.effect("a name the registry has no options of its own for (a misspelt one) fails the layer, even with defaults", () =>
    Effect.gen(function*() {
      const registry = RateLimiterRegistry.layer({ limiters: { api: { limit: 5, window: "1 second" } } })
      const error = yield* buildError(HttpEdge.make({ rateLimit: { limiter: "apj" } }), registry)
      assert.deepStrictEqual((error as ConfigError.ConfigError).issues, [{
        path: ["rateLimit", "limiter"],
        message: `No rate limiter "apj" in the RateLimiterRegistry's limiters: name one configured there`
      }])
      const withDefault = RateLimiterRegistry.layer({ default: { limit: 5, window: "1 second" } })
      const refused = yield* buildError(HttpEdge.make({ rateLimit: { limiter: "apj" } }), withDefault)
      assert.deepStrictEqual((refused as ConfigError.ConfigError).issues.map((i) => i.path), [["rateLimit", "limiter"]])
      // the registry's own name builds
      const ok = Layer.build(Layer.provide(
        HttpEdge.make({ rateLimit: { limiter: "api" } }).layer,
        Layer.mergeAll(HttpRouter.layer, registry)
      )).pipe(Effect.scoped, Effect.exit)
      assert.isTrue(Exit.isSuccess(yield* ok))
    }))

  it.effect("the registry's limiter is the one shared with the program: its figures count the edge's permits", () =>
    Effect.gen(function*() {
      const services = yield* limiters({ limiters: { api: { limit: 2, window: "1 minute" } } })
      const { send } = yield* appOf(HttpEdge.make({ rateLimit: { limiter: "api" } }), counted().route, services)
      yield* send()
      yield* send()
      yield* send()
      const [state] = yield* Effect.provide(RateLimiterRegistry.RateLimiterRegistry.use((r) => r.states), services)
      assert.deepInclude(state, { name: "api", granted: 2, rejected: 1 })
    }))
})

describe("HttpEdge rateLimit: the option is validated with the field named", () => {
  it("unknown keys, wrong types and invalid inline limiter options, each at its path", () => {
    assert.deepStrictEqual(HttpEdge.validate({ rateLimit: { limiter: "api", key: () => "k", headers: false } }), [])
    assert.deepStrictEqual(HttpEdge.validate({ rateLimit: { limiter: { limit: 5, window: "1 second" } } }), [])
    assert.deepStrictEqual(HttpEdge.validate({ rateLimit: { limitr: "api" } } as never), [
      { path: ["rateLimit", "limitr"], message: 'Unknown key "limitr", did you mean "limiter"?' },
      { path: ["rateLimit", "limiter"], message: "Missing key" }
    ])
    assert.deepStrictEqual(
      HttpEdge.validate({ rateLimit: { limiter: 5, key: "x-api-key", headers: "yes" } } as never),
      [
        {
          path: ["rateLimit", "limiter"],
          message: "Expected the name of a limiter of the RateLimiterRegistry or RateLimiter options, got 5"
        },
        { path: ["rateLimit", "key"], message: 'Expected a function from the request to the client\'s key, got "x-api-key"' },
        { path: ["rateLimit", "headers"], message: 'Expected boolean | undefined, got "yes"' }
      ]
    )
    assert.deepStrictEqual(HttpEdge.validate({ rateLimit: { limiter: "" } }).map((i) => i.path), [["rateLimit", "limiter"]])
    // inline limiter options are checked by core's rules, under rateLimit.limiter
    const inline = HttpEdge.validate({ rateLimit: { limiter: { limit: 0, window: "1 second", wiat: 1 } as never } })
    assert.deepStrictEqual(inline.map((i) => i.path), [["rateLimit", "limiter", "wiat"], ["rateLimit", "limiter", "limit"]])
    assert.include(inline[0]!.message, 'did you mean "wait"?')
    assert.strictEqual(inline[1]!.message, "Expected an integer of at least 1, got 0")
    assert.deepStrictEqual(HttpEdge.validate({ rateLimit: "api" } as never).map((i) => i.path), [["rateLimit"]])
  })

  it("an invalid option fails the layer before any limiter is looked up", async () => {
    const exit = await Effect.runPromise(Effect.exit(Layer.build(Layer.provide(
      HttpEdge.make({ rateLimit: { limiter: { limit: 1, window: -1 } } }).layer,
      HttpRouter.layer
    )).pipe(Effect.scoped)))
    const error: Json = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    assert.instanceOf(error, ConfigError.ConfigError)
    assert.deepStrictEqual(error.issues.map((i: Json) => i.path), [["rateLimit", "limiter", "window"]])
  })
})

describe("HttpEdge: a full bulkhead through protect", () => {
  it.effect("answers 503 with Retry-After, logged as a rejection; /health lists it as saturated and stays 200", () =>
    Effect.gen(function*() {
      const services = yield* Layer.build(ErrorLayer.layer({
        logFormat: false,
        bulkheads: { bulkheads: { "search-internal": { limit: 1, retryAfter: "2500 millis" } } }
      }))
      const gate = yield* Deferred.make<void>()
      const Edge = HttpEdge.make()
      const search = HttpRouter.add(
        "GET",
        "/search",
        Edge.handle(
          Deferred.await(gate).pipe(
            protect({ operation: "search", bulkhead: "search-internal" }),
            Effect.as(HttpServerResponse.text("found"))
          )
        )
      )
      const { send, lines } = yield* appOf(Edge, Layer.mergeAll(search, OpsRoutes.health()), services)
      const first = yield* Effect.forkChild(send({ path: "/search" }))
      yield* Effect.yieldNow
      yield* TestClock.adjust("10 millis")

      const refused = yield* send({ path: "/search", headers: { "x-request-id": "bh-1" } })
      assert.strictEqual(refused.status, 503)
      assert.strictEqual(refused.headers.get("content-type"), "application/problem+json")
      assert.strictEqual(refused.headers.get("retry-after"), "3")
      const body: Json = JSON.parse(refused.text)
      assert.deepStrictEqual([body.title, body.code, body.detail, body.requestId], [
        "Service Unavailable",
        "resilience.E0009",
        "The service is busy. Please try again later.",
        "bh-1"
      ])
      assert.notInclude(refused.text, "search-internal")
      // a rejection, not an incident: WARN without the cause
      const line = lines.find((l) => l.annotations.requestId === "bh-1" && l.annotations.status !== undefined)
      assert.deepStrictEqual([line?.level, line?.message, line?.cause], ["WARN", "GET /search 503 BulkheadFullError", undefined])

      const health = yield* send({ path: "/health" })
      assert.strictEqual(health.status, 200)
      const report: Json = JSON.parse(health.text)
      assert.strictEqual(report.status, "ok")
      assert.deepStrictEqual(report.saturated, [
        { bulkhead: "search-internal", limit: 1, inFlight: 1, queued: 0, queue: 0 }
      ])

      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(first)).status, 200)
      assert.deepStrictEqual(JSON.parse((yield* send({ path: "/health" })).text).saturated, [])
    }))
})
