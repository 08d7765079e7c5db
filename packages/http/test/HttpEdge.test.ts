import { connect } from "node:net"
import { afterAll, assert, beforeAll, beforeEach, describe, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { TestClock } from "effect/testing"
import { CircuitBreaker, CommonErrors, ConfigError } from "@effect-resilience/core"
import { HttpEdge, OpsRoutes, ProblemFormat, RequestId } from "@effect-resilience/http"
import { captureLogs, FlakyStore, type Line, makeApp, requestOf, serve } from "./fixtures.js"

// test bodies are read loosely
type Json = any

const lines: Array<Line> = []
const store = new FlakyStore()
let server: Awaited<ReturnType<typeof serve>>

beforeAll(async () => {
  server = await serve(makeApp(store).Routes, lines)
})
afterAll(() => server.close())
beforeEach(async () => {
  store.failNext = 0
  store.down = false
  await server.run(server.registry.breaker("storage").reset)
  lines.length = 0
})

const post = (path: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
  fetch(server.url + path, { method: "POST", body, headers })
const get = (path: string, headers: Record<string, string> = {}) => fetch(server.url + path, { headers })
const problemOf = async (res: Response): Promise<Json> => {
  assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
  const body: Json = await res.json()
  // the body's status is always the real status, and the body's request id the header's
  assert.strictEqual(body.status, res.status)
  assert.strictEqual(body.requestId, res.headers.get("x-request-id"))
  return body
}
/** The request line the middleware logged for a request id. */
const requestLine = (requestId: string) =>
  lines.find((l) => l.annotations.requestId === requestId && l.annotations.status !== undefined)
const internals = [/secret/i, /ECONNRESET/, /\/srv\//, /\bat\s+\S+\s*\(/, /stack/i, /\.ts:\d+/]
const assertNothingInternal = (text: string) => {
  for (const pattern of internals) assert.notMatch(text, pattern)
}

describe("HttpEdge on a real server: the notes' three", () => {
  it("a save that succeeds after retries answers 200 {result: ok}", async () => {
    store.failNext = 2
    const res = await post("/save", JSON.stringify({ id: "a", name: "apple", quantity: 3 }))
    assert.strictEqual(res.status, 200)
    assert.deepStrictEqual(await res.json(), { result: "ok" })
    assert.strictEqual(store.items.get("a")?.name, "apple")
    assert.strictEqual(store.writes >= 3, true)
  })

  it("a save whose storage keeps failing answers 503 with the storage error's code, nothing internal", async () => {
    store.down = true
    const res = await post("/save", JSON.stringify({ id: "b", name: "banana", quantity: 1 }))
    assert.strictEqual(res.status, 503)
    const text = await res.clone().text()
    const body = await problemOf(res)
    assert.deepStrictEqual(
      { code: body.code, title: body.title, type: body.type, instance: body.instance },
      { code: "resilience.E0004", title: "Service Unavailable", type: "about:blank", instance: "/save" }
    )
    assert.strictEqual(body.detail, "A storage operation failed. Please try again later.")
    assertNothingInternal(text)
    // the 5xx is logged at ERROR with the full cause (internal detail included) and the request id
    const line = requestLine(body.requestId)
    assert.strictEqual(line?.level, "ERROR")
    assert.include(line?.cause ?? "", "ECONNRESET")
    // the error keys every error line carries
    assert.deepInclude(line?.annotations, {
      errorTag: "StorageError",
      errorCode: "resilience.E0004",
      kind: "recoverable",
      severity: "high"
    })
  })

  it("a save with missing or invalid fields answers 400 with one errors entry per bad field", async () => {
    const res = await post("/save", JSON.stringify({ id: "c", quantity: -1 }))
    assert.strictEqual(res.status, 400)
    const body = await problemOf(res)
    assert.strictEqual(body.code, "resilience.E0001")
    assert.deepStrictEqual(
      [...body.errors].sort((a: Json, b: Json) => a.pointer.localeCompare(b.pointer)),
      [
        { pointer: "#/name", detail: "Missing key" },
        { pointer: "#/quantity", detail: "Expected a value greater than or equal to 0" }
      ]
    )
    assert.isFalse(store.items.has("c"))
    // 4xx: logged at INFO
    assert.strictEqual(requestLine(body.requestId)?.level, "INFO")
  })
})

describe("HttpEdge: the other statuses", () => {
  it("an unknown id answers 404 with the not-found code, not retried", async () => {
    const res = await get("/items/nope")
    const body = await problemOf(res)
    assert.deepStrictEqual([res.status, body.code, body.detail, body.instance], [
      404,
      "resilience.E0002",
      "item nope was not found",
      "/items/nope"
    ])
  })

  it("an open breaker answers 503 with Retry-After; /health lists it until it closes", async () => {
    store.down = true
    const save = () => post("/save", JSON.stringify({ id: "d", name: "date", quantity: 1 }))
    // 3 attempts per request, the breaker opens on the 6th consecutive failure
    assert.strictEqual((await problemOf(await save())).code, "resilience.E0004")
    assert.strictEqual((await problemOf(await save())).code, "resilience.E0004")
    const writes = store.writes
    const rejected = await save()
    const body = await problemOf(rejected)
    assert.strictEqual(rejected.status, 503)
    assert.strictEqual(body.code, "resilience.E0008")
    assert.strictEqual(rejected.headers.get("retry-after"), "60")
    assert.strictEqual(store.writes, writes) // rejected without touching storage
    // a fast rejection is not an incident: WARN, without the cause; the failures before it stay ERROR
    const rejectedLine = requestLine(body.requestId)
    assert.deepStrictEqual([rejectedLine?.level, rejectedLine?.cause], ["WARN", undefined])
    assert.strictEqual(rejectedLine?.message, "POST /save 503 BreakerOpenError")
    assert.deepStrictEqual(
      lines.filter((l) => l.annotations.status === 503).map((l) => l.level),
      ["ERROR", "ERROR", "WARN"]
    )
    const health = await get("/health")
    assert.strictEqual(health.status, 503)
    assert.strictEqual(health.headers.get("retry-after"), "60")
    const healthBody: Json = await health.json()
    assert.deepStrictEqual([healthBody.status, healthBody.breakers], ["unavailable", 1])
    assert.deepStrictEqual(healthBody.open.map((o: Json) => [o.breaker, o.status]), [["storage", "open"]])
    assert.isTrue(healthBody.open[0].retryAfterMillis > 59_000 && healthBody.open[0].retryAfterMillis <= 60_000)
  })

  it("a handler that dies answers 500 with a generic problem, logs the full cause and counts it", async () => {
    const before: Json = await (await get("/errors")).json()
    const res = await get("/defect")
    assert.strictEqual(res.status, 500)
    const text = await res.clone().text()
    const body = await problemOf(res)
    assert.deepStrictEqual([body.code, body.title, body.detail], [
      "resilience.E0000",
      "Internal Server Error",
      "An internal error occurred."
    ])
    assertNothingInternal(text)
    const line = requestLine(body.requestId)
    assert.strictEqual(line?.level, "ERROR")
    assert.include(line?.cause ?? "", "secret-token-123")
    const after: Json = await (await get("/errors")).json()
    assert.strictEqual(after.total, before.total + 1)
  })

  it("a route not wrapped by handle that dies still answers with a problem", async () => {
    const res = await get("/raw-defect")
    assert.strictEqual(res.status, 500)
    const text = await res.clone().text()
    assert.strictEqual((await problemOf(res)).code, "resilience.E0000")
    assertNothingInternal(text)
  })

  it("an unknown route answers 404 with a problem and a request id", async () => {
    const res = await get("/nowhere?x=1", { "x-request-id": "trace-404" })
    const body = await problemOf(res)
    assert.deepStrictEqual([res.status, body.code, body.requestId, body.instance], [
      404,
      "resilience.E0104",
      "trace-404",
      "/nowhere"
    ])
  })

  it("malformed JSON answers 400, a wrong content type 415, an oversized body 413", async () => {
    const malformed = await post("/save", "{\"id\": \"e\",")
    assert.deepStrictEqual([malformed.status, (await problemOf(malformed)).code], [400, "resilience.E0101"])
    const text = await post("/save", JSON.stringify({ id: "e", name: "x", quantity: 1 }), { "content-type": "text/plain" })
    const textBody = await problemOf(text)
    assert.deepStrictEqual([text.status, textBody.code], [415, "resilience.E0102"])
    assert.strictEqual(textBody.detail, "Expected a application/json body, got text/plain.")
    const none = await post("/save", "{}", {})
    assert.strictEqual(none.status, 415)
    const big = JSON.stringify({ id: "e", name: "x".repeat(10_000), quantity: 1 })
    const tooLarge = await post("/save", big)
    assert.deepStrictEqual([tooLarge.status, (await problemOf(tooLarge)).code], [413, "resilience.E0103"])
    // without Content-Length (chunked), the limit is enforced while reading
    const chunked = await fetch(server.url + "/save", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(big))
          controller.close()
        }
      }),
      duplex: "half"
    } as RequestInit)
    assert.deepStrictEqual([chunked.status, (await problemOf(chunked)).code], [413, "resilience.E0103"])
    assert.isFalse(store.items.has("e"))
  })
})

