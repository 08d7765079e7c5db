import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Schema } from "effect"
import {
  BreakerRegistry,
  CommonErrors,
  ConfigError,
  ErrorFamily,
  ErrorLayer,
  ErrorRegistry,
  ErrorTracker,
  Policy,
  PolicyService,
  ResilienceMetrics
} from "../src/index.js"

class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
  code: "shop.E0001",
  kind: "business"
}) {}

describe("ErrorLayer", () => {
  it("provides every service of the rule set, with the listed families and those the policies name", () =>
    Effect.gen(function*() {
      class Torn extends ErrorFamily.TaggedError<Torn>()("Torn", {}, { code: "shop.E0002" }) {}
      const context = yield* Layer.build(ErrorLayer.layer({
        logFormat: false,
        errors: [OutOfStock],
        policies: [Policy.forFamily(Torn, { maxAttempts: 2 })]
      }))
      const services: ReadonlyArray<Context.Key<any, any>> = [ErrorRegistry.ErrorRegistry, PolicyService.PolicyService,
        ErrorTracker.ErrorTracker, ResilienceMetrics.ResilienceMetrics, BreakerRegistry.BreakerRegistry]
      for (const service of services) {
        assert.isTrue(Context.getOption(context, service)._tag === "Some", service.key)
      }
      const registry = Context.get(context, ErrorRegistry.ErrorRegistry)
      assert.strictEqual(registry.byTag("OutOfStock")?.code, "shop.E0001")
      assert.strictEqual(registry.byTag("Torn")?.code, "shop.E0002")
      assert.strictEqual(registry.byTag("StorageError")?.code, "resilience.E0004")
    }).pipe(Effect.scoped, Effect.runPromise))

  it("an invalid section fails the whole layer: nothing is provided half-configured", () =>
    Effect.gen(function*() {
      const exits = yield* Effect.forEach([
        ErrorLayer.layer({ logFormat: false, polices: [] } as ErrorLayer.Options),
        ErrorLayer.layer({ logFormat: false, defaultPolicy: { maxAttempts: 0 } }),
        ErrorLayer.layer({ logFormat: false, breakers: { default: { openDuration: "-1 seconds" } } }),
        ErrorLayer.layer({ logFormat: false, errors: [OutOfStock, class extends ErrorFamily.TaggedError<any>()("Dup", {}, { code: "shop.E0001" }) {}] })
      ], (layer) => Effect.exit(Effect.scoped(Layer.build(layer))))
      // one error type, each issue's path rooted at the layer's options
      assert.deepStrictEqual(
        exits.map((exit) =>
          Exit.isFailure(exit)
            ? exit.cause.reasons.map((r) => r._tag === "Fail" ? [(r.error as ConfigError.ConfigError)._tag, (r.error as ConfigError.ConfigError).issues.map((i) => i.path.join("."))] : r._tag)
            : "built"
        ),
        [
          [["ConfigError", ["polices"]]],
          [["ConfigError", ["defaultPolicy.maxAttempts"]]],
          [["ConfigError", ["breakers.default.openDuration"]]],
          [["ConfigError", [""]]]
        ]
      )
    }).pipe(Effect.runPromise))

  it("with no options the built-in rules apply: a business error is never retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const exit = yield* Effect.exit(
        Effect.suspend(() => (++calls, Effect.fail(new CommonErrors.NotFoundError({ resource: "item" })))).pipe(
          Effect.retry(PolicyService.retry)
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(calls, 1, "a business error is never retried")
    }).pipe(Effect.provide(ErrorLayer.layer({ logFormat: false })), Effect.runPromise))

  it("each ErrorLayer is a root: one provided inside another keeps its figures to itself", () =>
    Effect.gen(function*() {
      const outer = yield* Layer.build(ErrorLayer.layer({ logFormat: false }))
      const inner = yield* Layer.build(ErrorLayer.layer({ logFormat: false })).pipe(Effect.provideContext(outer))
      yield* ErrorTracker.record(new CommonErrors.StorageError({ operation: "save" })).pipe(Effect.provideContext(inner))
      const innerTotal = yield* ErrorTracker.summary.pipe(Effect.provideContext(inner))
      const outerTotal = yield* ErrorTracker.summary.pipe(Effect.provideContext(outer))
      assert.deepStrictEqual([innerTotal.total, outerTotal.total], [1, 0])
    }).pipe(Effect.scoped, Effect.runPromise))
})
