import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import { BulkheadRegistry, CommonErrors, ConfigReload, ErrorLayer, type PolicyService } from "../src/index.js"
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
    ConfigReload.ConfigReload | PolicyService.PolicyService | BulkheadRegistry.BulkheadRegistry | Metric.MetricRegistry
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

  it.effect("a swap that throws part way is undone: the sections swapped before it are restored", () =>
    Effect.gen(function*() {
      const registry = yield* BulkheadRegistry.BulkheadRegistry
      const real = (registry as unknown as { readonly [ReconfigureId]: Reconfigurable<unknown, unknown> })[ReconfigureId]
      let fail = true
      let undone = 0
      // the registry's own reconfiguration, with a swap that throws when `fail` holds (after the policies' swap)
      const breaking: Reconfigurable<unknown, unknown> = {
        base: real.base,
        prepare: (options) =>
          Effect.map(real.prepare(options), (swap) => () => {
            if (fail) {
              fail = false
              throw new Error("swap broke")
            }
            undone++
            return swap()
          })
      }
      const proxied = Object.assign(Object.create(registry), { [ReconfigureId]: breaking }) as BulkheadRegistry.BulkheadRegistry
      yield* Effect.gen(function*() {
        const reloader = yield* ConfigReload.make
        const error = yield* Effect.flip(reloader.reload({
          policies: { StorageError: { maxAttempts: 7 } },
          bulkheads: { bulkheads: { search: { limit: 9 } } }
        }))
        assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), ["bulkheads"])
        assert.include(error.issues[0]!.message, "swap broke")
        assert.include(error.issues[0]!.message, "the rules in force were restored")
        assert.strictEqual(undone, 1) // the bulkheads' way back ran
        assert.strictEqual(yield* maxAttempts, 3) // the policies swapped before it are back
        assert.strictEqual((yield* registry.bulkhead("search").state).limit, 2)
        const status = yield* reloader.status
        assert.strictEqual(status.generation, 0)
        assert.strictEqual(status.lastEvent?._tag, "ReloadRejected")
        // and the next reload applies
        const applied = yield* reloader.reload({ policies: { StorageError: { maxAttempts: 6 } } })
        assert.strictEqual(applied.generation, 1)
        assert.strictEqual(yield* maxAttempts, 6)
      }).pipe(Effect.scoped, Effect.provideService(BulkheadRegistry.BulkheadRegistry, proxied))
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
