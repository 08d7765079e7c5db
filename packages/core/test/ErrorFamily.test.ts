import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, ErrorReporter, Layer, Redacted, Schema } from "effect"
import { CommonErrors, ErrorFamily, ErrorLayer, ErrorRegistry, Policy } from "../src/index.js"

class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", {
  sku: Schema.String,
  token: Schema.optional(Schema.Redacted(Schema.String))
}, {
  code: "shop.E0001",
  kind: "business",
  severity: "low",
  publicMessage: ({ sku }) => `Item ${sku} is out of stock`
}) {}

class Defaults extends ErrorFamily.TaggedError<Defaults>()("Defaults", {}, { code: "shop.E0002" }) {}

describe("ErrorFamily.TaggedError", () => {
  it("carries its classification, with defaults", () => {
    const e = new OutOfStock({ sku: "A-1" })
    assert.deepStrictEqual([e._tag, e.kind, e.severity, e.code], ["OutOfStock", "business", "low", "shop.E0001"])
    assert.deepStrictEqual(OutOfStock.family, { tag: "OutOfStock", kind: "business", severity: "low", code: "shop.E0001" })
    const d = new Defaults()
    assert.deepStrictEqual([d.kind, d.severity, d.publicMessage], [
      "recoverable",
      "medium",
      "A temporary problem occurred. Please try again later."
    ])
    assert.isTrue(e instanceof Error && e instanceof OutOfStock)
    assert.isTrue(ErrorFamily.isClassified(e))
    assert.isFalse(ErrorFamily.isClassified(new Error("x")))
  })

  it("keeps the public message apart from internal detail", () => {
    const e = new OutOfStock({ sku: "A-1", detail: "stock row 0 in warehouse 7" })
    assert.strictEqual(e.publicMessage, "Item A-1 is out of stock")
    assert.strictEqual(e.message, "stock row 0 in warehouse 7") // logs and Cause.pretty see the detail
    assert.include(Cause.pretty(Cause.fail(e)), "stock row 0 in warehouse 7")
    const view = ErrorFamily.publicView(e)
    assert.deepStrictEqual(view, {
      tag: "OutOfStock",
      code: "shop.E0001",
      kind: "business",
      severity: "low",
      message: "Item A-1 is out of stock"
    })
    assert.notInclude(JSON.stringify(view), "warehouse")
    assert.strictEqual(new OutOfStock({ sku: "B" }).message, "Item B is out of stock")
  })

  it("shows unclassified errors publicly as an internal error, nothing of their own", () => {
    const view = ErrorFamily.publicView(new Error("password=hunter2"))
    assert.deepStrictEqual([view.tag, view.code, view.kind], ["UnknownError", "resilience.E0000", "unrecoverable"])
    assert.notInclude(JSON.stringify(view), "hunter2")
  })

  it.effect("works with catchTag and catchTags", () =>
    Effect.gen(function*() {
      const fail = (n: number): Effect.Effect<string, OutOfStock | CommonErrors.StorageError> =>
        n === 0 ? Effect.fail(new OutOfStock({ sku: "A" })) : Effect.fail(new CommonErrors.StorageError({ operation: "x" }))
      assert.strictEqual(yield* fail(0).pipe(Effect.catchTag("OutOfStock", (e) => Effect.succeed(e.sku))), "A")
      assert.strictEqual(
        yield* fail(1).pipe(Effect.catchTags({ OutOfStock: () => Effect.succeed("a"), StorageError: (e) => Effect.succeed(e.code) })),
        "resilience.E0004"
      )
    }))

  it("round-trips through its Schema to JSON and back, secrets redacted", () => {
    const e = new OutOfStock({ sku: "A-1", detail: "d", token: Redacted.make("s3cret") })
    const json = JSON.stringify(Schema.encodeUnknownSync(OutOfStock)(e))
    assert.notInclude(json, "s3cret")
    const back = Schema.decodeUnknownSync(OutOfStock)(JSON.parse(JSON.stringify(Schema.encodeUnknownSync(OutOfStock)(new OutOfStock({ sku: "A-1", detail: "d" })))))
    assert.isTrue(back instanceof OutOfStock)
    assert.deepStrictEqual([back.sku, back.detail, back.code], ["A-1", "d", "shop.E0001"])
  })

  it("annotates errors for effect's ErrorReporter: business errors are not reported", () => {
    assert.isTrue(ErrorReporter.isIgnored(new OutOfStock({ sku: "A" })))
    assert.isFalse(ErrorReporter.isIgnored(new CommonErrors.StorageError({ operation: "x" })))
    assert.strictEqual(ErrorReporter.getSeverity(new CommonErrors.StorageError({ operation: "x" })), "Error")
  })

  it("infoOf: one description of any error, for logs, tracker, metrics and the edge", () => {
    const family = ErrorFamily.infoOf(new OutOfStock({ sku: "A-1" }))
    assert.deepStrictEqual(family, {
      tag: "OutOfStock",
      code: "shop.E0001",
      kind: "business",
      severity: "low",
      message: "Item A-1 is out of stock",
      classified: true
    })
    // effect's TimeoutError shares the common TimeoutError's tag, policy and code
    const timeout = ErrorFamily.infoOf(new Cause.TimeoutError())
    const ours = ErrorFamily.infoOf(new CommonErrors.TimeoutError({ operation: "x", timeoutMillis: 1 }))
    assert.deepStrictEqual({ ...timeout, classified: true }, ours)
    assert.strictEqual(timeout.classified, false)
    // anything else keeps its own tag, described as an internal error
    assert.deepInclude(ErrorFamily.infoOf({ _tag: "PaymentDeclined" }), {
      tag: "PaymentDeclined",
      code: "resilience.E0000",
      kind: "unrecoverable",
      classified: false
    })
    for (const value of [new Error("boom"), "boom", undefined, null, 42]) {
      const info = ErrorFamily.infoOf(value)
      assert.deepStrictEqual([info.tag, info.code], ["UnknownError", "resilience.E0000"])
      assert.deepStrictEqual(ErrorFamily.publicView(value).message, info.message)
    }
  })

  it("rejects a malformed code at declaration, naming the family", () => {
    assert.throws(
      () => ErrorFamily.TaggedError<{}>()("Bad", {}, { code: "Shop.E1" as ErrorFamily.Code }),
      /ErrorFamily "Bad": code "Shop.E1" is not of the form service.E0001/
    )
  })

  it("builds a ValidationError with per-field issues from a Schema failure", () => {
    const Item = Schema.Struct({ name: Schema.NonEmptyString, tags: Schema.Array(Schema.String) })
    const result = Schema.decodeUnknownExit(Item)({ name: "", tags: ["a", 1] }, { errors: "all" })
    assert.isTrue(result._tag === "Failure")
    const failure = result._tag === "Failure" ? Cause.squash(result.cause) : undefined
    const error = CommonErrors.validationErrorFromSchema(failure as Schema.SchemaError)
    assert.deepStrictEqual(error.issues.map((i) => i.path), [["name"], ["tags", 1]])
    assert.include(error.publicMessage, "name:")
  })
})

