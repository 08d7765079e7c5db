import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import {
  BulkheadRegistry,
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  Policy,
  PolicyService,
  protect,
  ResilienceMetrics,
  RetryBudgetRegistry
} from "../src/index.js"

const { StorageError } = CommonErrors
const storage = () => new StorageError({ operation: "x" })

const policies = [Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "1 second", factor: 1 })]
const budgets: RetryBudgetRegistry.Options = {
  budgets: { empty: { percent: 0, minPerSecond: 0, ttl: "60 seconds" }, perCall: { percent: 1, minPerSecond: 0, ttl: "60 seconds" } }
}

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

const within = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(effect))
    yield* TestClock.adjust("5 seconds")
    return yield* Fiber.join(fiber)
  })

const stateOf = (name: string) => Effect.flatMap(RetryBudgetRegistry.budget(name), (b) => b.state)

const failing = Effect.fail(storage())

const layers = {
  "ErrorLayer (timings)": ErrorLayer.layer({ logFormat: false, policies, budgets, bulkheads: { bulkheads: { one: { limit: 1 } } } }),
  "ErrorLayer durations: false": ErrorLayer.layer({
    logFormat: false,
    policies,
    budgets,
    durations: false,
    bulkheads: { bulkheads: { one: { limit: 1 } } }
  }),
  "no observer": Layer.mergeAll(
    PolicyService.layer({ policies }),
    RetryBudgetRegistry.layer(budgets),
    BulkheadRegistry.layer({ bulkheads: { one: { limit: 1 } } })
  )
} as const

describe("one deposit per admitted call, in every configuration", () => {
  for (const [label, layer] of Object.entries(layers)) {
    it.effect(`${label}: plain, with a fallback, with a bulkhead`, () =>
      Effect.gen(function*() {
        yield* within(failing.pipe(protect({ operation: "a", budget: "empty" })))
        yield* within(failing.pipe(protect({ operation: "a", budget: "empty", recover: { StorageError: () => Effect.succeed(1) } })))
        yield* within(failing.pipe(protect({ operation: "a", budget: "empty", bulkhead: "one" })))
        const calls = 3
        const state = yield* stateOf("empty")
        assert.deepStrictEqual([state.requests, state.granted, state.refused], [calls, 0, calls])
        // a success deposits too
        yield* protect(Effect.succeed(1), { operation: "a", budget: "empty" })
        assert.strictEqual((yield* stateOf("empty")).requests, calls + 1)
        // a call that retries twice: one deposit, two withdrawals
        let n = 0
        const twice = Effect.suspend(() => (n++ < 2 ? Effect.fail(storage()) : Effect.succeed(n)))
        const exit = yield* within(twice.pipe(protect({ operation: "b", budget: "perCall" })))
        // perCall: 1 retry per call; the success before gave none to perCall: only this call's deposit
        assert.isTrue(Exit.isFailure(exit) || Exit.isSuccess(exit))
        const per = yield* stateOf("perCall")
        assert.strictEqual(per.requests, 1, "one deposit for three attempts")
        assert.deepStrictEqual([per.granted, per.refused], [1, 1])
      }).pipe(Effect.provide(layer), isolated))
  }

  it.effect("suppressed give-ups counted once, in the tracker and the metrics (protect and PolicyService.retry)", () =>
    Effect.gen(function*() {
      yield* within(failing.pipe(protect({ operation: "c", budget: "empty" })))
      yield* within(failing.pipe(protect({ operation: "c", budget: "empty", recover: { StorageError: () => Effect.void } })))
      yield* within(failing.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("empty")))
      assert.deepStrictEqual((yield* ErrorTracker.summary).retriesSuppressed, { budget: 3, pushback: 0 })
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.retriesSuppressed, [
        { operation: "", budget: 1, pushback: 0 },
        { operation: "c", budget: 2, pushback: 0 }
      ])
      assert.deepStrictEqual((yield* stateOf("empty")).refused, 3)
    }).pipe(Effect.provide(layers["ErrorLayer (timings)"]), isolated))
})
