// Chaos rules as data: a JSON document or a Config turns chaos on, scopes it and picks its faults (a typed failure
// named by its error family's tag, decoded by that family's Schema), with every problem named at once.
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Chaos, CommonErrors, ConfigError, ErrorFamily, ErrorLayer, Policy, protect } from "../src/index.js"

const { NetworkError, StorageError } = CommonErrors

class PaymentDeclined extends ErrorFamily.TaggedError<PaymentDeclined>()("PaymentDeclined", { reason: Schema.String }, {
  code: "shop.E0042",
  kind: "business",
  severity: "low"
}) {}

const Base = ErrorLayer.layer({
  logFormat: false,
  policies: [
    Policy.forFamily(StorageError, Policy.noRetry()),
    Policy.forFamily(NetworkError, { maxAttempts: 3, baseDelay: "1 second", factor: 1 })
  ],
  undeclaredTags: ["PaymentDeclined"]
})

const paths = (error: ConfigError.ConfigError) => error.issues.map((i) => i.path.join("."))

describe("Chaos.fromDocument", () => {
  it.effect("a fail fault names its family by tag: the call's operation, the detail and the fields, retried as real", () =>
    Effect.gen(function*() {
      const options = yield* Chaos.fromDocument({
        rules: [
          { operations: ["items.save"], fault: { fail: "StorageError" } },
          { operations: ["search"], fault: { fail: "NetworkError", detail: "rehearsal 12", fields: { target: "search-api" } }, everyNth: 1 },
          { operations: ["pay"], fault: { fail: "PaymentDeclined", fields: { reason: "card expired" } } }
        ]
      }, { families: [PaymentDeclined] })
      yield* Effect.gen(function*() {
        const saved = yield* Effect.exit(Effect.succeed(1).pipe(protect({ operation: "items.save" })))
        assert.isTrue(Exit.isFailure(saved))
        const error = Exit.isFailure(saved) ? (saved.cause.reasons[0] as { readonly error: unknown }).error : undefined
        assert.instanceOf(error, StorageError)
        assert.strictEqual((error as CommonErrors.StorageError).operation, "items.save")
        assert.strictEqual((error as CommonErrors.StorageError).detail, "injected by chaos")
        assert.strictEqual((error as CommonErrors.StorageError).code, "resilience.E0004")
        // a NetworkError is retried by its policy: 3 attempts, each injected
        let attempts = 0
        const fiber = yield* Effect.forkChild(
          Effect.exit(Effect.sync(() => attempts++).pipe(protect({ operation: "search" })))
        )
        yield* TestClock.adjust("10 seconds")
        const searched = yield* Fiber.join(fiber)
        assert.strictEqual(attempts, 0) // every attempt injected, the call itself never ran
        const network = Exit.isFailure(searched) ? (searched.cause.reasons[0] as { readonly error: unknown }).error : undefined
        assert.instanceOf(network, NetworkError)
        assert.strictEqual((network as CommonErrors.NetworkError).detail, "rehearsal 12")
        const chaos = yield* Chaos.Chaos
        assert.deepStrictEqual(
          (yield* chaos.stats).find((s) => s.operation === "search"),
          { operation: "search", kind: "fail", count: 3 }
        )
        const paid = yield* Effect.flip(Effect.succeed(1).pipe(protect({ operation: "pay" })))
        assert.instanceOf(paid, PaymentDeclined)
        assert.strictEqual((paid as PaymentDeclined).reason, "card expired")
        assert.strictEqual((paid as PaymentDeclined).kind, "business")
      }).pipe(Effect.provide(Layer.merge(Base, Chaos.layer(options))))
    }))

  it.effect("every problem at once, each with its path: unknown families, keys and fields, bad faults and delays", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Chaos.fromDocument({
        enabeld: true,
        rules: [
          { fault: { fail: "StorageErorr" } },
          { fault: { fail: "PaymentDeclined" }, rat: 0.5 },
          { fault: { fail: "PaymentDeclined", fields: { reason: 3, extra: true } } },
          { fault: { latency: "soon" } },
          { fault: "explode", rate: 2 },
          { fault: { die: 42 } }
        ]
      }, { families: [PaymentDeclined] }))
      assert.deepStrictEqual(paths(error).sort(), [
        "enabeld",
        "rules.0.fault.fail",
        "rules.1.fault.fields.reason",
        "rules.1.rat",
        "rules.2.fault.fields.extra",
        "rules.2.fault.fields.reason",
        "rules.3.fault.latency",
        "rules.4.fault",
        "rules.4.rate",
        "rules.5.fault.die"
      ])
      assert.include(error.message, "Unknown error family \"StorageErorr\", did you mean \"StorageError\"?")
      assert.include(error.message, "Unknown key \"rat\", did you mean \"rate\"?")
    }))

  it.effect("latency and interruption as data, on the TestClock", () =>
    Effect.gen(function*() {
      const options = yield* Chaos.fromDocument({
        rules: [
          { operations: ["slow"], fault: { latency: "30 seconds" } },
          { operations: ["cut"], fault: "interrupt" },
          { operations: ["crash"], fault: { die: "boom" } }
        ]
      })
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.succeed(1).pipe(protect({ operation: "slow" })))
        yield* TestClock.adjust("29 seconds")
        assert.isUndefined(fiber.pollUnsafe())
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(fiber), 1)
        const cut = yield* Effect.exit(Effect.succeed(1).pipe(protect({ operation: "cut" })))
        assert.isTrue(Exit.isFailure(cut) && cut.cause.reasons.every((r) => r._tag === "Interrupt"))
        const crash = yield* Effect.exit(Effect.succeed(1).pipe(protect({ operation: "crash" })))
        assert.isTrue(Exit.isFailure(crash) && crash.cause.reasons.some((r) => r._tag === "Die"))
      }).pipe(Effect.provide(Layer.merge(Base, Chaos.layer(options))))
    }))
})

