import { assert, describe, it } from "@effect/vitest"
import { Cause, Data, Effect, ErrorReporter, Layer } from "effect"
import { CircuitBreaker, CommonErrors } from "@effect-resilience/core"
import { ErrorMapping, RequestLog } from "@effect-resilience/http"
import { captureLogs, type Line, requestOf } from "./fixtures.js"

// test bodies are read loosely
type Json = any

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{}> {}

const mapping = ErrorMapping.make({ statuses: { PaymentDeclined: { status: 402, code: "shop.E0402" } } })
const failureOf = (error: unknown, cause: Cause.Cause<unknown> = Cause.fail(error)): RequestLog.Failure => ({
  problem: mapping.problem(error, { path: "/x", requestId: "req-1" }),
  cause,
  error
})

/** Runs `f` with the lines logged and the causes reported captured. */
const capturing = <A>(f: (lines: Array<Line>, reported: Array<Cause.Cause<unknown>>) => Effect.Effect<A>) =>
  Effect.suspend(() => {
    const lines: Array<Line> = []
    const reported: Array<Cause.Cause<unknown>> = []
    const reporter = ErrorReporter.make(({ cause }) => {
      reported.push(cause)
    })
    return f(lines, reported).pipe(
      Effect.provide(Layer.mergeAll(captureLogs(lines), ErrorReporter.layer([reporter])))
    )
  })

describe("RequestLog: redaction", () => {
  it("names are matched normalised and by sensitive stems", () => {
    for (const name of ["newPassword", "refresh_token", "client_secret", "Access-Token", "user[password]", "token[0]", "PWD"]) {
      assert.isTrue(RequestLog.isRedacted(name, RequestLog.defaults.body), name)
    }
    assert.isFalse(RequestLog.isRedacted("page", RequestLog.defaults.query))
    assert.isTrue(RequestLog.isRedacted("IBAN", ["iban"]))
  })

  it("redact copies a value with the named values replaced, at any depth", () => {
    assert.deepStrictEqual(
      RequestLog.redact({ user: "ada", Password: "hunter2", card: { token: "t" }, list: [{ secret: 1 }] }, ["password"]),
      { user: "ada", Password: "<redacted>", card: { token: "<redacted>" }, list: [{ secret: "<redacted>" }] }
    )
  })

  it("keys, strings, arrays, entries and depth are capped", () => {
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i]))
    const logged = RequestLog.redact({ ["x".repeat(500_000)]: 1, many }, []) as Json
    assert.isTrue(Object.keys(logged).every((k) => k.length <= 101))
    assert.strictEqual(Object.keys(logged.many).length, 51)
    assert.strictEqual(logged.many["…"], "10 more keys")
    assert.strictEqual((RequestLog.redact("y".repeat(1000), []) as string).length, 201)
    assert.strictEqual((RequestLog.redact(Array.from({ length: 100 }, (_, i) => i), []) as Array<number>).length, 20)
    let deep: Json = "bottom"
    for (let i = 0; i < 20; i++) deep = { d: deep }
    assert.include(JSON.stringify(RequestLog.redact(deep, [])), "\"…\"")
  })

  it("merge adds names to the defaults", () => {
    const redaction = RequestLog.merge({ body: ["iban"], query: ["session"] })
    assert.isTrue(redaction.body.includes("password") && redaction.body.includes("iban"))
    assert.isTrue(redaction.query.includes("session"))
    assert.deepStrictEqual(redaction.headers, RequestLog.defaults.headers)
  })
})

