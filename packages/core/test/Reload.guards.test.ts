import { assert, describe, it } from "@effect/vitest"
import { Config, Duration, Effect, Fiber, Layer, Metric, Schedule } from "effect"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  BulkheadRegistry,
  CommonErrors,
  ConfigReload,
  ErrorLayer,
  PolicyService,
  protect,
  RetryBudgetRegistry
} from "../src/index.js"
import { type Reconfigurable, ReconfigureId } from "../src/internal/reloadable.js"
import { attemptsOf, captureLogs } from "./utils.js"

const { StorageError } = CommonErrors
const storage = () => new StorageError({ operation: "items.save" })

const base: ErrorLayer.Options = {
  logFormat: false,
  policies: { StorageError: { maxAttempts: 3 } },
  bulkheads: { bulkheads: { search: { limit: 2 } } }
}

const Rules = (reload: Layer.Layer<ConfigReload.ConfigReload, unknown, any> = ConfigReload.layer) =>
  reload.pipe(
    Layer.provideMerge(ErrorLayer.layer(base)),
    Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
    Layer.provideMerge(captureLogs([]))
  ) as Layer.Layer<
    | ConfigReload.ConfigReload
    | PolicyService.PolicyService
    | BulkheadRegistry.BulkheadRegistry
    | BreakerRegistry.BreakerRegistry
    | Metric.MetricRegistry
  >

const maxAttempts = attemptsOf(storage())

