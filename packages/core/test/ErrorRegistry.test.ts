import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { CommonErrors, ErrorFamily, ErrorRegistry } from "../src/index.js"

class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
  code: "shop.E0001",
  kind: "business"
}) {}
class SameCode extends ErrorFamily.TaggedError<SameCode>()("SameCode", {}, { code: "shop.E0001" }) {}
class SameTag extends ErrorFamily.TaggedError<SameTag>()("StorageError", {}, { code: "shop.E0009" }) {}

describe("ErrorRegistry", () => {
  it("lists the common families and the given ones, sorted by code, and finds them by tag and code", () =>
    Effect.gen(function*() {
      const registry = yield* ErrorRegistry.make([OutOfStock])
      assert.deepStrictEqual(registry.families.map((f) => f.code), [
        ...CommonErrors.families.map((f) => f.family.code),
        "shop.E0001"
      ].sort())
      assert.strictEqual(registry.byTag("OutOfStock")?.code, "shop.E0001")
      assert.strictEqual(registry.byCode("resilience.E0004")?.tag, "StorageError")
      assert.strictEqual(registry.byTag("Nothing"), undefined)
      const alone = yield* ErrorRegistry.make([OutOfStock], { includeCommon: false })
      assert.deepStrictEqual(alone.families.map((f) => f.tag), ["OutOfStock"])
    }).pipe(Effect.runPromise))

  it("a family listed twice is listed once", () =>
    Effect.gen(function*() {
      const registry = yield* ErrorRegistry.make([OutOfStock, OutOfStock, CommonErrors.StorageError])
      assert.strictEqual(registry.families.filter((f) => f.tag === "OutOfStock").length, 1)
      assert.strictEqual(registry.families.length, CommonErrors.families.length + 1)
    }).pipe(Effect.runPromise))

  it("two families with one code, or one tag, fail with a ConfigError naming both, every clash at once", () =>
    Effect.gen(function*() {
      const code = yield* Effect.flip(ErrorRegistry.make([OutOfStock, SameCode]))
      assert.strictEqual(code._tag, "ConfigError")
      assert.deepStrictEqual(code.issues, [
        { path: [], message: "Error code shop.E0001 is declared by both OutOfStock and SameCode" }
      ])
      const tag = yield* Effect.flip(ErrorRegistry.make([SameTag]))
      assert.deepStrictEqual(tag.issues.map((i) => i.message), [
        "Error tag StorageError is declared by two different families (codes resilience.E0004 and shop.E0009)"
      ])
      const both = yield* Effect.flip(ErrorRegistry.make([OutOfStock, SameCode, SameTag]))
      assert.strictEqual(both.issues.length, 2)
    }).pipe(Effect.runPromise))
})