describe("HttpEdge: request ids", () => {
  it("a well-formed incoming id is used everywhere: header, body, log lines, handlers", async () => {
    const res = await get("/request-id", { "x-request-id": "abc-123:xyz" })
    assert.strictEqual(res.headers.get("x-request-id"), "abc-123:xyz")
    assert.strictEqual(await res.text(), "abc-123:xyz")
    store.failNext = 1
    const saved = await post("/save", JSON.stringify({ id: "f", name: "fig", quantity: 1 }), {
      "content-type": "application/json",
      "x-request-id": "save-1"
    })
    assert.strictEqual(saved.headers.get("x-request-id"), "save-1")
    // the retry's log line (from protect, inside the handler) carries the request id too
    const ofRequest = lines.filter((l) => l.annotations.requestId === "save-1")
    assert.isAtLeast(ofRequest.length, 2)
    assert.isTrue(ofRequest.some((l) => l.annotations.status === 200))
    assert.isTrue(ofRequest.some((l) => l.annotations.status === undefined))
  })

  it("a malicious or oversized id is replaced, never echoed", async () => {
    for (const bad of ["x".repeat(10_000), "<script>alert(1)</script>", "a b", "ünïcode", "a\tb", ""]) {
      const res = await get("/items/nope", { "x-request-id": bad })
      const id = res.headers.get("x-request-id") ?? ""
      assert.notStrictEqual(id, bad)
      assert.isTrue(RequestId.isWellFormed(id))
      const text = await res.text()
      if (bad.length > 0) assert.notInclude(text, bad)
    }
  })

  it("a folded header line never reaches a response (node refuses it before the edge runs)", async () => {
    const url = new URL(server.url)
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write("GET /request-id HTTP/1.1\r\nHost: x\r\nX-Request-Id: ok\r\n\tSet-Cookie: evil=1\r\nConnection: close\r\n\r\n")
      })
      let data = ""
      socket.on("data", (chunk) => (data += chunk.toString()))
      socket.on("end", () => resolve(data))
      socket.on("error", reject)
    })
    assert.notInclude(raw, "evil")
    assert.notInclude(raw.toLowerCase(), "set-cookie")
  })
})

