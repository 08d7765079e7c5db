import { assert, describe, it } from "@effect/vitest"
import { ErrorFamily } from "@effect-resilience/core"
import { ErrorMapping, RequestErrors } from "@effect-resilience/http"

describe("RequestErrors", () => {
  it("every family is a business error of low severity, with its own code and status", () => {
    const mapping = ErrorMapping.make()
    assert.deepStrictEqual(
      RequestErrors.families.map((family) => [
        family.family.tag,
        family.family.code,
        family.family.kind,
        family.family.severity,
        mapping.statusOfFamily(family.family)
      ]),
      [
        ["MalformedBodyError", "resilience.E0101", "business", "low", 400],
        ["UnsupportedMediaTypeError", "resilience.E0102", "business", "low", 415],
        ["PayloadTooLargeError", "resilience.E0103", "business", "low", 413],
        ["RouteNotFoundError", "resilience.E0104", "business", "low", 404]
      ]
    )
  })

  it("public messages say what to fix, never the internal detail", () => {
    const malformed = new RequestErrors.MalformedBodyError({ detail: "Unexpected token } in JSON at position 9" })
    assert.strictEqual(malformed.publicMessage, "The request body could not be parsed.")
    assert.strictEqual(ErrorFamily.publicView(malformed).message, "The request body could not be parsed.")
    assert.strictEqual(
      new RequestErrors.PayloadTooLargeError({ limitBytes: 1024 }).publicMessage,
      "The request body is larger than 1024 bytes."
    )
    assert.strictEqual(
      new RequestErrors.UnsupportedMediaTypeError({ received: "text/plain", expected: "application/json" }).publicMessage,
      "Expected a application/json body, got text/plain."
    )
  })

  it("what the client sent is bounded in the public message", () => {
    const none = new RequestErrors.UnsupportedMediaTypeError({ received: "", expected: "application/json" })
    assert.strictEqual(none.publicMessage, "Expected a application/json body, got none.")
    const long = new RequestErrors.UnsupportedMediaTypeError({ received: "x".repeat(10_000), expected: "application/json" })
    assert.isBelow(long.publicMessage.length, 200)
    const route = new RequestErrors.RouteNotFoundError({ method: "GET", path: "/" + "a".repeat(10_000) })
    assert.isBelow(route.publicMessage.length, 250)
    assert.strictEqual(new RequestErrors.RouteNotFoundError({ method: "GET", path: "/nope" }).publicMessage, "No route matches GET /nope.")
  })
})
