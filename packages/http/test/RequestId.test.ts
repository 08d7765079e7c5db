import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { RequestId } from "@effect-resilience/http"

describe("RequestId", () => {
  it("a well-formed id: 1 to 128 letters, digits and . _ : -", () => {
    for (const ok of ["req-1", "2f1c-req:7", "a.b_c", "x".repeat(RequestId.maxLength)]) {
      assert.isTrue(RequestId.isWellFormed(ok), ok)
    }
    for (const bad of ["", "x".repeat(RequestId.maxLength + 1), "a b", "<script>", "ünïcode", "a\tb", "\"q\""]) {
      assert.isFalse(RequestId.isWellFormed(bad), bad)
    }
  })

  it("an id with a line break is never accepted", () => {
    for (const bad of ["ok\nSet-Cookie: evil=1", "ok\r\n", "\n"]) {
      assert.isFalse(RequestId.isWellFormed(bad))
      assert.notStrictEqual(RequestId.accept(bad), bad)
    }
  })

  it("accept keeps a well-formed id and makes a new one for anything else", () => {
    assert.strictEqual(RequestId.accept("req-1"), "req-1")
    for (const incoming of [undefined, "x".repeat(10_000), "a b"]) {
      const id = RequestId.accept(incoming)
      assert.notStrictEqual(id, incoming)
      assert.isTrue(RequestId.isWellFormed(id))
    }
  })

  it("generate gives a random UUID v4", () => {
    const a = RequestId.generate()
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.notStrictEqual(RequestId.generate(), a)
  })

  it.effect("current is the request's id where the edge set it, a fresh one outside a request", () =>
    Effect.gen(function*() {
      assert.isUndefined(yield* RequestId.CurrentRequestId)
      assert.isTrue(RequestId.isWellFormed(yield* RequestId.current))
      const inside = yield* RequestId.current.pipe(Effect.provideService(RequestId.CurrentRequestId, "req-7"))
      assert.strictEqual(inside, "req-7")
    }))
})
