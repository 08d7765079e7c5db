import { assert, describe, it } from "@effect/vitest"
import { Cause, Data } from "effect"
import { Bulkhead, CircuitBreaker, CommonErrors, RateLimiter } from "@effect-resilience/core"
import { ErrorMapping, HttpEdge, ProblemFormat, RequestErrors } from "@effect-resilience/http"

// not a family: an override makes it mappable (the README's example)
class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly reason: string }> {}
class HTTPQuotaExceeded extends Data.TaggedError("HTTPQuotaExceeded")<{}> {}

const request = { path: "/pay", requestId: "r1" }
const typeBase = "https://docs.example.com/problems/"

describe("ErrorMapping: an override for an error that is not a family", () => {
  it("with a code: the code, and the type from typeBase + code (the README's example)", () => {
    const Edge = HttpEdge.make({
      statuses: {
        PaymentDeclined: { status: 402, title: "Payment declined", detail: "The card was declined.", code: "shop.E0402" }
      },
      typeBase
    })
    const problem = Edge.mapping.problem(new PaymentDeclined({ reason: "insufficient funds" }), request)
    assert.deepStrictEqual(ProblemFormat.rfc9457.render(problem), {
      type: "https://docs.example.com/problems/shop.E0402",
      title: "Payment declined",
      status: 402,
      detail: "The card was declined.",
      instance: "/pay",
      code: "shop.E0402",
      requestId: "r1"
    })
  })

  it("without a code: the tag is the code, never the defect code, and the type is typeBase + the tag's slug", () => {
    const mapping = ErrorMapping.make({ statuses: { PaymentDeclined: 402, HTTPQuotaExceeded: 429 }, typeBase })
    const declined = mapping.problem(new PaymentDeclined({ reason: "insufficient funds" }), request)
    assert.deepStrictEqual([declined.status, declined.code, declined.type, declined.tag, declined.title], [
      402,
      "PaymentDeclined",
      "https://docs.example.com/problems/payment-declined",
      "PaymentDeclined",
      "Payment Required"
    ])
    const quota = mapping.problem(new HTTPQuotaExceeded(), request)
    assert.deepStrictEqual([quota.code, quota.type], [
      "HTTPQuotaExceeded",
      "https://docs.example.com/problems/http-quota-exceeded"
    ])
  })

  it("without typeBase the type stays about:blank, and an override's own type wins", () => {
    const plain = ErrorMapping.make({ statuses: { PaymentDeclined: 402 } })
    const declined = plain.problem(new PaymentDeclined({ reason: "x" }), request)
    assert.deepStrictEqual([declined.code, declined.type], ["PaymentDeclined", "about:blank"])
    const typed = ErrorMapping.make({
      statuses: { PaymentDeclined: { status: 402, type: "https://pay.example.com/declined" } },
      typeBase
    })
    const declinedTyped = typed.problem(new PaymentDeclined({ reason: "x" }), request)
    assert.strictEqual(declinedTyped.type, "https://pay.example.com/declined")
  })

  it("leaves defects, unmapped errors, families and effect's TimeoutError as they were", () => {
    const mapping = ErrorMapping.make({ statuses: { PaymentDeclined: 402, StorageError: 502 }, typeBase })
    const defect = mapping.fromCause(Cause.die(new Error("boom")), request)
    assert.deepStrictEqual([defect?.status, defect?.code, defect?.type], [500, "resilience.E0000", "about:blank"])
    const unmapped = mapping.problem(new HTTPQuotaExceeded(), request)
    assert.deepStrictEqual([unmapped.status, unmapped.code, unmapped.type, unmapped.tag], [
      500,
      "resilience.E0000",
      "about:blank",
      "UnknownError"
    ])
    const storage = mapping.problem(new CommonErrors.StorageError({ operation: "save" }), request)
    assert.deepStrictEqual([storage.status, storage.code, storage.type], [
      502,
      "resilience.E0004",
      "https://docs.example.com/problems/resilience.E0004"
    ])
    const timeout = mapping.problem(new Cause.TimeoutError(), request)
    assert.deepStrictEqual([timeout.status, timeout.code], [504, "resilience.E0006"])
  })

  it("slugOf makes a URI segment of a tag", () => {
    assert.strictEqual(ErrorMapping.slugOf("PaymentDeclined"), "payment-declined")
    assert.strictEqual(ErrorMapping.slugOf("HTTPQuotaExceeded"), "http-quota-exceeded")
    assert.strictEqual(ErrorMapping.slugOf("Card_Declined v2"), "card-declined-v2")
    assert.strictEqual(ErrorMapping.slugOf("支払い"), encodeURIComponent("支払い"))
  })
})

