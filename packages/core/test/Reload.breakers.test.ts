import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  BulkheadRegistry,
  CommonErrors,
  ConfigReload,
  ErrorLayer,
  Policy,
  PolicyService,
  RateLimiterRegistry,
  RetryBudgetRegistry,
  TripRule
} from "../src/index.js"
import { assertStatus, callTimes, dbFleet, dependency, eventually } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"
import { attemptsOf, repeat } from "./utils.js"

const { StorageError } = CommonErrors
const storage = () => new StorageError({ operation: "items.save" })

const base: ErrorLayer.Options = {
  logFormat: false,
  policies: [Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "100 millis", factor: 1 })],
  breakers: {
    breakers: {
      db: { trip: TripRule.consecutive(3), openDuration: "10 seconds" },
      search: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 10, minimumCalls: 4 }) }
    }
  }
}

// each test its own layer (its own registries and metrics)
const Rules = (options: ErrorLayer.Options = base) =>
  ConfigReload.layer.pipe(
    Layer.provideMerge(ErrorLayer.layer(options)),
    Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map()))
  )

const stateOf = (name: string) => Effect.flatMap(BreakerRegistry.breaker(name), (b) => b.state)

/** `n` calls through the breaker that fail with a StorageError (those it refuses included). */
const fail = (name: string, n = 1) =>
  Effect.forEach(
    repeat(n, () => undefined),
    () => Effect.exit(Effect.fail(storage()).pipe(BreakerRegistry.withBreaker(name))),
    { discard: true }
  )
const succeed = (name: string, n = 1) =>
  Effect.forEach(
    repeat(n, () => undefined),
    () => Effect.exit(Effect.succeed(1).pipe(BreakerRegistry.withBreaker(name))),
    { discard: true }
  )

const attempts = attemptsOf(storage())

