// A replica whose Redis can be cut off by a switch (its commands fail at once, or answer late), the server and
// the other replicas staying up: an outage of one replica only.
import { NodeRedis } from "@effect/platform-node"
import { assert } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import * as Redis from "effect/persistence/Redis"
import { BreakerRegistry, type CircuitBreaker, RedisBreakerStore } from "../../src/index.js"
import { eventually } from "./fleet.js"

export const switchable = (url: string) => {
  const sw = { broken: false, delay: 0 }
  const layer = Layer.effect(Redis.Redis, Effect.gen(function*() {
    const r = yield* Redis.Redis
    const fail = Effect.fail(new Redis.RedisError({ cause: new Error("cut off") }))
    return {
      ...r,
      send: (...args: Parameters<typeof r.send>) => Effect.suspend(() => sw.broken ? fail : r.send(...args)),
      eval: ((script: any) => (...params: Array<any>) =>
        Effect.suspend(() => sw.broken ? fail : Effect.andThen(Effect.sleep(sw.delay), (r.eval(script) as any)(...params)))) as typeof r.eval
    } as typeof r
  })).pipe(Layer.provide(NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url }))))
  return { sw, layer }
}

export const cutReplica = (url: string, prefix: string, id: string, breakers: BreakerRegistry.Options, store: RedisBreakerStore.Options = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope)
    const { sw, layer } = switchable(url)
    const live = BreakerRegistry.layer(breakers).pipe(
      Layer.provideMerge(RedisBreakerStore.layer({
        storeTimeout: "250 millis", syncInterval: "300 millis", probeLease: "600 millis", reconnectInterval: "100 millis",
        prefix, replica: id, ...store
      })),
      Layer.provide(layer)
    )
    const ctx = yield* Layer.buildWithScope(live, scope)
    const registry = Context.get(ctx, BreakerRegistry.BreakerRegistry)
    const storeSvc = Context.get(ctx, RedisBreakerStore.RedisBreakerStore)
    const transitions: Array<CircuitBreaker.Transition> = []
    yield* Effect.forkIn(Stream.runForEach(registry.changes, (t) => Effect.sync(() => transitions.push(t))), scope)
    yield* eventually(Effect.map(storeSvc.mode, (m) => assert.strictEqual(m, "shared")), 3000)
    const breaker = registry.breaker("db")
    yield* eventually(Effect.map(breaker.state, (s) => assert.isAtLeast(s.shared?.generation ?? -1, 0)), 3000)
    return {
      sw, registry, store: storeSvc, breaker, transitions,
      cut: Effect.andThen(Effect.sync(() => { sw.broken = true }),
        eventually(Effect.map(storeSvc.mode, (m) => assert.strictEqual(m, "degraded")), 2000)),
      heal: Effect.andThen(Effect.sync(() => { sw.broken = false }),
        eventually(Effect.map(storeSvc.mode, (m) => assert.strictEqual(m, "shared")), 2000)),
      close: Scope.close(scope, Exit.void)
    }
  })

// trips degraded: a store that is cut off notices on its next Redis call; force one (a resync)
export const degrade = (r: { sw: { broken: boolean }; store: RedisBreakerStore.RedisBreakerStore }) =>
  Effect.gen(function*() {
    r.sw.broken = true
    yield* r.store.sync
    yield* eventually(Effect.map(r.store.mode, (m) => assert.strictEqual(m, "degraded")), 2000)
  })

