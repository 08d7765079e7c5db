import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import {
  AnnotationMemo,
  exportable,
  exportAnnotations,
  maxAnnotationLength,
  noAnnotations
} from "../../src/internal/tracker/exportable.js"

describe("tracker annotation export", () => {
  it("keeps JSON values, hides Redacted ones, serialises objects and drops what has no JSON form", () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.deepStrictEqual(
      exportAnnotations({
        requestId: "r-1",
        n: 3,
        ok: true,
        big: 12n,
        token: Redacted.make("s3cret"),
        user: { id: 7 },
        none: null,
        missing: undefined,
        f: () => 1,
        s: Symbol("x"),
        cyclic
      }),
      { requestId: "r-1", n: 3, ok: true, big: "12", token: "<redacted>", user: "{\"id\":7}" }
    )
  })

  it("cuts long strings, the JSON of objects included", () => {
    assert.strictEqual((exportable("x".repeat(5000)) as string).length, maxAnnotationLength)
    assert.strictEqual((exportable({ text: "y".repeat(5000) }) as string).length, maxAnnotationLength)
  })

  it("the memo exports the same annotations object once", () => {
    const memo = new AnnotationMemo()
    const annotations = { requestId: "r-1" }
    const first = memo.of(annotations)
    assert.deepStrictEqual(first, { requestId: "r-1" })
    assert.strictEqual(memo.of(annotations), first)
    const other = memo.of({ requestId: "r-2" })
    assert.notStrictEqual(other, first)
    assert.strictEqual(memo.of(undefined), noAnnotations)
  })
})