describe("HttpEdge: the request log", () => {
  it("one INFO line per request: method, path, query, route params, status, duration; secrets redacted", async () => {
    const res = await get("/items/zz?page=2&password=hunter2&token=t0k", { "x-request-id": "log-1" })
    assert.strictEqual(res.status, 404)
    // exactly one line for the request (effect's own "Sent HTTP response" line is off)
    assert.strictEqual(lines.filter((l) => l.annotations.requestId === "log-1" && l.annotations.status !== undefined).length, 1)
    assert.isFalse(lines.some((l) => String(l.message).includes("Sent HTTP response")))
    const line = requestLine("log-1")
    assert.strictEqual(line?.level, "INFO")
    assert.strictEqual(line?.message, "GET /items/zz 404 NotFoundError")
    const a = line?.annotations ?? {}
    assert.deepStrictEqual([a.method, a.path, a.status], ["GET", "/items/zz", 404])
    assert.deepStrictEqual([a.errorTag, a.errorCode, a.kind, a.severity], [
      "NotFoundError",
      "resilience.E0002",
      "business",
      "low"
    ])
    assert.deepStrictEqual(a.query, { page: "2", password: "<redacted>", token: "<redacted>" })
    assert.deepStrictEqual(a.params, { id: "zz" })
    assert.isTrue(typeof a.durationMs === "number" && a.durationMs >= 0)
    assert.notInclude(JSON.stringify(lines), "hunter2")
  })

  it("body keys named as sensitive are redacted", async () => {
    const body = "{\"id\":\"g\",\"name\":\"grape\",\"quantity\":1,\"password\":\"hunter2\",\"nested\":{\"token\":\"t\"}," +
      "\"__proto__\":{\"secret\":\"hunter2\"}}"
    await post("/save", body, { "content-type": "application/json", "x-request-id": "log-2" })
    const line = requestLine("log-2")
    const logged = line?.annotations.body as Json
    // a `__proto__` key stays a plain entry, and is redacted like any other
    assert.strictEqual(
      JSON.stringify(logged),
      '{"id":"g","name":"grape","quantity":1,"password":"<redacted>","nested":{"token":"<redacted>"},' +
        '"__proto__":{"secret":"<redacted>"}}'
    )
    assert.notInclude(JSON.stringify(lines), "hunter2")
  })
})