describe("ConfigReload: breakers", () => {
  it.effect("a new threshold of the same trip rule keeps the breaker's counts", () =>
    Effect.gen(function*() {
      yield* fail("db", 2)
      const applied = yield* ConfigReload.reload({
        breakers: {
          breakers: {
            db: { trip: TripRule.consecutive(4), openDuration: "10 seconds" },
            search: base.breakers!.breakers!.search!
          }
        }
      })
      assert.deepStrictEqual(applied.changes.breakers, [{ name: "db", change: "updated", state: "kept" }])
      // the two failures still count: two more open it (a fresh count would need four)
      yield* fail("db")
      assert.strictEqual((yield* stateOf("db")).status, "closed")
      yield* fail("db")
      const state = yield* stateOf("db")
      assert.strictEqual(state.status, "open")
      assert.strictEqual(state.calls.failure, 4)
    }).pipe(Effect.provide(Rules())))

  it.effect("an open breaker stays open until its deadline; a new openDuration applies from the next opening", () =>
    Effect.gen(function*() {
      yield* fail("db", 3)
      assert.strictEqual((yield* stateOf("db")).status, "open")
      yield* TestClock.adjust("4 seconds")
      const applied = yield* ConfigReload.reload({
        breakers: {
          breakers: {
            db: { trip: TripRule.consecutive(2), openDuration: "1 minute", halfOpenProbes: 2 },
            search: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 10, minimumCalls: 4 }) }
          }
        }
      })
      assert.deepStrictEqual(applied.changes.breakers, [{ name: "db", change: "updated", state: "kept" }])
      const open = yield* stateOf("db")
      assert.strictEqual(open.status, "open")
      assert.strictEqual(open.generation, 1)
      assert.strictEqual(open.openings, 1)
      // the deadline of the opening in progress: 10 seconds from the trip
      assert.strictEqual(open.retryAfterMillis, 6_000)
      assert.strictEqual(open.probes.limit, 2)
      yield* TestClock.adjust("6 seconds")
      // the probe fails: the next opening lasts the new duration
      yield* fail("db")
      const reopened = yield* stateOf("db")
      assert.strictEqual(reopened.status, "open")
      assert.strictEqual(reopened.openings, 2)
      assert.strictEqual(reopened.retryAfterMillis, 60_000)
    }).pipe(Effect.provide(Rules())))

  it.effect("a trip rule of another kind starts the counts again, with the reason; the status stays", () =>
    Effect.gen(function*() {
      yield* fail("db", 3)
      assert.strictEqual((yield* stateOf("db")).status, "open")
      // search: 3 failures of its 4 minimum calls, so one more would trip it under the old rule
      yield* fail("search", 3)
      const search = yield* BreakerRegistry.breaker("search")
      const applied = yield* ConfigReload.reload({
        breakers: {
          breakers: {
            db: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 20 }) },
            search: { trip: TripRule.failureRate({ threshold: 0.8, lastCalls: 20, minimumCalls: 4 }) }
          }
        }
      })
      assert.deepStrictEqual(applied.changes.breakers, [
        {
          name: "db",
          change: "updated",
          state: "reset",
          reason: "the trip rule changed kind, from consecutive to failureRate: its counts start again, its status stays"
        },
        {
          name: "search",
          change: "updated",
          state: "reset",
          reason: "the window of the trip rule (failureRate) changed, from the last 10 calls to the last 20 calls: " +
            "its counts start again, its status stays"
        }
      ])
      // db stays open, its opening and its run of openings kept (an operator's or a trip's decision is not undone)
      const db = yield* stateOf("db")
      assert.strictEqual(db.status, "open")
      assert.strictEqual(db.openings, 1)
      // the calls counted so far carry on (they are counters)
      assert.strictEqual(db.calls.failure, 3)
      // search's 3 failures no longer count: one more failure does not trip it
      yield* fail("search", 1)
      assert.strictEqual((yield* search.state).status, "closed")
    }).pipe(Effect.provide(Rules())))

  it.effect("an isolated breaker stays isolated through a reload of any kind", () =>
    Effect.gen(function*() {
      const db = yield* BreakerRegistry.breaker("db")
      yield* db.isolate
      yield* ConfigReload.reload({
        breakers: { breakers: { db: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 20 }) } } }
      })
      assert.strictEqual((yield* db.state).status, "forced_open")
    }).pipe(Effect.provide(Rules())))

  it.effect("a new threshold over the same window keeps the window's calls", () =>
    Effect.gen(function*() {
      // 3 failures of 10 calls: under 0.5
      yield* succeed("search", 7)
      yield* fail("search", 3)
      assert.strictEqual((yield* stateOf("search")).status, "closed")
      const applied = yield* ConfigReload.reload({
        breakers: {
          breakers: {
            db: { trip: TripRule.consecutive(3), openDuration: "10 seconds" },
            search: { trip: TripRule.failureRate({ threshold: 0.3, lastCalls: 10, minimumCalls: 4 }) }
          }
        }
      })
      assert.deepStrictEqual(applied.changes.breakers, [{ name: "search", change: "updated", state: "kept" }])
      // one more failure: 4 of the last 10 calls failed, over the new 0.3 (not the old 0.5; a fresh window would
      // hold one call, under its minimum of 4)
      yield* fail("search")
      assert.strictEqual((yield* stateOf("search")).status, "open")
    }).pipe(Effect.provide(Rules())))

  it.effect("a renamed breaker starts new; the old name keeps its state under the default options", () =>
    Effect.gen(function*() {
      yield* fail("db", 2)
      const applied = yield* ConfigReload.reload({
        breakers: {
          default: { trip: TripRule.consecutive(3), openDuration: "10 seconds" },
          breakers: {
            database: { trip: TripRule.consecutive(3), openDuration: "10 seconds" },
            search: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 10, minimumCalls: 4 }) }
          }
        }
      })
      assert.deepStrictEqual(applied.changes.breakers, [
        { name: "database", change: "added", state: "new" },
        { name: "db", change: "removed", state: "kept" }
      ])
      const database = yield* stateOf("database")
      assert.strictEqual(database.status, "closed")
      assert.strictEqual(database.calls.failure, 0)
      // the old name's two failures still count under the default options
      yield* fail("db")
      assert.strictEqual((yield* stateOf("db")).status, "open")
    }).pipe(Effect.provide(Rules())))

  it.effect("the operations that map to another breaker are reported", () =>
    Effect.gen(function*() {
      const applied = yield* ConfigReload.reload({
        breakers: { ...base.breakers, operations: { "items.save": "db" } }
      })
      assert.deepStrictEqual(applied.changes.breakers, [])
      assert.deepStrictEqual(applied.changes.breakerOperations, ["items.save"])
      const status = yield* ConfigReload.status
      assert.deepStrictEqual(status.rules.breakers?.operations, { "items.save": "db" })
    }).pipe(Effect.provide(Rules())))

  it.effect("an invalid breaker option refuses the whole candidate, policies included", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* attempts, 3)
      yield* fail("db", 2)
      const error = yield* Effect.flip(ConfigReload.reload({
        policies: { StorageError: { maxAttempts: 6 } },
        breakers: {
          breakers: {
            db: { trip: TripRule.consecutive(4), openDuration: -1 },
            search: { halfOpenProbes: 0 }
          }
        }
      }))
      assert.deepStrictEqual(error.issues.map((issue) => issue.path.join(".")).sort(), [
        "breakers.breakers.db.openDuration",
        "breakers.breakers.search.halfOpenProbes"
      ])
      // nothing applied: not the policy, not the valid threshold (the breaker still opens on its third failure)
      assert.strictEqual(yield* attempts, 3)
      yield* fail("db")
      assert.strictEqual((yield* stateOf("db")).status, "open")
      assert.strictEqual((yield* ConfigReload.status).generation, 0)
    }).pipe(Effect.provide(Rules())))
})

