// The live view of a fleet, on a real Redis: two replicas (two ErrorLayers, each on a RedisBreakerStore and Redis
// connections of its own, sharing nothing but Redis) publish their frames, and a client of one sees the other's
// frame and their sum in `View.fleet`. This test never kills the server, so it honours REDIS_URL
// (`Server.sharedUrl`) and uses a prefix of its own. Real time: short intervals and bounded polls.
import { NodeRedis } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { CommonErrors, ErrorLayer, LiveView, Policy, protect, RedisBreakerStore } from "../src/index.js"
import { eventually, fast } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

const replicaLayer = (url: string, prefix: string, replica: string) =>
  ErrorLayer.layer({
    logFormat: false,
    policies: [Policy.forFamily(CommonErrors.NetworkError, Policy.noRetry({ logLevel: "Debug" }))],
    live: { interval: "100 millis", stale: "1 second" }
  }).pipe(Layer.provideMerge(RedisBreakerStore.layerFrom(
    NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url })),
    { ...fast, prefix, replica }
  )))

describe("LiveView fleet", () => {
  it.live("a client of replica a sees replica b's frame, and their sum, in View.fleet", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("live")
      const scopeA = yield* Scope.make()
      const scopeB = yield* Scope.make()
      yield* Effect.addFinalizer(() => Effect.andThen(Scope.close(scopeA, Exit.void), Scope.close(scopeB, Exit.void)))
      const contextA = yield* Layer.buildWithScope(replicaLayer(url, prefix, "a"), scopeA)
      const contextB = yield* Layer.buildWithScope(replicaLayer(url, prefix, "b"), scopeB)
      const liveA = Context.get(contextA, LiveView.LiveView)
      const liveB = Context.get(contextB, LiveView.LiveView)
      assert.strictEqual(liveA.replica, "a")
      assert.strictEqual(liveB.replica, "b")
      for (const context of [contextA, contextB]) {
        const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
        yield* eventually(Effect.map(store.mode, (mode) => assert.strictEqual(mode, "shared")), 3000)
      }

      // a client of a: nobody watches b, yet b publishes
      const seen: Array<LiveView.Message> = []
      const client = yield* liveA.messages.pipe(
        Stream.runForEach((m) => Effect.sync(() => void seen.push(m))),
        Effect.forkChild
      )
      const framesSeen = () => seen.filter((m): m is Extract<LiveView.Message, { _tag: "Frame" }> => m._tag === "Frame")
      yield* eventually(
        Effect.sync(() => assert.deepStrictEqual(framesSeen().at(-1)?.view.frames.map((f) => f.replica), ["a", "b"])),
        3000
      )

      // then traffic on each replica, through its own layer (each has made frames before it: the rates count it)
      yield* Effect.void.pipe(protect({ operation: "pay" }), Effect.repeat({ times: 2 }), Effect.provideContext(contextA))
      yield* Effect.void.pipe(protect({ operation: "pay" }), Effect.repeat({ times: 4 }), Effect.provideContext(contextB))
      yield* Effect.fail(new CommonErrors.NetworkError({ target: "bank" })).pipe(
        protect({ operation: "ship" }),
        Effect.ignore,
        Effect.repeat({ times: 1 }),
        Effect.provideContext(contextB)
      )

      const view = yield* eventually(
        Effect.sync(() => {
          const last = framesSeen().at(-1)
          assert.isDefined(last, "a frame")
          const view = last!.view
          assert.deepStrictEqual(view.frames.map((f) => f.replica), ["a", "b"])
          // b's frame after its calls were counted, and a's
          assert.strictEqual(view.frames[1]!.errors.total, 2)
          assert.strictEqual(view.frames[1]!.operations.find((o) => o.name === "ship")?.errorRate, 1)
          assert.isAbove(view.frames[0]!.operations.find((o) => o.name === "pay")?.perSecond.succeeded ?? 0, 0)
          return view
        }),
        5000
      )
      assert.strictEqual(seen[0]?._tag, "Hello")
      assert.strictEqual(view.replica, "a")
      const [a, b] = view.frames as [LiveView.Frame, LiveView.Frame]
      assert.deepStrictEqual(a.operations.map((o) => o.name), ["pay"])
      assert.deepStrictEqual(b.operations.map((o) => o.name).sort(), ["pay", "ship"])
      assert.strictEqual(a.errors.total, 0)
      assert.deepStrictEqual(b.errors.bySeverity, { low: 0, medium: 2, high: 0, critical: 0 })
      assert.deepStrictEqual(b.errors.recent.map((e) => [e.tag, e.operation]), [
        ["NetworkError", "ship"],
        ["NetworkError", "ship"]
      ])
      // the sum: replica "fleet", b's errors with their replica, the operations of both
      const fleet = view.fleet
      assert.isDefined(fleet)
      assert.strictEqual(fleet!.replica, "fleet")
      assert.deepStrictEqual(fleet, LiveView.sum(view.frames))
      assert.strictEqual(fleet!.errors.total, 2)
      assert.deepStrictEqual(fleet!.errors.recent.map((e) => e.replica), ["b", "b"])
      const pay = fleet!.operations.find((o) => o.name === "pay")!
      const payA = a.operations.find((o) => o.name === "pay")!
      const payB = b.operations.find((o) => o.name === "pay")!
      assert.strictEqual(pay.perSecond.succeeded, payA.perSecond.succeeded + payB.perSecond.succeeded)
      assert.strictEqual(pay.latency?.count, 3 + 5)
      assert.strictEqual(fleet!.operations.find((o) => o.name === "ship")?.errorRate, 1)
      // b, with no client of its own, keeps no other replica's frame (it only publishes its own, as a is watched)
      assert.deepStrictEqual((yield* liveB.view).frames.map((f) => f.replica), ["b"])
      // a client of b: b's view then has a's frame too, behind its own
      const clientB = yield* liveB.messages.pipe(Stream.runDrain, Effect.forkChild)
      const fromB = yield* eventually(
        Effect.map(liveB.view, (v) => {
          assert.deepStrictEqual(v.frames.map((f) => f.replica), ["b", "a"])
          return v
        }),
        2000
      )
      assert.strictEqual(fromB.fleet?.errors.total, 2)
      yield* Fiber.interrupt(clientB)

      // b goes away: after `stale` (1 s) it leaves a's view, and the sum with it
      yield* Scope.close(scopeB, Exit.void)
      yield* eventually(
        Effect.map(liveA.view, (v) => {
          assert.deepStrictEqual(v.frames.map((f) => f.replica), ["a"])
          assert.isUndefined(v.fleet)
        }),
        3000,
        50
      )
      yield* Fiber.interrupt(client)
    }).pipe(Effect.scoped), 15_000)

  it.live("nobody watching anywhere: no replica makes or publishes frames; a client anywhere starts every replica", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("live-idle")
      const scopeA = yield* Scope.make()
      const scopeB = yield* Scope.make()
      yield* Effect.addFinalizer(() => Effect.andThen(Scope.close(scopeA, Exit.void), Scope.close(scopeB, Exit.void)))
      const contextA = yield* Layer.buildWithScope(replicaLayer(url, prefix, "a"), scopeA)
      const contextB = yield* Layer.buildWithScope(replicaLayer(url, prefix, "b"), scopeB)
      for (const context of [contextA, contextB]) {
        const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
        yield* eventually(Effect.map(store.mode, (mode) => assert.strictEqual(mode, "shared")), 3000)
      }
      // a third party on the channel sees what is published: with no client anywhere, no frame for 1 s
      const heard: Array<string> = []
      const spy = Context.get(contextA, RedisBreakerStore.RedisBreakerStore)
      const fleet = RedisBreakerStore.fleetOf(spy)!
      const unregister = fleet.onView((frame, watched) =>
        heard.push(`${(frame as { replica: string }).replica}:${watched}`))
      yield* Effect.addFinalizer(() => Effect.sync(unregister))
      yield* Effect.sleep("1 second")
      assert.deepStrictEqual(heard, [])
      // a client of a: a publishes watched frames, b publishes its own (not watched)
      const client = yield* Context.get(contextA, LiveView.LiveView).messages.pipe(Stream.runDrain, Effect.forkChild)
      yield* eventually(
        Effect.sync(() => {
          assert.include(heard, "a:true")
          assert.include(heard, "b:false")
        }),
        3000
      )
      // the client leaves: a stops at once, b within `stale` (1 s), then silence
      yield* Fiber.interrupt(client)
      yield* Effect.sleep("1500 millis")
      heard.length = 0
      yield* Effect.sleep("1 second")
      assert.deepStrictEqual(heard, [])
    }).pipe(Effect.scoped), 15_000)
})