describe("ErrorMapping: defaults and overrides", () => {
  it("defaultStatus follows the classification, as its table says", () => {
    const statuses = [
      new CommonErrors.ValidationError({ issues: [] }),
      new RequestErrors.MalformedBodyError({}),
      new CommonErrors.NotFoundError({ resource: "item" }),
      new RequestErrors.RouteNotFoundError({ method: "GET", path: "/x" }),
      new CommonErrors.ConflictError({ resource: "item" }),
      new RequestErrors.PayloadTooLargeError({ limitBytes: 1 }),
      new RequestErrors.UnsupportedMediaTypeError({ received: "text/plain", expected: "application/json" }),
      new CircuitBreaker.BreakerOpenError({ breaker: "db", status: "open", retryAfterMillis: 1 }),
      new CommonErrors.UnavailableError({ service: "bank" }),
      new CommonErrors.TimeoutError({ operation: "x", timeoutMillis: 1 }),
      new Cause.TimeoutError(),
      new CommonErrors.StorageError({ operation: "save" }),
      new Error("boom"),
      new PaymentDeclined({ reason: "x" })
    ].map((error) => ErrorMapping.defaultStatus(error))
    assert.deepStrictEqual(statuses, [400, 400, 404, 404, 409, 413, 415, 503, 503, 504, 504, 503, 500, 500])
    assert.strictEqual(ErrorMapping.defaultStatus(new CommonErrors.ValidationError({ issues: [] }), { validationStatus: 422 }), 422)
  })

  it("overrides set status, title, detail and type per tag; typeBase names problem types by code", () => {
    const mapping = ErrorMapping.make({
      statuses: { StorageError: 502, PaymentDeclined: { status: 402, title: "Payment declined", detail: "Declined." } },
      typeBase,
      validationStatus: 422
    })
    // a tag alone is not a family: the override gives its status, the rest is unclassified
    const storage = mapping.problem({ _tag: "StorageError" }, request)
    assert.strictEqual(storage.status, 502)
    const declined = mapping.problem({ _tag: "PaymentDeclined", message: "card 4242 declined by issuer" }, request)
    assert.deepStrictEqual([declined.status, declined.title, declined.detail, declined.code, declined.type], [
      402,
      "Payment declined",
      "Declined.",
      "PaymentDeclined",
      "https://docs.example.com/problems/payment-declined"
    ])
    const invalid = mapping.problem(new CommonErrors.ValidationError({ issues: [] }), request)
    assert.deepStrictEqual([invalid.status, invalid.type], [422, "https://docs.example.com/problems/resilience.E0001"])
  })

  it("a flood of invalid fields is listed up to a limit, with a bounded detail", () => {
    const issues = Array.from({ length: 100_000 }, (_, i) => ({ path: [i, "name"], message: "Missing key" }))
    const problem = ErrorMapping.make().problem(new CommonErrors.ValidationError({ issues }), request)
    assert.strictEqual(problem.errors?.length, ErrorMapping.limits.errors)
    assert.strictEqual(problem.detail, "The request is invalid: 100000 fields failed; the first 50 are listed.")
    assert.isBelow(JSON.stringify(ProblemFormat.rfc9457.render(problem)).length, 5000)
  })

  it("a rejection carries its Retry-After in seconds, rounded up", () => {
    const mapping = ErrorMapping.make()
    const open = new CircuitBreaker.BreakerOpenError({ breaker: "db", status: "open", retryAfterMillis: 4200 })
    assert.strictEqual(mapping.problem(open, request).retryAfterSeconds, 5)
    const soon = new CommonErrors.UnavailableError({ service: "bank", retryAfterMillis: 10 })
    assert.strictEqual(mapping.problem(soon, request).retryAfterSeconds, 1)
    assert.isUndefined(mapping.problem(new CommonErrors.StorageError({ operation: "save" }), request).retryAfterSeconds)
  })

  it("fromCause maps a cause holding a Die as a defect, whatever typed failures it holds", () => {
    const mapping = ErrorMapping.make()
    const mixed = Cause.combine(
      Cause.fail(new CommonErrors.NotFoundError({ resource: "item", id: "x" })),
      Cause.die(new Error("bug: lost invariant"))
    )
    const problem = mapping.fromCause(mixed, request)
    assert.deepStrictEqual([problem?.status, problem?.code, problem?.tag], [500, "resilience.E0000", "UnknownError"])
    const failOnly = mapping.fromCause(Cause.fail(new CommonErrors.NotFoundError({ resource: "item" })), request)
    assert.strictEqual(failOnly?.status, 404)
    assert.isUndefined(mapping.fromCause(Cause.interrupt(1), request))
  })

  it("isMappable: families, effect's TimeoutError and overridden tags, nothing else", () => {
    const mapping = ErrorMapping.make({ statuses: { PaymentDeclined: 402 } })
    assert.isTrue(mapping.isMappable(new CommonErrors.StorageError({ operation: "save" })))
    assert.isTrue(mapping.isMappable(new Cause.TimeoutError()))
    assert.isTrue(mapping.isMappable(new PaymentDeclined({ reason: "x" })))
    assert.isFalse(mapping.isMappable(new HTTPQuotaExceeded()))
    assert.isFalse(mapping.isMappable(new Error("boom")))
  })

  it("statusOfFamily gives a family's status from its tag and kind, overrides included", () => {
    const mapping = ErrorMapping.make({ statuses: { StorageError: 502 }, businessStatus: 409 })
    assert.strictEqual(mapping.statusOfFamily(CommonErrors.StorageError.family), 502)
    assert.strictEqual(mapping.statusOfFamily(CommonErrors.NotFoundError.family), 404)
    assert.strictEqual(mapping.statusOfFamily({ tag: "OutOfStock", kind: "business" }), 409)
    assert.strictEqual(mapping.statusOfFamily({ tag: "Corrupt", kind: "unrecoverable" }), 500)
  })
})

