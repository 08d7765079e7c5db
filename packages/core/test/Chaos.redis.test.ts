// Chaos on the fleet's Redis, against a real redis-server: a cut Redis (every command failing) and a slow one (each
// command later than the store's timeout) degrade the store, calls go on deciding locally, and the store is shared
// again once the rule is lifted; dropped breaker messages are caught up by the resync. Real time for the network,
// bounded polls (`eventually`).
import { NodeRedis } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, Scope } from "effect"
import {
  BreakerRegistry,
  Chaos,
  CommonErrors,
  ErrorLayer,
  Policy,
  protect,
  RedisBreakerStore,
  ResilienceMetrics,
  TripRule
} from "../src/index.js"
import { eventually, fast } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

const replicaLayer = (url: string, prefix: string, replica: string, chaos: Chaos.Options) =>
  ErrorLayer.layer({
    logFormat: false,
    policies: [Policy.forFamily(CommonErrors.NetworkError, Policy.noRetry({ logLevel: "Debug" }))],
    breakers: { breakers: { db: { trip: TripRule.consecutive(3), openDuration: "1 minute" } } }
  }).pipe(
    Layer.provideMerge(
      RedisBreakerStore.layerFrom(NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url })), { ...fast, prefix, replica })
    ),
    Layer.provideMerge(Chaos.layer(chaos)),
    Layer.provide(Logger.layer([]))
  )

const build = (url: string, prefix: string, replica: string, chaos: Chaos.Options) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const context = yield* Layer.buildWithScope(replicaLayer(url, prefix, replica, chaos), scope)
    const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
    yield* eventually(Effect.map(store.mode, (mode) => assert.strictEqual(mode, "shared")), 3000)
    return { context, store, chaos: Context.get(context, Chaos.Chaos) }
  })

const kinds = (stats: ReadonlyArray<Chaos.Injected>) => new Set(stats.filter((s) => s.count > 0).map((s) => s.kind))

describe("Chaos on the fleet's Redis", () => {
  for (const [label, faults] of [["cut", { cut: 1 }], ["slower than the store's timeout", { delay: "1 second" }]] as const) {
    it.live(`Redis ${label}: the store degrades, calls decide locally, and it is shared again once lifted`, () =>
      Effect.gen(function*() {
        const url = yield* Server.sharedUrl
        const a = yield* build(url, Server.uniquePrefix("chaos-redis"), "a", { rules: [] })
        yield* a.chaos.set({ rules: [], redis: faults })
        // a call meets the fault: the store degrades, the call itself is decided locally and succeeds
        const call = Effect.succeed(1).pipe(protect({ operation: "read", breaker: "db" }), Effect.provideContext(a.context))
        yield* eventually(
          Effect.gen(function*() {
            assert.strictEqual(yield* call, 1)
            assert.strictEqual(yield* a.store.mode, "degraded")
          }),
          3000
        )
        assert.strictEqual(yield* call, 1)
        assert.isTrue(kinds(yield* a.chaos.stats).has(label === "cut" ? "redis_cut" : "redis_delay"))
        // they hit no protected call: in the service's stats (and its series), not in the snapshot's figures
        const snapshot = yield* ResilienceMetrics.snapshot.pipe(Effect.provideContext(a.context))
        assert.deepStrictEqual(snapshot.chaos, [])
        // lifted: the health check finds Redis again
        yield* a.chaos.set({ rules: [] })
        yield* eventually(Effect.map(a.store.mode, (mode) => assert.strictEqual(mode, "shared")), 3000)
      }).pipe(Effect.scoped), 15_000)
  }

  it.live("Redis cut from the start: the store never claims to be shared", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const scope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
      const context = yield* Layer.buildWithScope(
        replicaLayer(url, Server.uniquePrefix("chaos-cut-start"), "a", { rules: [], redis: { cut: 1 } }),
        scope
      )
      const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
      // longer than a connect and several health checks (100 ms apart): still degraded
      yield* Effect.sleep("800 millis")
      assert.strictEqual(yield* store.mode, "degraded")
      yield* Context.get(context, Chaos.Chaos).set({ rules: [] })
      yield* eventually(Effect.map(store.mode, (mode) => assert.strictEqual(mode, "shared")), 3000)
    }).pipe(Effect.scoped), 15_000)

  it.live("dropped breaker messages: the other replica learns of the opening from the resync instead", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("chaos-drop")
      const a = yield* build(url, prefix, "a", { rules: [] })
      const b = yield* build(url, prefix, "b", { rules: [], redis: { drop: 1 } })
      const breakerOf = (context: Context.Context<never>) =>
        BreakerRegistry.breaker("db").pipe(Effect.provideContext(context as Context.Context<BreakerRegistry.BreakerRegistry>))
      const dbA = yield* breakerOf(a.context)
      const dbB = yield* breakerOf(b.context)
      // b's view of db, and how it got there
      yield* Effect.forEach([dbA, dbB], (db) => db.state, { discard: true })
      const failing = Effect.fail(new CommonErrors.NetworkError({ target: "db" })).pipe(
        protect({ operation: "read", breaker: "db" }),
        Effect.ignore,
        Effect.provideContext(a.context)
      )
      yield* Effect.repeat(failing, { times: 2 })
      assert.strictEqual((yield* dbA.state).status, "open")
      // b opens all the same, within a resync (300 ms ± 20 %), though every message to it was lost
      yield* eventually(Effect.map(dbB.state, (state) => assert.strictEqual(state.status, "open")), 2000)
      assert.isTrue(kinds(yield* b.chaos.stats).has("message_drop"))
    }).pipe(Effect.scoped), 15_000)
})