describe("HttpEdge: the problem's instance", () => {
  it("a 15 kB path comes back as a bounded instance, never echoed in full", async () => {
    const long = "/items/" + "a".repeat(15_000)
    const res = await get(long)
    const body = await problemOf(res)
    assert.strictEqual(res.status, 404)
    assert.isAtMost(body.instance.length, 1000)
    assert.isTrue(body.instance.startsWith("/items/aaaa"))
    assert.isTrue(body.instance.endsWith("%E2%80%A6"), body.instance.slice(-20))
    assert.isAtMost(body.detail.length, 1000)
    assert.isBelow(JSON.stringify(body).length, 2500)
  })

  it("a cut never splits a percent escape", async () => {
    for (let pad = 0; pad < 3; pad++) {
      const res = await get("/items/" + "b".repeat(980 + pad) + "%C3%A9".repeat(100))
      const instance: string = (await problemOf(res)).instance
      assert.isAtMost(instance.length, 1000)
      assert.match(instance, /^\/items\/b+(%C3%A9)*(%C3)?%E2%80%A6$/)
    }
  })
})

describe("HttpEdge: the request log, hard cases", () => {
  it("a route parameter under a sensitive name is redacted in the logged path too", async () => {
    await get("/reset/s3cr3t-reset-token", { "x-request-id": "log-3" })
    const line = requestLine("log-3")
    assert.strictEqual(line?.annotations.path, "/reset/<redacted>")
    assert.deepStrictEqual(line?.annotations.params, { token: "<redacted>" })
    assert.notInclude(JSON.stringify(lines), "s3cr3t")
  })

  it.effect("a request interrupted before it is answered (the client went away) is logged, as interrupted", () =>
    Effect.gen(function*() {
      const captured: Array<Line> = []
      const Edge = HttpEdge.make()
      const app = yield* HttpRouter.toHttpEffect(Layer.mergeAll(
        HttpRouter.add("GET", "/slow", Edge.handle(Effect.as(Effect.sleep("10 seconds"), HttpServerResponse.empty()))),
        Edge.layer
      ))
      const fiber = yield* app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, requestOf("/slow", { headers: { "x-request-id": "gone-1" } })),
        Effect.provide(captureLogs(captured)),
        Effect.forkChild
      )
      yield* TestClock.adjust("2 seconds") // the handler sleeps 10 seconds
      yield* Fiber.interrupt(fiber)
      const line = captured.find((l) => l.annotations.requestId === "gone-1")
      assert.strictEqual(line?.message, "GET /slow interrupted")
      assert.deepInclude(line?.annotations, { status: 499, method: "GET", path: "/slow", durationMs: 2000 })
    }))
})