describe("ConfigReload guards", () => {
  it.effect("a read that hangs is rejected after readTimeout, and the reloads after it run", () =>
    Effect.gen(function*() {
      const reloader = yield* ConfigReload.ConfigReload
      const hanging = yield* Effect.forkChild(Effect.flip(reloader.reloadFrom({ _tag: "Config" }, Effect.never)))
      // queued behind the hanging read
      const next = yield* Effect.forkChild(reloader.reload({ policies: { StorageError: { maxAttempts: 5 } } }))
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(hanging.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(hanging)
      assert.deepStrictEqual(error.issues, [{ path: [], message: "Reading the candidate took longer than 2s" }])
      const applied = yield* Fiber.join(next)
      assert.strictEqual(applied.generation, 1)
      assert.strictEqual(yield* maxAttempts, 5)
      const status = yield* reloader.status
      assert.strictEqual(status.lastEvent, applied)
    }).pipe(Effect.provide(Rules(ConfigReload.layerWith({ readTimeout: "2 seconds" })))))

  it.effect("a read or a check that dies is a rejected reload (an event, counted), not a defect", () =>
    Effect.gen(function*() {
      const reloader = yield* ConfigReload.ConfigReload
      const died = yield* Effect.flip(reloader.reloadFrom({ _tag: "Config" }, Effect.die(new Error("store exploded"))))
      assert.strictEqual(died.issues.length, 1)
      assert.include(died.issues[0]!.message, "store exploded")
      // a candidate whose getter throws while it is checked
      const hostile = { get policies(): unknown { throw new Error("getter threw") } }
      const threw = yield* Effect.flip(reloader.reload(hostile))
      assert.include(threw.message, "getter threw")
      const status = yield* reloader.status
      assert.strictEqual(status.generation, 0)
      assert.strictEqual(status.lastEvent?._tag, "ReloadRejected")
      const rejected = (yield* Metric.snapshot).find((m) =>
        m.id === "resilience_config_reloads_total" && m.attributes?.result === "rejected"
      )
      assert.strictEqual((rejected?.state as { count: number }).count, 2)
    }).pipe(Effect.provide(Rules())))

  it.effect("bad options are named: an unknown key, a duration that is not positive", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ConfigReload.makeWith({ readTimeout: 0, ...({ timeout: "1 second" } as {}) }).pipe(Effect.scoped)
      )
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")).sort(), ["readTimeout", "timeout"])
      assert.include(error.message, "Expected a positive duration such as \"10 seconds\", got 0")
      assert.include(error.message, "Unknown key \"timeout\"")
    }).pipe(Effect.provide(Rules())))

  it.effect("a swap that throws part way is undone: the sections swapped before it get the rules in force back", () =>
    Effect.gen(function*() {
      const bulkheads = yield* BulkheadRegistry.BulkheadRegistry
      const registry = yield* BreakerRegistry.BreakerRegistry
      const real = (registry as unknown as { readonly [ReconfigureId]: Reconfigurable<unknown, unknown> })[ReconfigureId]
      let fail = true
      // the breakers' own reconfiguration, with a swap that throws once (after the policies' and bulkheads' swaps)
      const breaking: Reconfigurable<unknown, unknown> = {
        base: real.base,
        prepare: (options) =>
          Effect.map(real.prepare(options), (swap) => () => {
            if (fail) {
              fail = false
              throw new Error("swap broke")
            }
            return swap()
          })
      }
      const proxied = Object.assign(Object.create(registry), { [ReconfigureId]: breaking }) as BreakerRegistry.BreakerRegistry
      yield* Effect.gen(function*() {
        const reloader = yield* ConfigReload.make
        const error = yield* Effect.flip(reloader.reload({
          policies: { StorageError: { maxAttempts: 7 } },
          bulkheads: { bulkheads: { search: { limit: 9 } } },
          breakers: { default: { openDuration: "1 minute" } }
        }))
        assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), ["breakers"])
        assert.include(error.issues[0]!.message, "swap broke")
        assert.include(error.issues[0]!.message, "the rules in force were restored")
        // the policies and the bulkhead, swapped before the breakers threw, are back
        assert.strictEqual(yield* maxAttempts, 3)
        assert.strictEqual((yield* bulkheads.bulkhead("search").state).limit, 2)
        const status = yield* reloader.status
        assert.strictEqual(status.generation, 0)
        assert.strictEqual(status.lastEvent?._tag, "ReloadRejected")
        // and the next reload applies, every section
        const applied = yield* reloader.reload({
          policies: { StorageError: { maxAttempts: 6 } },
          bulkheads: { bulkheads: { search: { limit: 9 } } }
        })
        assert.strictEqual(applied.generation, 1)
        assert.strictEqual(yield* maxAttempts, 6)
        assert.strictEqual((yield* bulkheads.bulkhead("search").state).limit, 9)
      }).pipe(Effect.scoped, Effect.provideService(BreakerRegistry.BreakerRegistry, proxied))
    }).pipe(Effect.provide(Rules())))

  it.effect("a Config read that hangs or dies is a rejected reload, bounded by readTimeout; the layer still builds", () => {
    let behaviour: "hang" | "die" | "ok" = "hang"
    const rules = Config.succeed(null).pipe(Config.mapEffect(() =>
      behaviour === "hang"
        ? Effect.never
        : behaviour === "die"
        ? Effect.die(new Error("provider exploded"))
        : Effect.succeed({ policies: { StorageError: { maxAttempts: 5 } } })
    ))
    return Effect.gen(function*() {
      const scope = yield* Effect.scope
      const built = yield* Effect.forkChild(
        Layer.buildWithScope(
          ConfigReload.fromConfig(rules, Schedule.spaced("10 seconds")).pipe(
            Layer.provideMerge(Rules(ConfigReload.layerWith({ readTimeout: "1 second" })))
          ),
          scope
        )
      )
      yield* TestClock.adjust("1 second")
      const context = yield* Fiber.join(built) // the first read timed out: the layer is built
      const status = ConfigReload.status.pipe(Effect.provide(Layer.succeedContext(context)))
      const first = yield* status
      assert.strictEqual(first.lastEvent?._tag, "ReloadRejected")
      assert.include(first.lastEvent?._tag === "ReloadRejected" ? first.lastEvent.issues[0]!.message : "", "longer than 1s")
      behaviour = "die"
      yield* TestClock.adjust("10 seconds")
      const died = yield* status
      assert.include(died.lastEvent?._tag === "ReloadRejected" ? died.lastEvent.issues[0]!.message : "", "provider exploded")
      behaviour = "ok"
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* status).generation, 1)
    }).pipe(Effect.scoped)
  })

  it.effect("a budget whose kind a reload changes: call sites already built count as the new kind", () =>
    Effect.gen(function*() {
      const fixed = yield* PolicyService.make({ policies: { StorageError: { maxAttempts: 4, baseDelay: "1 second" } } })
      const Fixed = ConfigReload.layer.pipe(
        Layer.provideMerge(Layer.succeed(PolicyService.PolicyService, PolicyService.PolicyService.of({
          defaultPolicy: fixed.defaultPolicy,
          policies: fixed.policies,
          families: fixed.families,
          policyFor: fixed.policyFor
        }))),
        Layer.provideMerge(BulkheadRegistry.layer()),
        Layer.provideMerge(RetryBudgetRegistry.layer({ budgets: { b: { percent: 1, minPerSecond: 100 } } }))
      )
      yield* Effect.gen(function*() {
        const failing = Effect.fail(storage())
        const call = failing.pipe(protect({ operation: "items.save", budget: "b" }))
        const run = Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(Effect.exit(call))
          yield* TestClock.adjust("1 minute")
          yield* Fiber.join(fiber)
        })
        yield* run // built under the ratio budget
        yield* ConfigReload.reload({ budgets: { budgets: { b: { kind: "tokens", maxTokens: 10 } } } })
        const before = (yield* (yield* RetryBudgetRegistry.RetryBudgetRegistry).budget("b").state).tokens
        yield* run
        const after = (yield* (yield* RetryBudgetRegistry.RetryBudgetRegistry).budget("b").state).tokens
        // a tokens budget loses a token per failed attempt: the old call site counted its four
        assert.strictEqual(before, 10)
        assert.isBelow(after!, 10)
      }).pipe(Effect.provide(Fixed))
    }).pipe(Effect.provide(captureLogs([]))))

  it.effect("durations are any Duration.Input: an object of units, a pair, a bigint", () =>
    Effect.gen(function*() {
      for (const readTimeout of [{ seconds: 2 }, [2, 0] as const, 2_000_000_000n]) {
        const reloader = yield* ConfigReload.makeWith({ readTimeout })
        assert.strictEqual(Duration.toMillis(reloader.readTimeout), 2000)
      }
      const error = yield* Effect.flip(ConfigReload.makeWith({ readTimeout: -5n }))
      assert.include(error.message, "got -5n")
    }).pipe(Effect.scoped, Effect.provide(Rules())))

  it.effect("one call site in one fiber: the policies of a reload reach its next call", () =>
    Effect.gen(function*() {
      let attempts = 0
      const call = Effect.suspend(() => {
        attempts++
        return Effect.fail(storage())
      }).pipe(protect({ operation: "items.save" }))
      const attemptsOfCall = Effect.gen(function*() {
        attempts = 0
        yield* Effect.exit(call)
        return attempts
      })
      yield* ConfigReload.reload({ policies: { StorageError: { maxAttempts: 2, baseDelay: 0 } } })
      assert.strictEqual(yield* attemptsOfCall, 2)
      yield* ConfigReload.reload({ policies: { StorageError: { maxAttempts: 4, baseDelay: 0 } } })
      assert.strictEqual(yield* attemptsOfCall, 4)
    }).pipe(Effect.provide(Rules())))

  it.effect("two reloaders on one registry: the generation gauge is the highest, not a sum", () =>
    Effect.gen(function*() {
      const first = yield* ConfigReload.ConfigReload
      const second = yield* ConfigReload.make
      const gauge = Effect.map(Metric.snapshot, (all) =>
        (all.find((m) => m.id === "resilience_config_generation")?.state as { value: number }).value)
      yield* first.reload({ policies: { StorageError: { maxAttempts: 4 } } })
      yield* first.reload({ policies: { StorageError: { maxAttempts: 5 } } })
      yield* second.reload({ policies: { StorageError: { maxAttempts: 6 } } })
      assert.strictEqual(yield* gauge, 2)
    }).pipe(Effect.scoped, Effect.provide(Rules())))
})