describe("a client's fault that arrived as a defect, beside a typed failure", () => {
  it("is still the client's fault (400), not a defect (500)", async () => {
    const { clientCauseOf } = await import("../src/internal/clientErrors.js")
    const { HttpServerError, HttpServerRequest } = await import("effect/http")
    const request = HttpServerRequest.fromWeb(new Request("http://localhost/save", { method: "POST" }))
    const parse = new HttpServerError.HttpServerError({
      reason: new HttpServerError.RequestParseError({ request, description: "bad json" })
    })
    const Edge = HttpEdge.make({})
    const cause = Cause.fromReasons<unknown>([
      Cause.makeFailReason(new CommonErrors.NotFoundError({ resource: "item", id: "1" })),
      Cause.makeDieReason(parse)
    ])
    const translated = clientCauseOf(cause, request, undefined)
    assert.deepStrictEqual(translated.reasons.map((r) => r._tag), ["Fail", "Fail"])
    assert.strictEqual((translated.reasons[0] as Cause.Fail<{ _tag: string }>).error._tag, "MalformedBodyError")
    assert.strictEqual(Edge.mapping.fromCause(translated, { path: "/save", requestId: "r" })?.status, 400)
    // whichever comes first, and beside a typed failure that would answer 5xx
    const storageFirst = Cause.fromReasons<unknown>([
      Cause.makeFailReason(new CommonErrors.StorageError({ operation: "save" })),
      Cause.makeDieReason(parse)
    ])
    assert.strictEqual(Edge.mapping.fromCause(clientCauseOf(storageFirst, request, undefined), { path: "/save", requestId: "r" })?.status, 400)
    // a real defect beside them still wins
    const withBug = Cause.fromReasons<unknown>([...cause.reasons, Cause.makeDieReason(new Error("bug"))])
    assert.strictEqual(Edge.mapping.fromCause(clientCauseOf(withBug, request, undefined), { path: "/save", requestId: "r" })?.status, 500)
  })
})