describe("ErrorRegistry", () => {
  class SameCode extends ErrorFamily.TaggedError<SameCode>()("SameCode", {}, { code: "shop.E0001" }) {}

  it.effect("lists the common families, yours and those your policies name, sorted by code", () =>
    Effect.gen(function*() {
      const registry = yield* ErrorRegistry.ErrorRegistry
      assert.deepStrictEqual(registry.families.map((f) => f.code), [
        "resilience.E0001",
        "resilience.E0002",
        "resilience.E0003",
        "resilience.E0004",
        "resilience.E0005",
        "resilience.E0006",
        "resilience.E0007",
        "shop.E0001",
        "shop.E0002"
      ])
      assert.strictEqual(registry.byCode("shop.E0001")?.tag, "OutOfStock")
      assert.strictEqual(registry.byTag("Defaults")?.code, "shop.E0002")
    }).pipe(Effect.provide(ErrorLayer.layer({
      logFormat: false,
      errors: [OutOfStock, OutOfStock],
      policies: [Policy.forFamily(Defaults, { maxAttempts: 2 })]
    }))))

  it.effect("a duplicate code fails the layer build with a clear error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(ErrorLayer.layer({ logFormat: false, errors: [OutOfStock, SameCode] })))
      assert.strictEqual(error._tag, "ConfigError")
      assert.strictEqual(error.message, "Invalid options: Error code shop.E0001 is declared by both OutOfStock and SameCode")
    }))

  it.effect("a second family with an existing tag is rejected too", () =>
    Effect.gen(function*() {
      class StorageError extends ErrorFamily.TaggedError<StorageError>()("StorageError", {}, { code: "shop.E0099" }) {}
      const error = yield* Effect.flip(ErrorRegistry.make([StorageError]))
      assert.deepStrictEqual(error.issues.map((i) => i.message), [
        "Error tag StorageError is declared by two different families (codes resilience.E0004 and shop.E0099)"
      ])
    }))
})