const budgetRules: ErrorLayer.Options = {
  ...base,
  budgets: {
    budgets: {
      payments: { kind: "tokens", maxTokens: 10, tokenRatio: 0.1 },
      search: { percent: 0.1, minPerSecond: 1, ttl: "10 seconds" }
    }
  }
}

const budgetOf = (name: string) => RetryBudgetRegistry.budget(name)
const budgetState = (name: string) => Effect.flatMap(budgetOf(name), (b) => b.state)

describe("ConfigReload: budgets", () => {
  it.effect("new settings of the same kind apply in place and keep what the budget counted", () =>
    Effect.gen(function*() {
      const payments = yield* budgetOf("payments")
      for (let i = 0; i < 4; i++) yield* payments.record(true)
      assert.strictEqual((yield* budgetState("payments")).tokens, 6)
      const search = yield* budgetOf("search")
      for (let i = 0; i < 10; i++) yield* search.deposit
      // reserve 1/s × 10 s, plus 10 % of 10 requests
      assert.strictEqual((yield* budgetState("search")).available, 11)
      const applied = yield* ConfigReload.reload({
        budgets: {
          budgets: {
            payments: { kind: "tokens", maxTokens: 20, tokenRatio: 0.5 },
            search: { percent: 0.5, minPerSecond: 1, ttl: "10 seconds" }
          }
        }
      })
      assert.deepStrictEqual(applied.changes.budgets, [
        { name: "payments", change: "updated", state: "kept" },
        { name: "search", change: "updated", state: "kept" }
      ])
      // the same share of the new maximum: 6 of 10 is 12 of 20
      assert.strictEqual((yield* budgetState("payments")).tokens, 12)
      yield* payments.record(false)
      assert.strictEqual((yield* budgetState("payments")).tokens, 12.5)
      // the 10 requests still count, at the new percent
      const state = yield* budgetState("search")
      assert.strictEqual(state.requests, 10)
      assert.strictEqual(state.available, 15)
      assert.strictEqual((yield* ConfigReload.status).rules.budgets?.budgets?.payments?.maxTokens, 20)
    }).pipe(Effect.provide(Rules(budgetRules))))

  it.effect("another kind, or a ratio budget's new ttl, starts the budget afresh, with the reason", () =>
    Effect.gen(function*() {
      const search = yield* budgetOf("search")
      for (let i = 0; i < 10; i++) yield* search.deposit
      assert.isTrue(yield* search.tryWithdraw)
      const applied = yield* ConfigReload.reload({
        budgets: {
          budgets: {
            payments: { percent: 0.2 },
            search: { percent: 0.1, minPerSecond: 1, ttl: "20 seconds" }
          },
          operations: { "items.save": "payments" }
        }
      })
      assert.deepStrictEqual(applied.changes.budgets, [
        { name: "payments", change: "updated", state: "reset", reason: "the budget changed kind, from tokens to ratio" },
        {
          name: "search",
          change: "updated",
          state: "reset",
          reason: "the ttl changed, from 10000 to 20000 millis (the window is counted in slices of it)"
        }
      ])
      assert.deepStrictEqual(applied.changes.budgetOperations, ["items.save"])
      assert.strictEqual((yield* budgetOf("payments")).config.kind, "ratio")
      const state = yield* budgetState("search")
      assert.strictEqual(state.requests, 0)
      // the retries granted carry on (a counter)
      assert.strictEqual(state.granted, 1)
    }).pipe(Effect.provide(Rules(budgetRules))))

  it.effect("a renamed budget starts fresh", () =>
    Effect.gen(function*() {
      const applied = yield* ConfigReload.reload({
        budgets: { budgets: { payment: { kind: "tokens", maxTokens: 10, tokenRatio: 0.1 } } }
      })
      assert.deepStrictEqual(applied.changes.budgets.map((b) => [b.name, b.change, b.state]), [
        ["payment", "added", "new"],
        ["payments", "removed", "reset"],
        ["search", "removed", "kept"]
      ])
    }).pipe(Effect.provide(Rules(budgetRules))))

  it.effect("an invalid budget option refuses the whole candidate, breakers and policies included", () =>
    Effect.gen(function*() {
      yield* fail("db", 2)
      const error = yield* Effect.flip(ConfigReload.reload({
        policies: { StorageError: { maxAttempts: 6 } },
        breakers: { breakers: { db: { trip: TripRule.consecutive(10) } } },
        budgets: { budgets: { payments: { kind: "tokens", maxTokens: 0, tokenRatio: 0.1 }, search: { percent: -1 } } }
      }))
      assert.deepStrictEqual(error.issues.map((issue) => issue.path.join(".")).sort(), [
        "budgets.budgets.payments.maxTokens",
        "budgets.budgets.search.percent"
      ])
      assert.strictEqual(yield* attempts, 3)
      yield* fail("db")
      assert.strictEqual((yield* stateOf("db")).status, "open")
      assert.strictEqual((yield* budgetOf("payments")).config.kind, "tokens")
      assert.strictEqual((yield* ConfigReload.status).generation, 0)
    }).pipe(Effect.provide(Rules(budgetRules))))
})