describe("ErrorMapping: admission refusals", () => {
  const limited = new RateLimiter.RateLimitedError({
    limiter: "tenant-limiter",
    key: "tenant-secret-7",
    limit: 100,
    windowMillis: 60_000,
    retryAfterMillis: 1_200
  })
  const full = new Bulkhead.BulkheadFullError({
    bulkhead: "search-internal",
    reason: "queue_timeout",
    limit: 10,
    inFlight: 10,
    queued: 5,
    retryAfterMillis: 250
  })

  it("a rate limit answers 429 Too Many Requests with Retry-After in whole seconds, rounded up", () => {
    const problem = ErrorMapping.make().problem(limited, request)
    assert.deepStrictEqual([problem.status, problem.title, problem.code, problem.retryAfterSeconds], [
      429,
      "Too Many Requests",
      "resilience.E0010",
      2
    ])
    const response = ProblemFormat.toResponse(ProblemFormat.rfc9457, problem)
    assert.strictEqual(response.headers["retry-after"], "2")
  })

  it("a full bulkhead answers 503 with Retry-After of at least 1 second", () => {
    const problem = ErrorMapping.make().problem(full, request)
    assert.deepStrictEqual([problem.status, problem.title, problem.code, problem.retryAfterSeconds], [
      503,
      "Service Unavailable",
      "resilience.E0009",
      1
    ])
    assert.strictEqual(ErrorMapping.defaultStatus(full), 503)
    assert.strictEqual(ErrorMapping.defaultStatus(limited), 429)
  })

  it("the bodies say nothing internal: no key, no limiter or bulkhead name, no figures", () => {
    const mapping = ErrorMapping.make()
    for (const format of [ProblemFormat.rfc9457, ProblemFormat.envelope]) {
      const bodies = [limited, full].map((error) => JSON.stringify(format.render(mapping.problem(error, request))))
      for (const secret of ["tenant-secret-7", "tenant-limiter", "search-internal", "queue_timeout", "60000", "1200"]) {
        for (const body of bodies) assert.notInclude(body, secret)
      }
    }
    assert.deepStrictEqual(
      ProblemFormat.rfc9457.render(mapping.problem(limited, request)),
      {
        type: "about:blank",
        title: "Too Many Requests",
        status: 429,
        detail: "Too many requests. Please try again later.",
        instance: "/pay",
        code: "resilience.E0010",
        requestId: "r1"
      }
    )
  })

  it("their statuses follow overrides, and the families' statuses for API documents", () => {
    const mapping = ErrorMapping.make({ statuses: { RateLimitedError: 503 } })
    assert.strictEqual(mapping.statusOf(limited), 503)
    assert.strictEqual(mapping.problem(limited, request).retryAfterSeconds, 2)
    assert.strictEqual(ErrorMapping.make().statusOfFamily(RateLimiter.RateLimitedError.family), 429)
    assert.strictEqual(ErrorMapping.make().statusOfFamily(Bulkhead.BulkheadFullError.family), 503)
  })

  it("retryAfterSeconds rounds up, at least 1", () => {
    assert.deepStrictEqual([0, 1, 999, 1000, 1001, 59_500].map(ErrorMapping.retryAfterSeconds), [1, 1, 1, 1, 2, 60])
  })
})