describe("HttpEdge: formats, overrides and options", () => {
  it("the envelope format changes every body without touching handlers", async () => {
    const envelopeLines: Array<Line> = []
    const other = await serve(makeApp(new FlakyStore(), { format: ProblemFormat.envelope }).Routes, envelopeLines)
    try {
      const res = await fetch(other.url + "/items/nope", { headers: { "x-request-id": "env-1" } })
      assert.strictEqual(res.headers.get("content-type"), "application/json")
      assert.deepStrictEqual(await res.json(), {
        error: { code: "resilience.E0002", message: "item nope was not found", request_id: "env-1", status: 404 }
      })
    } finally {
      await other.close()
    }
  })

  it("handle without the middleware still applies the edge's body limit", async () => {
    const Edge = HttpEdge.make({ maxBodyBytes: 100 })
    const { handler, dispose } = HttpRouter.toWebHandler(
      HttpRouter.add("POST", "/x", Edge.handle(Effect.as(HttpEdge.json(Schema.Unknown), HttpServerResponse.empty()))),
      { disableLogger: true }
    )
    try {
      const res = await handler(new Request("http://localhost/x", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ a: "x".repeat(1000) })
      }))
      assert.deepStrictEqual([res.status, ((await res.json()) as Json).code], [413, "resilience.E0103"])
    } finally {
      await dispose()
    }
  })

  it("an unknown key is refused with its path and the nearest known name", async () => {
    const loaded = { validationStatuss: 422, maxBodyBytes: 10 } as HttpEdge.Options
    assert.deepStrictEqual(HttpEdge.validate(loaded), [
      { path: ["validationStatuss"], message: 'Unknown key "validationStatuss", did you mean "validationStatus"?' }
    ])
    const exit = await Effect.runPromise(
      Effect.exit(Layer.build(Layer.provide(HttpEdge.make(loaded).layer, HttpRouter.layer)).pipe(Effect.scoped))
    )
    const error: Json = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    assert.instanceOf(error, ConfigError.ConfigError)
    assert.include(
      error.message,
      'validationStatuss: Unknown key "validationStatuss", did you mean "validationStatus"?'
    )
    // nested keys too, and a key near no known name gets no suggestion
    const nested = {
      statuses: { PaymentDeclined: { status: 402, titel: "Declined" } },
      redact: { header: ["x-secret"] },
      LogRequests: false,
      zzz: 1
    } as HttpEdge.Options
    const messages = HttpEdge.validate(nested).map((i) => i.message)
    assert.deepStrictEqual([messages[0], messages[2], messages[3]], [
      'Unknown key "LogRequests", did you mean "logRequests"?',
      'Unknown key "titel", did you mean "title"?',
      'Unknown key "header", did you mean "headers"?'
    ])
    assert.match(messages[1]!, /^Unknown key "zzz", expected one of "[a-zA-Z]+"(, "[a-zA-Z]+")+$/)
    assert.deepStrictEqual(HttpEdge.validate(nested).map((i) => i.path), [
      ["LogRequests"],
      ["zzz"],
      ["statuses", "PaymentDeclined", "titel"],
      ["redact", "header"]
    ])
    // every documented option is known
    assert.deepStrictEqual(
      HttpEdge.validate({
        statuses: { PaymentDeclined: { status: 402, title: "t", type: "https://x/p", detail: "d", code: "shop.E0402" } },
        validationStatus: 400,
        businessStatus: 422,
        typeBase: "https://x/",
        format: ProblemFormat.rfc9457,
        redact: { headers: [], query: [], body: [] },
        maxBodyBytes: 1,
        requestIdHeader: "x-id",
        logRequests: true,
        logHeaders: false,
        rejectionTags: ["QuotaExceeded"],
        rejectionLogLevel: "Info",
        rateLimit: { limiter: "api", key: () => "k", headers: true }
      }),
      []
    )
    assert.deepStrictEqual(
      HttpEdge.validate({ rejectionTags: "BreakerOpenError", rejectionLogLevel: "Loud" } as never).map((i) => i.path),
      [["rejectionTags"], ["rejectionLogLevel"]]
    )
    // options that are not an object at all
    assert.deepStrictEqual(HttpEdge.validate(null as never), [{ path: [], message: "Expected object, got null" }])
  })

  it("invalid options fail the middleware layer with every problem named, before serving", async () => {
    const reserved = await Effect.runPromise(Effect.flip(Layer.build(Layer.provide(
      HttpEdge.make({ requestIdHeader: "Content-Type" }).layer,
      HttpRouter.layer
    )).pipe(Effect.scoped)))
    assert.deepStrictEqual(reserved.issues.map((i) => i.path), [["requestIdHeader"]])
    const Edge = HttpEdge.make({
      statuses: { Teapot: 200, Other: { status: 404, code: "nope" as never } },
      maxBodyBytes: 0,
      validationStatus: 401 as never,
      requestIdHeader: "bad header",
      format: { name: "half" } as never
    })
    const exit = await Effect.runPromise(Effect.exit(Layer.build(Layer.provide(Edge.layer, HttpRouter.layer)).pipe(Effect.scoped)))
    assert.isTrue(Exit.isFailure(exit))
    const error: Json = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    assert.strictEqual(error.error._tag, "ConfigError")
    assert.deepStrictEqual(error.error.issues, [
      { path: ["statuses", "Teapot"], message: "Expected an error status (an integer from 400 to 599), got 200" },
      { path: ["statuses", "Other", "code"], message: 'Expected a code such as service.E0001, got "nope"' },
      { path: ["validationStatus"], message: "Expected 400 | 422, got 401" },
      { path: ["format"], message: "Expected a ProblemFormat (contentType, render, schema)" },
      { path: ["maxBodyBytes"], message: "Expected a positive integer, got 0" },
      { path: ["requestIdHeader"], message: 'Expected a header name, got "bad header"' }
    ])
    assert.include(error.error.message, "statuses.Teapot: Expected an error status (an integer from 400 to 599), got 200")
  })

  it("handle without the middleware still answers with a problem and a request id", async () => {
    const Edge = HttpEdge.make()
    const { handler, dispose } = HttpRouter.toWebHandler(
      HttpRouter.add("GET", "/x", Edge.handle(Effect.die("boom"))),
      { disableLogger: true }
    )
    try {
      const res = await handler(new Request("http://localhost/x", { headers: { "x-request-id": "solo" } }))
      assert.strictEqual(res.status, 500)
      assert.deepStrictEqual([res.headers.get("x-request-id"), ((await res.json()) as Json).requestId], ["solo", "solo"])
    } finally {
      await dispose()
    }
  })
})

