// Shared rate limiters on a Redis that goes away: one replica cut off (its commands fail at once, or answer after
// the store timeout), or the server killed and restarted. Calls never fail or stall because of Redis: a degraded
// replica decides alone on its share of the limit, and leases from Redis again once it answers. Each test owns its
// server.
import { NodeRedis } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Scope } from "effect"
import type { RateLimiter } from "../src/index.js"
import { RateLimiterRegistry, RedisBreakerStore } from "../src/index.js"
import { switchable } from "./support/cutoff.js"
import { directClient, eventually, fast, fastMillis, messageText, type RedisClient } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"
import { captureLogs, type Line } from "./utils.js"

// how much later than the store timeout a call may end: the event loop of a busy test machine
const slack = 50
const degradedLog = "breakers and rate limiters decide locally"

interface LimiterReplica {
  readonly id: string
  readonly store: RedisBreakerStore.RedisBreakerStore
  readonly limiter: (name: string) => RateLimiter.RateLimiter
  readonly sw: { broken: boolean; delay: number }
  readonly logs: Array<Line>
  /** Cuts the replica off Redis (its commands fail at once). */
  readonly cut: Effect.Effect<void>
  /** Lets its commands through again, and waits until its store is shared. */
  readonly heal: Effect.Effect<void>
}

const limiterReplica = (options: {
  readonly url: string
  readonly prefix: string
  readonly id: string
  readonly limiters: RateLimiterRegistry.Options
}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope)
    const logs: Array<Line> = []
    const { sw, layer } = switchable(options.url)
    const live = RateLimiterRegistry.layer(options.limiters).pipe(
      Layer.provideMerge(RedisBreakerStore.layer({ ...fast, prefix: options.prefix, replica: options.id })),
      Layer.provide(layer),
      Layer.provide(captureLogs(logs))
    )
    const context = yield* Layer.buildWithScope(live, scope)
    const registry = Context.get(context, RateLimiterRegistry.RateLimiterRegistry)
    const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
    const modeIs = (mode: "shared" | "degraded", within: number) =>
      eventually(Effect.map(store.mode, (m) => assert.strictEqual(m, mode, options.id)), within)
    yield* modeIs("shared", 3000)
    return {
      id: options.id,
      store,
      limiter: registry.limiter,
      sw,
      logs,
      cut: Effect.sync(() => {
        sw.broken = true
      }),
      heal: Effect.andThen(
        Effect.sync(() => {
          sw.broken = false
          sw.delay = 0
        }),
        modeIs("shared", 2000)
      )
    } satisfies LimiterReplica
  })

const logsWith = (logs: ReadonlyArray<Line>, text: string) => logs.filter((line) => messageText(line).includes(text))

const scriptCalls = (client: RedisClient) =>
  Effect.promise(async () => {
    const info = await client.sendCommand(["INFO", "commandstats"]) as string
    let calls = 0
    for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1])
    return calls
  })

interface Load {
  granted: number
  refused: number
  failed: number
  slowest: number
}

/** `fibers` callers taking one permit of `key` each time, as fast as they can, for `millis` of real time. */
const hammer = (limiter: RateLimiter.RateLimiter, key: string, millis: number, fibers: number) =>
  Effect.gen(function*() {
    const load: Load = { granted: 0, refused: 0, failed: 0, slowest: 0 }
    const end = performance.now() + millis
    const worker = Effect.gen(function*() {
      while (performance.now() < end) {
        const started = performance.now()
        const exit = yield* Effect.exit(limiter.acquire(key))
        load.slowest = Math.max(load.slowest, performance.now() - started)
        if (Exit.isSuccess(exit)) load.granted++
        else {
          const error = Cause.squash(exit.cause) as { readonly _tag?: string }
          if (error._tag === "RateLimitedError") load.refused++
          else load.failed++
          yield* Effect.sleep(1)
        }
      }
    })
    yield* Effect.forEach(Array.from({ length: fibers }), () => worker, { concurrency: "unbounded", discard: true })
    return load
  })

/** Waits (real time) until a window of `windowMillis` has just begun on this machine's clock (a local decider's). */
const alignLocally = (windowMillis: number, after = 10) =>
  Effect.suspend(() => Effect.sleep(windowMillis - (Date.now() % windowMillis) + after))

const takeOne = (r: LimiterReplica, key = "k") => Effect.exit(r.limiter("api").acquire(key))