describe("Chaos while running", () => {
  it.effect("one call site in one fiber: set, disable and enable reach its next call", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.Chaos
      const call = Effect.exit(Effect.succeed(1).pipe(protect({ operation: "items.read" })))
      assert.isTrue(Exit.isSuccess(yield* call))
      yield* chaos.set({ rules: [{ operations: ["items.read"], fault: Chaos.interrupt }] })
      assert.isTrue(Exit.isFailure(yield* call))
      yield* chaos.disable
      assert.isTrue(Exit.isSuccess(yield* call))
      yield* chaos.enable
      assert.isTrue(Exit.isFailure(yield* call))
    }).pipe(Effect.provide(Layer.merge(Base, Chaos.layer({ rules: [] })))))
})

describe("Chaos.fromConfig", () => {
  const withEnv = (env: Record<string, string>) =>
    (layer: Layer.Layer<Chaos.Chaos, ConfigError.ConfigError>) =>
      layer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))

  it.effect("an environment variable turns chaos on and scopes it; unset, the default turns it off", () =>
    Effect.gen(function*() {
      const rules = Config.String("CHAOS_RULES").pipe(Config.withDefault(`{"enabled":false,"rules":[]}`))
      const on = withEnv({
        CHAOS_RULES: JSON.stringify({ rules: [{ operations: ["items.save"], fault: { fail: "StorageError" } }] })
      })(Chaos.fromConfig(rules))
      const saved = yield* Effect.exit(Effect.succeed(1).pipe(protect({ operation: "items.save" }))).pipe(
        Effect.provide(Layer.merge(Base, on))
      )
      assert.isTrue(Exit.isFailure(saved))
      const off = withEnv({})(Chaos.fromConfig(rules))
      assert.strictEqual(
        yield* Effect.succeed(1).pipe(protect({ operation: "items.save" }), Effect.provide(Layer.merge(Base, off))),
        1
      )
    }))

  it.effect("a Config that fails, invalid JSON or invalid rules fail the layer with a ConfigError", () =>
    Effect.gen(function*() {
      const build = (env: Record<string, string>) =>
        Effect.flip(Layer.build(withEnv(env)(Chaos.fromConfig(Config.String("CHAOS_RULES"))))).pipe(Effect.scoped)
      const missing = yield* build({})
      assert.include(missing.message, "Config:")
      const broken = yield* build({ CHAOS_RULES: "{ rules" })
      assert.include(broken.message, "Invalid JSON")
      const invalid = yield* build({ CHAOS_RULES: JSON.stringify({ rules: [{ fault: { fail: "Nope" } }] }) })
      assert.deepStrictEqual(paths(invalid), ["rules.0.fault.fail"])
    }))
})