class QuotaExceeded extends Data.TaggedError("QuotaExceeded")<{}> {}

describe("HttpEdge: rejections are logged below failures", () => {
  const breakerOpen = new CircuitBreaker.BreakerOpenError({ breaker: "db", status: "open", retryAfterMillis: 5000 })
  const routesOf = (Edge: HttpEdge.HttpEdge<"QuotaExceeded">, middleware = true) =>
    Layer.mergeAll(
      HttpRouter.add("GET", "/open", Edge.handle(Effect.fail(breakerOpen))),
      HttpRouter.add("GET", "/quota", Edge.handle(Effect.fail(new QuotaExceeded()))),
      HttpRouter.add(
        "GET",
        "/storage",
        Edge.handle(Effect.fail(new CommonErrors.StorageError({ operation: "save", detail: "pg: ECONNRESET" })))
      ),
      // a rejection together with a defect is not only a rejection
      HttpRouter.add(
        "GET",
        "/mixed",
        Edge.handle(Effect.failCause(Cause.combine(Cause.fail(breakerOpen), Cause.die(new Error("lost invariant")))))
      ),
      middleware ? Edge.layer : Layer.empty
    )
  const levels = async (Edge: HttpEdge.HttpEdge<"QuotaExceeded">, middleware = true) => {
    const captured: Array<Line> = []
    const app = await serve(routesOf(Edge, middleware), captured)
    try {
      const out: Record<string, [string | undefined, boolean, number]> = {}
      for (const path of ["/open", "/quota", "/storage", "/mixed"]) {
        const res = await fetch(app.url + path)
        const id = res.headers.get("x-request-id")
        await res.arrayBuffer()
        const line = captured.find((l) => l.annotations.requestId === id && String(l.message).includes(path))
        out[path] = [line?.level, line?.cause !== undefined, res.status]
      }
      return out
    } finally {
      await app.close()
    }
  }

  it("by default a breaker rejection is WARN without its cause; a real failure stays ERROR with it", async () => {
    assert.deepStrictEqual(await levels(HttpEdge.make({ statuses: { QuotaExceeded: 503 } })), {
      "/open": ["WARN", false, 503],
      "/quota": ["ERROR", true, 503],
      "/storage": ["ERROR", true, 503],
      "/mixed": ["ERROR", true, 500]
    })
  })

  it("rejectionTags adds rejections and rejectionLogLevel sets their level", async () => {
    const Edge = HttpEdge.make({
      statuses: { QuotaExceeded: 503 },
      rejectionTags: ["QuotaExceeded"],
      rejectionLogLevel: "Info"
    })
    assert.deepStrictEqual(await levels(Edge), {
      "/open": ["INFO", false, 503],
      "/quota": ["INFO", false, 503],
      "/storage": ["ERROR", true, 503],
      "/mixed": ["ERROR", true, 500]
    })
  })

  it("without the middleware, handle logs rejections at the same level", async () => {
    assert.deepStrictEqual(await levels(HttpEdge.make({ statuses: { QuotaExceeded: 503 } }), false), {
      "/open": ["WARN", false, 503],
      "/quota": ["ERROR", true, 503],
      "/storage": ["ERROR", true, 503],
      "/mixed": ["ERROR", true, 500]
    })
  })
})

