import { assert, describe, it } from "@effect/vitest"
import { inspect } from "node:util"
import { Cause, ConfigProvider, Effect, Layer, Redacted, Schema } from "effect"
import { TestConsole } from "effect/testing"
import { CommonErrors, ErrorFamily, ErrorLogger } from "../src/index.js"

class Leaky extends ErrorFamily.TaggedError<Leaky>()("Leaky", {
  account: Schema.String,
  apiKey: Schema.Redacted(Schema.String)
}, {
  code: "test.E0201",
  severity: "high"
}) {}

const secretError = () =>
  new Leaky({ account: "acct-42", apiKey: Redacted.make("sk-live-123"), detail: "upstream said 401" })
const logOne = ErrorLogger.make("billing").log("Error", "charge failed", secretError(), {
  attempt: 2,
  operation: "charge",
  withCause: true,
  annotations: { password: Redacted.make("hunter2") }
})

// what a terminal would show: console arguments formatted as console.log formats them
const show = (arg: unknown) => (typeof arg === "string" ? arg : inspect(arg, { depth: 5 }))
const printed = Effect.map(
  TestConsole.logLines,
  (lines) => lines.map((l) => (Array.isArray(l) ? l.map(show).join(" ") : show(l))).join("\n")
)

describe("ErrorLogger", () => {
  it.effect("JSON lines when LOG_FORMAT=json, annotated with module, tag, code, severity and attempt", () =>
    Effect.gen(function*() {
      yield* logOne
      const lines = yield* TestConsole.logLines
      assert.strictEqual(lines.length, 1)
      const record = JSON.parse(String(lines[0]))
      assert.strictEqual(record.level, "ERROR")
      assert.strictEqual(record.message, "charge failed")
      assert.deepInclude(record.annotations, {
        module: "billing",
        errorTag: "Leaky",
        errorCode: "test.E0201",
        severity: "high",
        kind: "recoverable",
        attempt: 2,
        operation: "charge"
      })
      assert.deepStrictEqual(record.annotations.errorFields, { account: "acct-42", apiKey: "<redacted>" })
    }).pipe(Effect.provide(ErrorLogger.layer().pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ LOG_FORMAT: "json" })))
    ))))

  it.effect("Redacted fields never print, in JSON or pretty lines", () =>
    Effect.gen(function*() {
      yield* logOne.pipe(Effect.provide(ErrorLogger.layer({ format: "json" })))
      yield* logOne.pipe(Effect.provide(ErrorLogger.layer({ format: "pretty" })))
      const out = yield* printed
      assert.include(out, "upstream said 401") // internal detail does reach the logs
      assert.strictEqual(out.split("acct-42").length - 1, 2) // the error's fields print in both lines...
      assert.strictEqual(out.split("<redacted>").length - 1, 4) // ...its Redacted field and annotation do not
      assert.notInclude(out, "sk-live-123")
      assert.notInclude(out, "hunter2")
    }))

  it.effect("pretty output is the default", () =>
    Effect.gen(function*() {
      yield* ErrorLogger.make("shop").log("Warn", "slow", new CommonErrors.TimeoutError({ operation: "x", timeoutMillis: 5 }))
      const out = yield* printed
      assert.include(out, "WARN")
      assert.match(out, /errorCode:\s+resilience\.E0006/)
      assert.match(out, /module:\s+shop/)
      assert.throws(() => JSON.parse(out))
    }).pipe(Effect.provide(ErrorLogger.layer().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))))))

  it.effect("an unknown LOG_FORMAT fails the layer with a ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(ErrorLogger.layer().pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ LOG_FORMAT: "xml" })))
      )))
      assert.strictEqual(error._tag, "ConfigError")
    }))

  it("annotationsOf: every error gets the four keys, as ErrorFamily.infoOf describes it", () => {
    assert.deepStrictEqual(ErrorLogger.annotationsOf(secretError()), {
      errorTag: "Leaky",
      errorCode: "test.E0201",
      kind: "recoverable",
      severity: "high"
    })
    // effect's own TimeoutError reads as the common TimeoutError
    assert.deepStrictEqual(ErrorLogger.annotationsOf(new Cause.TimeoutError()), {
      errorTag: "TimeoutError",
      errorCode: "resilience.E0006",
      kind: "recoverable",
      severity: "medium"
    })
    // a tagged error that is not a family keeps its tag; anything untagged is an UnknownError
    const unknown = { errorCode: "resilience.E0000", kind: "unrecoverable", severity: "high" }
    assert.deepStrictEqual(ErrorLogger.annotationsOf({ _tag: "PaymentDeclined" }), {
      errorTag: "PaymentDeclined",
      ...unknown
    })
    assert.deepStrictEqual(ErrorLogger.annotationsOf(new TypeError("x")), { errorTag: "UnknownError", ...unknown })
    assert.deepStrictEqual(ErrorLogger.annotationsOf("boom"), { errorTag: "UnknownError", ...unknown })
  })

  it("annotationsOfInfo builds the same keys from an error already described", () => {
    const error = new CommonErrors.NotFoundError({ resource: "item" })
    assert.deepStrictEqual(
      ErrorLogger.annotationsOfInfo(ErrorFamily.publicView(error)),
      ErrorLogger.annotationsOf(error)
    )
  })

  it.effect("an unclassified error's line carries the four keys and its fields", () =>
    Effect.gen(function*() {
      yield* ErrorLogger.make("shop").log("Error", "failed", new TypeError("bad input"), { withCause: true })
      const record = JSON.parse(String((yield* TestConsole.logLines)[0]))
      assert.deepInclude(record.annotations, {
        module: "shop",
        errorTag: "UnknownError",
        errorCode: "resilience.E0000",
        kind: "unrecoverable",
        severity: "high"
      })
      assert.notProperty(record.annotations, "errorFields")
      assert.include(JSON.stringify(record.cause), "bad input") // the class and message are in the cause
    }).pipe(Effect.provide(ErrorLogger.layer({ format: "json" }))))
})
