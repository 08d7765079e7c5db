import { assert, describe, it } from "@effect/vitest"
import { Problem } from "@effect-resilience/http"

describe("Problem.pointer", () => {
  it("is a JSON Pointer in URI fragment form; the empty path is the body itself", () => {
    assert.strictEqual(Problem.pointer(["items", 0, "name"]), "#/items/0/name")
    assert.strictEqual(Problem.pointer([]), "#")
  })

  it("escapes ~ and / as RFC 6901 says, and percent-encodes the rest", () => {
    assert.strictEqual(Problem.pointer(["a/b"]), "#/a~1b")
    assert.strictEqual(Problem.pointer(["a~b"]), "#/a~0b")
    assert.strictEqual(Problem.pointer(["prénom", "a b"]), "#/pr%C3%A9nom/a%20b")
    assert.strictEqual(Problem.pointer([Symbol("key")]), "#/key")
  })

  it("a key with a lone surrogate still makes a pointer", () => {
    assert.strictEqual(Problem.pointer(["\ud800", "a"]), "#/%EF%BF%BD/a")
  })
})

describe("Problem.reasonPhrase", () => {
  it("the reason phrase of a status, RFC 9110's", () => {
    assert.deepStrictEqual([400, 413, 422, 503, 504].map(Problem.reasonPhrase), [
      "Bad Request",
      "Content Too Large",
      "Unprocessable Content",
      "Service Unavailable",
      "Gateway Timeout"
    ])
  })

  it("Error for a status it does not know", () => {
    assert.strictEqual(Problem.reasonPhrase(499), "Error")
  })
})