describe("HttpEdge: a defect is never hidden behind a typed failure", () => {
  // Fail(NotFoundError) together with Die(Error("bug")): the typed failure alone would answer 404 and drop the bug
  const mixed = Cause.combine(
    Cause.fail(new CommonErrors.NotFoundError({ resource: "item", id: "x" })),
    Cause.die(new Error("bug: lost invariant"))
  )
  const check = async (middleware: boolean) => {
    const Edge = HttpEdge.make()
    const captured: Array<Line> = []
    const app = await serve(
      Layer.mergeAll(
        HttpRouter.add("GET", "/mixed", Edge.handle(Effect.failCause(mixed))),
        middleware ? Edge.layer : Layer.empty,
        OpsRoutes.layer
      ),
      captured
    )
    try {
      const before: Json = await (await fetch(app.url + "/errors")).json()
      const res = await fetch(app.url + "/mixed", { headers: { "x-request-id": `mixed-${middleware}` } })
      assert.strictEqual(res.status, 500)
      const body: Json = await res.json()
      assert.deepStrictEqual([body.code, body.title, body.detail], [
        "resilience.E0000",
        "Internal Server Error",
        "An internal error occurred."
      ])
      assert.notInclude(JSON.stringify(body), "bug")
      const line = captured.find((l) =>
        l.annotations.requestId === `mixed-${middleware}` && String(l.message).includes("/mixed")
      )
      assert.strictEqual(line?.level, "ERROR")
      assert.include(line?.cause ?? "", "bug: lost invariant")
      assert.include(line?.cause ?? "", "NotFoundError")
      const after: Json = await (await fetch(app.url + "/errors")).json()
      assert.strictEqual(after.total, before.total + 1)
    } finally {
      await app.close()
    }
  }

  it("with the middleware: 500, the defect problem, logged at ERROR with the cause and reported", () => check(true))
  it("without the middleware: handle answers and logs it the same", () => check(false))
})