const limiterRules: ErrorLayer.Options = {
  ...base,
  rateLimiters: { limiters: { api: { limit: 5, window: "1 minute", algorithm: "fixed-window" } } }
}

const limiterOf = (name: string) => RateLimiterRegistry.limiter(name)
const remaining = (name: string, key: string) =>
  Effect.flatMap(limiterOf(name), (l) => Effect.map(l.remaining(key), (r) => r.remaining))

describe("ConfigReload: rate limiters", () => {
  it.effect("a new limit of the same algorithm and window keeps the keys' counts", () =>
    Effect.gen(function*() {
      const api = yield* limiterOf("api")
      for (let i = 0; i < 3; i++) yield* api.acquire("tenant-7")
      assert.strictEqual(yield* remaining("api", "tenant-7"), 2)
      const applied = yield* ConfigReload.reload({
        rateLimiters: { limiters: { api: { limit: 10, window: "1 minute", algorithm: "fixed-window" } } }
      })
      assert.deepStrictEqual(applied.changes.limiters, [{ name: "api", change: "updated", state: "kept" }])
      // the same limiter, its three permits still counted against the new limit
      assert.strictEqual(yield* limiterOf("api"), api)
      assert.strictEqual(yield* remaining("api", "tenant-7"), 7)
      const state = yield* api.state
      assert.strictEqual(state.limit, 10)
      assert.strictEqual(state.granted, 3)
    }).pipe(Effect.provide(Rules(limiterRules))))

  it.effect("another algorithm or window starts the keys afresh, with the reason", () =>
    Effect.gen(function*() {
      const api = yield* limiterOf("api")
      for (let i = 0; i < 5; i++) yield* api.acquire("tenant-7")
      const refused = yield* Effect.flip(api.acquire("tenant-7"))
      assert.strictEqual(refused._tag, "RateLimitedError")
      const applied = yield* ConfigReload.reload({
        rateLimiters: { limiters: { api: { limit: 5, window: "1 minute", algorithm: "token-bucket" } } }
      })
      assert.deepStrictEqual(applied.changes.limiters, [
        { name: "api", change: "updated", state: "reset", reason: "the algorithm changed, from fixed-window to token-bucket" }
      ])
      assert.strictEqual(yield* remaining("api", "tenant-7"), 5)
      yield* api.acquire("tenant-7")
      const windowed = yield* ConfigReload.reload({
        rateLimiters: { limiters: { api: { limit: 5, window: "2 minutes", algorithm: "token-bucket" } } }
      })
      assert.deepStrictEqual(windowed.changes.limiters, [
        { name: "api", change: "updated", state: "reset", reason: "the window changed, from 60000 to 120000 millis" }
      ])
      const state = yield* api.state
      assert.strictEqual(state.windowMillis, 120_000)
      assert.strictEqual(state.granted, 6)
      assert.strictEqual(state.rejected, 1)
    }).pipe(Effect.provide(Rules(limiterRules))))

  it.effect("a renamed limiter starts new; the old one keeps its own options when there is no default", () =>
    Effect.gen(function*() {
      const applied = yield* ConfigReload.reload({
        rateLimiters: { limiters: { public: { limit: 5, window: "1 minute" } } }
      })
      assert.deepStrictEqual(applied.changes.limiters.map((l) => [l.name, l.change, l.state]), [
        ["api", "removed", "kept"],
        ["public", "added", "new"]
      ])
      assert.isTrue((yield* RateLimiterRegistry.RateLimiterRegistry).has("public"))
      assert.isFalse((yield* RateLimiterRegistry.RateLimiterRegistry).has("api"))
    }).pipe(Effect.provide(Rules(limiterRules))))

  it.effect("an invalid limiter option refuses the whole candidate", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ConfigReload.reload({
        breakers: { breakers: { db: { trip: TripRule.consecutive(10) } } },
        rateLimiters: { limiters: { api: { limit: 0, window: "1 minute" } } }
      }))
      assert.deepStrictEqual(error.issues.map((issue) => issue.path.join(".")), ["rateLimiters.limiters.api.limit"])
      yield* fail("db", 3)
      assert.strictEqual((yield* stateOf("db")).status, "open")
      assert.strictEqual((yield* (yield* limiterOf("api")).state).limit, 5)
    }).pipe(Effect.provide(Rules(limiterRules))))
})