describe("RequestLog.make: the request line", () => {
  it.effect("an answered request: one INFO line with method, path, query, params, body, status and duration", () =>
    capturing((lines) =>
      Effect.gen(function*() {
        const log = RequestLog.make({ redact: { query: ["session"], body: ["iban"] } })
        const request = requestOf("/items/7?page=2&session=abc&password=p")
        yield* log.answered(request, 200, { requestId: "req-1", params: { id: "7" }, body: { iban: "DE00", n: 1 } }, 12.34567)
        assert.strictEqual(lines.length, 1)
        const [line] = lines
        assert.deepStrictEqual([line?.level, line?.message, line?.cause], ["INFO", "GET /items/7 200", undefined])
        assert.deepStrictEqual(line?.annotations, {
          requestId: "req-1",
          method: "GET",
          path: "/items/7",
          status: 200,
          durationMs: 12.346,
          query: { page: "2", session: "<redacted>", password: "<redacted>" },
          params: { id: "7" },
          body: { iban: "<redacted>", n: 1 }
        })
      })
    ))

  it.effect("a failure: the problem's tag in the message, and the four error keys", () =>
    capturing((lines, reported) =>
      Effect.gen(function*() {
        const log = RequestLog.make()
        const request = requestOf("/items/7")
        yield* log.answered(request, 404, { requestId: "r", failure: failureOf(new CommonErrors.NotFoundError({ resource: "item" })) }, 1)
        // an override's code is the one the client saw; kind and severity are the error's own
        yield* log.answered(request, 402, { requestId: "r", failure: failureOf(new PaymentDeclined()) }, 1)
        assert.deepStrictEqual(lines.map((l) => [l.level, l.message]), [
          ["INFO", "GET /items/7 404 NotFoundError"],
          ["INFO", "GET /items/7 402 PaymentDeclined"]
        ])
        assert.deepInclude(lines[0]?.annotations, {
          errorTag: "NotFoundError",
          errorCode: "resilience.E0002",
          kind: "business",
          severity: "low"
        })
        assert.deepInclude(lines[1]?.annotations, {
          errorTag: "PaymentDeclined",
          errorCode: "shop.E0402",
          kind: "unrecoverable",
          severity: "high"
        })
        assert.strictEqual(reported.length, 0) // 4xx are not reported
      })
    ))

  it.effect("a 5xx failure is logged at ERROR with its cause and reported once; a rejection at WARN without it", () =>
    capturing((lines, reported) =>
      Effect.gen(function*() {
        const log = RequestLog.make()
        const request = requestOf("/save", { method: "POST" })
        const storage = new CommonErrors.StorageError({ operation: "save", detail: "pg: ECONNRESET" })
        yield* log.answered(request, 503, { requestId: "r", failure: failureOf(storage) }, 1)
        const open = new CircuitBreaker.BreakerOpenError({ breaker: "db", status: "open", retryAfterMillis: 1000 })
        yield* log.answered(request, 503, { requestId: "r", failure: failureOf(open) }, 1)
        // a defect: the generic problem, kind and severity of an unknown error
        const defect = Cause.die(new Error("lost invariant"))
        const answeredDefect: RequestLog.Failure = {
          problem: mapping.problem(undefined, { path: "/save", requestId: "r" }),
          cause: defect,
          error: undefined
        }
        yield* log.answered(request, 500, { requestId: "r", failure: answeredDefect }, 1)
        assert.deepStrictEqual(lines.map((l) => [l.level, l.message, l.cause !== undefined]), [
          ["ERROR", "POST /save 503 StorageError", true],
          ["WARN", "POST /save 503 BreakerOpenError", false],
          ["ERROR", "POST /save 500 UnknownError", true]
        ])
        assert.include(lines[0]?.cause ?? "", "ECONNRESET")
        assert.deepInclude(lines[2]?.annotations, {
          errorTag: "UnknownError",
          errorCode: "resilience.E0000",
          kind: "unrecoverable",
          severity: "high"
        })
        assert.strictEqual(reported.length, 3)
      })
    ))

  it.effect("rejectionTags and rejectionLogLevel; logRequests off keeps only 5xx; logHeaders adds redacted headers", () =>
    capturing((lines) =>
      Effect.gen(function*() {
        class QuotaExceeded extends Data.TaggedError("QuotaExceeded")<{}> {}
        const log = RequestLog.make({
          rejectionTags: ["QuotaExceeded"],
          rejectionLogLevel: "Info",
          logRequests: false,
          logHeaders: true
        })
        const request = requestOf("/x", { headers: { authorization: "Bearer t0k", "x-tenant": "a" } })
        const quota = new QuotaExceeded()
        const failure: RequestLog.Failure = {
          problem: { ...mapping.problem(quota, { path: "/x", requestId: "r" }), status: 503 },
          cause: Cause.fail(quota),
          error: quota
        }
        yield* log.answered(request, 200, { requestId: "r" }, 1)
        yield* log.answered(request, 404, { requestId: "r", failure: failureOf(new CommonErrors.NotFoundError({ resource: "x" })) }, 1)
        yield* log.answered(request, 503, { requestId: "r", failure }, 1)
        assert.deepStrictEqual(lines.map((l) => [l.level, l.annotations.status]), [["INFO", 503]])
        assert.deepInclude(lines[0]?.annotations.headers as Json, { authorization: "<redacted>", "x-tenant": "a" })
      })
    ))

  it.effect("a route parameter under a redacted name is redacted in the path too", () =>
    capturing((lines) =>
      Effect.gen(function*() {
        yield* RequestLog.make().answered(requestOf("/reset/s3cr3t"), 404, { requestId: "r", params: { token: "s3cr3t" } }, 1)
        assert.strictEqual(lines[0]?.message, "GET /reset/<redacted> 404")
        assert.deepStrictEqual(lines[0]?.annotations.params, { token: "<redacted>" })
        assert.notInclude(JSON.stringify(lines), "s3cr3t")
      })
    ))

  it.effect("a 5xx left to effect keeps its cause on the line; a bare 5xx is a warning", () =>
    capturing((lines, reported) =>
      Effect.gen(function*() {
        const log = RequestLog.make()
        yield* log.answered(requestOf("/api"), 500, { requestId: "r", unanswered: Cause.die(new Error("encode")) }, 1)
        yield* log.answered(requestOf("/api"), 502, { requestId: "r" }, 1)
        assert.deepStrictEqual(lines.map((l) => [l.level, l.cause !== undefined]), [["ERROR", true], ["WARN", false]])
        assert.strictEqual(reported.length, 0) // effect reported the first itself
      })
    ))

  it.effect("an interrupted request: status 499, message 'interrupted'", () =>
    capturing((lines) =>
      Effect.gen(function*() {
        yield* RequestLog.make().interrupted(requestOf("/slow?x=1"), { requestId: "gone" }, 2000)
        assert.strictEqual(lines[0]?.message, "GET /slow interrupted")
        assert.deepStrictEqual(lines[0]?.annotations, {
          requestId: "gone",
          method: "GET",
          path: "/slow",
          status: 499,
          durationMs: 2000
        })
      })
    ))
})

