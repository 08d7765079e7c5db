import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Schema } from "effect"
import { CommonErrors, ErrorFamily } from "../src/index.js"

describe("CommonErrors", () => {
  it("the seven families carry the codes, kinds and severities the README lists", () => {
    assert.deepStrictEqual(
      CommonErrors.families.map((f) => [f.family.tag, f.family.code, f.family.kind, f.family.severity]),
      [
        ["ValidationError", "resilience.E0001", "business", "low"],
        ["NotFoundError", "resilience.E0002", "business", "low"],
        ["ConflictError", "resilience.E0003", "business", "medium"],
        ["StorageError", "resilience.E0004", "recoverable", "high"],
        ["NetworkError", "resilience.E0005", "recoverable", "medium"],
        ["TimeoutError", "resilience.E0006", "recoverable", "medium"],
        ["UnavailableError", "resilience.E0007", "recoverable", "high"]
      ]
    )
  })

  it("each instance keeps its internal detail out of its public view", () => {
    const error = new CommonErrors.StorageError({ operation: "items.save", detail: "pg: ECONNRESET 10.0.0.7" })
    assert.strictEqual(error.message, "pg: ECONNRESET 10.0.0.7")
    const view = ErrorFamily.publicView(error)
    assert.deepInclude(view, { tag: "StorageError", code: "resilience.E0004", kind: "recoverable", severity: "high" })
    assert.notInclude(JSON.stringify(view), "10.0.0.7")
  })

  it("TimeoutError has the tag of effect's Cause.TimeoutError, so one catchTag handles both", () =>
    Effect.gen(function*() {
      const ours = yield* Effect.fail(new CommonErrors.TimeoutError({ operation: "x", timeoutMillis: 5 })).pipe(
        Effect.catchTag("TimeoutError", () => Effect.succeed("caught"))
      )
      const effects = yield* Effect.fail(new Cause.TimeoutError()).pipe(
        Effect.catchTag("TimeoutError", () => Effect.succeed("caught"))
      )
      assert.deepStrictEqual([ours, effects], ["caught", "caught"])
    }).pipe(Effect.runPromise))

  it("validationErrorFromSchema lists one issue per failing field, with its path", () => {
    const Item = Schema.Struct({ id: Schema.NonEmptyString, quantity: Schema.Int })
    const exit = Schema.decodeUnknownExit(Item)({ id: "", quantity: 1.5 }, { errors: "all" })
    assert.isTrue(exit._tag === "Failure")
    if (exit._tag !== "Failure") return
    const reason = exit.cause.reasons.find(Cause.isFailReason)
    const error = CommonErrors.validationErrorFromSchema(reason!.error as Schema.SchemaError)
    assert.deepStrictEqual(error.issues.map((i) => i.path).sort(), [["id"], ["quantity"]])
    assert.match(error.publicMessage, /^The request is invalid: /)
  })
})
