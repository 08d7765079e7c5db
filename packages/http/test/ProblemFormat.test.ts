import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { HttpServerResponse } from "effect/http"
import { type Problem, ProblemFormat } from "@effect-resilience/http"

const notFound: Problem.Problem = {
  status: 404,
  type: "about:blank",
  title: "Not Found",
  detail: "item 42 was not found",
  instance: "/items/42",
  code: "resilience.E0002",
  tag: "NotFoundError",
  requestId: "req-1"
}
const invalid: Problem.Problem = {
  ...notFound,
  status: 400,
  title: "Bad Request",
  detail: "The request is invalid.",
  code: "resilience.E0001",
  tag: "ValidationError",
  errors: [{ pointer: "#/name", detail: "Missing key" }]
}

describe("ProblemFormat.rfc9457", () => {
  it("renders the RFC 9457 members and the extensions, never the tag", () => {
    assert.deepStrictEqual(ProblemFormat.rfc9457.render(notFound), {
      type: "about:blank",
      title: "Not Found",
      status: 404,
      detail: "item 42 was not found",
      instance: "/items/42",
      code: "resilience.E0002",
      requestId: "req-1"
    })
    assert.deepStrictEqual((ProblemFormat.rfc9457.render(invalid) as { errors?: unknown }).errors, [
      { pointer: "#/name", detail: "Missing key" }
    ])
    // an empty list is left out
    assert.notProperty(ProblemFormat.rfc9457.render({ ...invalid, errors: [] }), "errors")
  })

  it("its schema describes what it renders, with the status fixed", () => {
    const decode = Schema.decodeUnknownSync(ProblemFormat.rfc9457.schema(400))
    assert.deepStrictEqual(decode(ProblemFormat.rfc9457.render(invalid)), ProblemFormat.rfc9457.render(invalid))
    assert.throws(() => decode(ProblemFormat.rfc9457.render(notFound))) // status 404, not 400
  })
})

describe("ProblemFormat.envelope", () => {
  it("renders {error: {code, message, request_id, status}}, with details for invalid fields", () => {
    assert.deepStrictEqual(ProblemFormat.envelope.render(invalid), {
      error: {
        code: "resilience.E0001",
        message: "The request is invalid.",
        request_id: "req-1",
        status: 400,
        details: [{ pointer: "#/name", detail: "Missing key" }]
      }
    })
    assert.strictEqual(ProblemFormat.envelope.contentType, "application/json")
    const decode = Schema.decodeUnknownSync(ProblemFormat.envelope.schema(404))
    assert.deepStrictEqual(decode(ProblemFormat.envelope.render(notFound)), ProblemFormat.envelope.render(notFound))
  })
})

describe("ProblemFormat.toResponse", () => {
  it.effect("status, body in the format's content type, request id header, and Retry-After for a rejection", () =>
    Effect.gen(function*() {
      const response = ProblemFormat.toResponse(ProblemFormat.rfc9457, {
        ...notFound,
        status: 503,
        title: "Service Unavailable",
        code: "resilience.E0008",
        tag: "BreakerOpenError",
        retryAfterSeconds: 5
      }, "x-trace")
      const web = HttpServerResponse.toWeb(response)
      assert.strictEqual(web.status, 503)
      assert.strictEqual(web.headers.get("content-type"), "application/problem+json")
      assert.strictEqual(web.headers.get("retry-after"), "5")
      assert.strictEqual(web.headers.get("x-trace"), "req-1")
      const body = yield* Effect.promise(() => web.json())
      assert.deepInclude(body, { status: 503, code: "resilience.E0008", requestId: "req-1" })
      // no Retry-After without one
      const plain = HttpServerResponse.toWeb(ProblemFormat.toResponse(ProblemFormat.envelope, notFound))
      assert.isNull(plain.headers.get("retry-after"))
      assert.strictEqual(plain.headers.get("x-request-id"), "req-1")
      assert.strictEqual(plain.headers.get("content-type"), "application/json")
    }))
})