describe("ConfigReload: a breaker shared through a RedisBreakerStore", () => {
  // real Redis and real time (see RedisBreakerStore.test.ts); the reload is A's alone
  it.live("keeps its sharing as built: a reset clears A's counts only, the fleet's opening stays", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const breakers: BreakerRegistry.Options = {
        breakers: { db: { trip: TripRule.consecutive(2), openDuration: "5 seconds" } }
      }
      const { dbs: [dbA, dbB], fleet: [a] } = yield* dbFleet(2, { url, prefix: Server.uniquePrefix("reload"), breakers })
      const reloader = yield* ConfigReload.make.pipe(
        Effect.provideService(BreakerRegistry.BreakerRegistry, a!.registry),
        Effect.provide([PolicyService.layer(), BulkheadRegistry.layer()])
      )
      // a compatible change: kept, and said to keep what the replicas agree on
      const kept = yield* reloader.reload({
        breakers: { breakers: { db: { trip: TripRule.consecutive(3), openDuration: "5 seconds", halfOpenProbes: 2 } } }
      })
      assert.deepStrictEqual(kept.changes.breakers, [{
        name: "db",
        change: "updated",
        state: "kept",
        reason: "shared through a RedisBreakerStore: halfOpenProbes 1 and closeAfter 1 stay as built"
      }])
      assert.strictEqual((yield* dbA!.state).probes.limit, 1)
      // the new threshold applies to A's own counts
      const dep = dependency()
      yield* callTimes(dbA!, dep.fail, 2)
      assert.strictEqual((yield* dbA!.state).status, "closed")
      yield* callTimes(dbA!, dep.fail, 1)
      yield* eventually(Effect.all([assertStatus(dbA!, "open", "a"), assertStatus(dbB!, "open", "b")]), 500)
      // an incompatible change: A's counts start again, the fleet's opening is not touched
      const reset = yield* reloader.reload({
        breakers: { breakers: { db: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 10 }) } } }
      })
      assert.strictEqual(reset.changes.breakers[0]?.state, "reset")
      assert.include(
        reset.changes.breakers[0]?.reason,
        "the trip rule changed kind, from consecutive to failureRate: this replica's counts start again, the shared state stays"
      )
      yield* Effect.sleep("100 millis")
      assert.strictEqual((yield* dbA!.state).status, "open")
      assert.strictEqual((yield* dbB!.state).status, "open")
    }).pipe(Effect.scoped), 20_000)
})