describe.runIf(Server.canOwnServer())("RateLimiter shared on Redis, Redis away", () => {
  it.live("one replica cut off: its calls neither fail nor wait, it decides alone on its share (limit / replicas " +
    "seen) and says so once; healed: shared again, leasing from Redis", () =>
    Effect.gen(function*() {
      const server = yield* Server.acquire()
      const client = yield* directClient(server.url)
      const limit = 40
      const windowMillis = 1000
      const limiters: RateLimiterRegistry.Options = {
        limiters: { api: { algorithm: "fixed-window", limit, window: windowMillis } }
      }
      const prefix = Server.uniquePrefix("cut")
      const a = yield* limiterReplica({ url: server.url, prefix, id: "a", limiters })
      const b = yield* limiterReplica({ url: server.url, prefix, id: "b", limiters })
      // both lease once, then A again: each has seen the two replicas on Redis
      for (const r of [a, b, a, b]) assert.isTrue(Exit.isSuccess(yield* takeOne(r)))

      yield* b.cut
      yield* alignLocally(windowMillis)
      const [onA, onB] = yield* Effect.forEach([a, b], (r) => hammer(r.limiter("api"), "k", windowMillis - 200, 3), {
        concurrency: "unbounded"
      })
      assert.strictEqual((yield* b.store.mode), "degraded")
      assert.strictEqual((yield* b.limiter("api").state).mode, "degraded")
      assert.strictEqual((yield* a.limiter("api").state).mode, "shared")
      // B: its share of the window, never a failure, never a wait
      assert.strictEqual(onB!.failed, 0)
      assert.strictEqual(onB!.granted, limit / 2, "B admits its share")
      assert.isAtMost(onB!.slowest, fastMillis.storeTimeout + slack)
      // A: still the fleet's limit on Redis
      assert.strictEqual(onA!.failed, 0)
      assert.isAtMost(onA!.granted, limit)
      assert.isAtLeast(onA!.granted, limit - 2)
      // said once, by the fleet, not per call
      assert.lengthOf(logsWith(b.logs, degradedLog), 1)
      assert.lengthOf(logsWith(a.logs, degradedLog), 0)

      yield* b.heal
      assert.strictEqual((yield* b.limiter("api").state).mode, "shared")
      yield* Effect.sleep(windowMillis)
      const before = yield* scriptCalls(client)
      const healed = yield* hammer(b.limiter("api"), "k", 100, 2)
      assert.isAbove((yield* scriptCalls(client)) - before, 0, "B leases from Redis again")
      assert.isAbove(healed.granted, 0)
      assert.strictEqual(healed.failed, 0)
      assert.lengthOf(logsWith(b.logs, "reachable again"), 1)
    }).pipe(Effect.scoped), 15_000)

  it.live("Redis slower than the store timeout: a call waits the store timeout at most, then decides locally; " +
    "the replica is degraded until Redis answers in time", () =>
    Effect.gen(function*() {
      const server = yield* Server.acquire()
      const a = yield* limiterReplica({
        url: server.url,
        prefix: Server.uniquePrefix("slow"),
        id: "a",
        limiters: { limiters: { api: { limit: 10, window: "1 second" } } }
      })
      a.sw.delay = 2 * fastMillis.storeTimeout
      // 20 callers at once on a fresh key: they share the one lease in flight, and none waits past its bound
      const started = performance.now()
      const exits = yield* Effect.forEach(Array.from({ length: 20 }), () => takeOne(a, "fresh"), {
        concurrency: "unbounded"
      })
      const elapsed = performance.now() - started
      assert.isAtMost(elapsed, fastMillis.storeTimeout + slack)
      assert.isAtLeast(elapsed, fastMillis.storeTimeout - 20)
      // decided locally, on the whole limit (no replica seen yet: a share of one)
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 10)
      for (const exit of exits.filter(Exit.isFailure)) {
        assert.strictEqual((Cause.squash(exit.cause) as RateLimiter.RateLimitedError)._tag, "RateLimitedError")
      }
      assert.strictEqual((yield* a.limiter("api").state).mode, "degraded")
      // degraded: no Redis call, so no wait at all
      const again = performance.now()
      yield* takeOne(a, "other")
      assert.isBelow(performance.now() - again, slack)
      yield* a.heal
      assert.strictEqual((yield* a.limiter("api").state).mode, "shared")
    }).pipe(Effect.scoped), 15_000)

  it.live("share.replicas sets the share while Redis is away, whatever the replicas seen", () =>
    Effect.gen(function*() {
      const server = yield* Server.acquire()
      const a = yield* limiterReplica({
        url: server.url,
        prefix: Server.uniquePrefix("share"),
        id: "a",
        limiters: {
          limiters: { api: { algorithm: "fixed-window", limit: 40, window: "1 second", share: { replicas: 4 } } }
        }
      })
      assert.isTrue(Exit.isSuccess(yield* takeOne(a)))
      yield* a.cut
      yield* alignLocally(1000)
      const load = yield* hammer(a.limiter("api"), "k", 700, 2)
      assert.strictEqual(load.granted, 10)
      assert.strictEqual(load.failed, 0)
      // a share is at least one permit
      const tiny = yield* limiterReplica({
        url: server.url,
        prefix: Server.uniquePrefix("tiny"),
        id: "t",
        limiters: { limiters: { api: { algorithm: "fixed-window", limit: 3, window: "1 second", share: { replicas: 9 } } } }
      })
      yield* tiny.cut
      yield* alignLocally(1000)
      assert.strictEqual((yield* hammer(tiny.limiter("api"), "k", 500, 1)).granted, 1)
    }).pipe(Effect.scoped), 15_000)

  it.live("Redis killed: every replica degrades and calls flow on the shares; restarted empty: shared again, " +
    "leases again", () =>
    Effect.gen(function*() {
      const server = yield* Server.acquire()
      const limit = 30
      const prefix = Server.uniquePrefix("kill")
      const limiters: RateLimiterRegistry.Options = { limiters: { api: { limit, window: "1 second" } } }
      const fleet = yield* Effect.forEach(["a", "b", "c"], (id) => limiterReplica({ url: server.url, prefix, id, limiters }))
      for (const r of [...fleet, ...fleet]) assert.isTrue(Exit.isSuccess(yield* takeOne(r)))

      yield* Effect.promise(() => server.kill())
      const started = performance.now()
      const loads = yield* Effect.forEach(fleet, (r) => hammer(r.limiter("api"), "k", 1000, 3), {
        concurrency: "unbounded"
      })
      const elapsed = performance.now() - started
      for (const [i, r] of fleet.entries()) {
        const load = loads[i]!
        assert.strictEqual(load.failed, 0, r.id)
        assert.isAtMost(load.slowest, fastMillis.storeTimeout + slack, r.id)
        assert.strictEqual((yield* r.limiter("api").state).mode, "degraded", r.id)
        // a bucket of a third of the limit, refilled at a third of the rate
        const share = limit / 3
        const bucket = share + (share * elapsed) / 1000
        assert.isAtMost(load.granted, Math.ceil(bucket) + 1, r.id)
        assert.isAtLeast(load.granted, 0.7 * bucket, r.id)
        assert.lengthOf(logsWith(r.logs, degradedLog), 1, r.id)
      }

      yield* Effect.promise(() => server.restart())
      yield* eventually(
        Effect.forEach(fleet, (r) => Effect.map(r.store.mode, (m) => assert.strictEqual(m, "shared", r.id))),
        3000
      )
      const client = yield* directClient(server.url)
      for (const r of fleet) {
        assert.strictEqual((yield* r.limiter("api").state).mode, "shared", r.id)
        assert.isTrue(Exit.isSuccess(yield* takeOne(r, "after")), r.id)
      }
      // the restarted server has run the leases (its counts start at zero)
      assert.isAtLeast(yield* scriptCalls(client), 3)
    }).pipe(Effect.scoped), 15_000)

  it.live("Redis unreachable at start-up: the limiter decides locally from the first call, and says so once", () =>
    Effect.gen(function*() {
      const logs: Array<Line> = []
      const port = yield* Effect.promise(() => Server.freePort())
      const live = RateLimiterRegistry.layer({ limiters: { api: { limit: 5, window: "1 minute" } } }).pipe(
        Layer.provideMerge(RedisBreakerStore.layerFrom(
          NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url: `redis://127.0.0.1:${port}` })),
          { ...fast, prefix: Server.uniquePrefix("down") }
        )),
        Layer.provide(captureLogs(logs))
      )
      const context = yield* Layer.build(live)
      const limiter = Context.get(context, RateLimiterRegistry.RateLimiterRegistry).limiter("api")
      const started = performance.now()
      const exits = yield* Effect.forEach(Array.from({ length: 7 }), () => Effect.exit(limiter.acquire("k")))
      assert.isBelow(performance.now() - started, slack)
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 5)
      assert.strictEqual((yield* limiter.state).mode, "degraded")
      yield* eventually(Effect.sync(() => assert.lengthOf(logsWith(logs, degradedLog), 1)), 2000)
    }).pipe(Effect.scoped), 15_000)
})