describe("RequestLog.make: a failure answered without the middleware", () => {
  it.effect("refused (4xx), failed (5xx, with the cause, reported), rejected (a rejection)", () =>
    capturing((lines, reported) =>
      Effect.gen(function*() {
        const log = RequestLog.make()
        const request = requestOf("/x")
        yield* log.failure(request, failureOf(new CommonErrors.NotFoundError({ resource: "x" })))
        yield* log.failure(request, failureOf(new CommonErrors.StorageError({ operation: "save" })))
        yield* log.failure(
          request,
          failureOf(new CircuitBreaker.BreakerOpenError({ breaker: "db", status: "open", retryAfterMillis: 1 }))
        )
        assert.deepStrictEqual(lines.map((l) => [l.level, l.message, l.cause !== undefined]), [
          ["INFO", "GET /x refused: 404 NotFoundError", false],
          ["ERROR", "GET /x failed: 503 StorageError", true],
          ["WARN", "GET /x rejected: 503 BreakerOpenError", false]
        ])
        assert.deepInclude(lines[1]?.annotations, {
          requestId: "req-1",
          errorTag: "StorageError",
          errorCode: "resilience.E0004",
          kind: "recoverable",
          severity: "high"
        })
        assert.strictEqual(reported.length, 2)
      })
    ))
})

describe("RequestLog.defaultRejectionTags", () => {
  it("the refusals of an open breaker, a full bulkhead and a rate limiter are rejections by default", () => {
    assert.deepStrictEqual(RequestLog.defaultRejectionTags, ["BreakerOpenError", "BulkheadFullError", "RateLimitedError"])
  })
})
