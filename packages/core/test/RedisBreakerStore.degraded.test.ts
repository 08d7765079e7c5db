// What a replica did while it could not reach Redis, asserted once it can again: a replica whose Redis can be cut
// off by a switch (its commands fail at once), the server and the other replicas staying up.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { type CircuitBreaker, TripRule } from "../src/index.js"
import { cutReplica, degrade } from "./support/cutoff.js"
import { assertStatus, callTimes, dependency, directClient, eventually, readRecord, recordKey } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

const breakers = { default: { trip: TripRule.consecutive(1), openDuration: "300 millis" } } as const

// Redis answers A again: past a resync or two A keeps `status`, and the fleet's record comes to it
const healedKeeps = (
  a: { readonly heal: Effect.Effect<void>; readonly breaker: CircuitBreaker.CircuitBreaker },
  url: string,
  prefix: string,
  status: CircuitBreaker.Status,
  message: string
) =>
  Effect.gen(function*() {
    yield* a.heal
    yield* Effect.sleep(800)
    assert.strictEqual((yield* a.breaker.state).status, status, message)
    const redis = yield* directClient(url)
    yield* eventually(Effect.map(readRecord(redis, recordKey(prefix, "db")), (r) => assert.strictEqual(r.status, status)), 1000)
  })

describe("RedisBreakerStore: changes made while degraded", () => {
  it.live("a manual state set while degraded is set for the fleet once Redis answers", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("r1")
      const a = yield* cutReplica(url, prefix, "a", breakers)
      yield* degrade(a)
      yield* a.breaker.isolate
      assert.strictEqual((yield* a.breaker.state).status, "forced_open")
      yield* a.heal
      yield* Effect.sleep(800)
      assert.strictEqual((yield* a.breaker.state).status, "forced_open", "isolation kept")
      const redis = yield* directClient(url)
      assert.strictEqual((yield* readRecord(redis, recordKey(prefix, "db"))).status, "forced_open")
    }).pipe(Effect.scoped), 15_000)

  it.live("a probe of its own lease that succeeds while degraded closes the fleet once Redis answers", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("r2")
      const a = yield* cutReplica(url, prefix, "a", breakers, { probeLease: "5 seconds" })
      const dep = dependency()
      yield* callTimes(a.breaker, dep.fail, 1)
      yield* Effect.sleep(350)
      const probe = yield* Effect.forkChild(a.breaker.execute(dep.hold))
      yield* eventually(assertStatus(a.breaker, "half_open"), 500)
      yield* degrade(a)
      dep.release()
      yield* Fiber.join(probe)
      assert.strictEqual((yield* a.breaker.state).status, "closed")
      yield* healedKeeps(a, url, prefix, "closed", "close reached while degraded kept")
    }).pipe(Effect.scoped), 15_000)

  it.live("a probe of its own lease that fails while degraded reopens the fleet once Redis answers", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("r3")
      const a = yield* cutReplica(url, prefix, "a", { default: { trip: TripRule.consecutive(1), openDuration: "3 seconds" } }, { probeLease: "10 seconds" })
      const dep = dependency()
      yield* callTimes(a.breaker, dep.fail, 1)
      // wait out the first opening
      yield* eventually(Effect.map(a.breaker.state, (s) => assert.strictEqual(s.retryAfterMillis, 0)), 4000)
      const probe = yield* Effect.forkChild(Effect.exit(a.breaker.execute(Effect.andThen(dep.hold, dep.fail))))
      yield* eventually(assertStatus(a.breaker, "half_open"), 500)
      yield* degrade(a)
      dep.release()
      yield* Fiber.join(probe)
      const reopened = yield* a.breaker.state
      assert.strictEqual(reopened.status, "open")
      yield* healedKeeps(a, url, prefix, "open", "reopening kept until its deadline")
    }).pipe(Effect.scoped), 20_000)

  it.live("a probe made while degraded under another replica's lapsed lease gives its slot back: no half-open stuck for ever", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("r4")
      const a = yield* cutReplica(url, prefix, "a", breakers, { probeLease: "600 millis" })
      const b = yield* cutReplica(url, prefix, "b", breakers, { probeLease: "600 millis" })
      const depA = dependency(), depB = dependency()
      yield* callTimes(b.breaker, depB.fail, 1)
      yield* eventually(assertStatus(a.breaker, "open"), 500)
      yield* Effect.sleep(350)
      // B claims the probe, and goes away with it
      yield* Effect.forkDetach(b.breaker.execute(depB.hold))
      yield* eventually(Effect.map(a.breaker.state, (s) => assert.strictEqual(s.shared?.probeHolder, "b")), 500)
      yield* b.close
      // A's watch of B's lease frees its slot once the lease lapsed (600 ms)
      yield* eventually(Effect.map(a.breaker.state, (s) => assert.strictEqual(s.probes.running, 0)), 2000)
      // A is cut off briefly: its next call probes locally
      yield* degrade(a)
      const probe = yield* Effect.forkChild(a.breaker.execute(depA.hold))
      yield* eventually(Effect.map(a.breaker.state, (s) => assert.strictEqual(s.probes.running, 1)), 500)
      yield* a.heal
      depA.release()
      yield* Fiber.join(probe)
      // the slot is given back: a later call is admitted as the probe once the lapsed lease is claimed
      yield* Effect.sleep(1000)
      const exit = yield* Effect.exit(a.breaker.execute(depA.ok))
      assert.isTrue(Exit.isSuccess(exit), "a later call is admitted (probe)")
    }).pipe(Effect.scoped), 20_000)

  it.live("the probe call waits for its claim and its settlement, each within the store timeout", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("r5")
      const a = yield* cutReplica(url, prefix, "a", breakers)
      const dep = dependency()
      yield* callTimes(a.breaker, dep.fail, 1)
      yield* Effect.sleep(350)
      a.sw.delay = 150 // every script answers within the 250 ms store timeout
      const start = performance.now()
      const exit = yield* Effect.exit(a.breaker.execute(dep.ok))
      const millis = performance.now() - start
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual((yield* a.breaker.state).status, "closed")
      assert.strictEqual(yield* a.store.mode, "shared")
      // two waits (claim, settle) of 150 ms, each under the 250 ms store timeout
      assert.isAbove(millis, 2 * 150 - 10)
      assert.isBelow(millis, 2 * 250 + 60)
    }).pipe(Effect.scoped), 15_000)
})
