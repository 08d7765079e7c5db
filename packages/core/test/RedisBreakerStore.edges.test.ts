// Edges of the shared store found by review: a lease held by a replica with no probe running, a record Redis lost
// under a manual state, quorum votes of replicas that keep failing, a close reached while degraded.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { type CircuitBreaker, TripRule } from "../src/index.js"
import { cutReplica, degrade } from "./support/cutoff.js"
import { assertStatus, callTimes, dbFleet, dependency, directClient, eventually, readRecord, recordKey, rejection } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

// A and B, cut-off-able, on a 300 ms opening (leases of 5 s): B trips, A adopts the opening, then A is cut off
// and waits out the fleet's deadline
const openedThenCutOff = (name: string) =>
  Effect.gen(function*() {
    const url = yield* Server.sharedUrl
    const prefix = Server.uniquePrefix(name)
    const breakers = { default: { trip: TripRule.consecutive(1), openDuration: "300 millis" } } as const
    const a = yield* cutReplica(url, prefix, "a", breakers, { probeLease: "5 seconds" })
    const b = yield* cutReplica(url, prefix, "b", breakers, { probeLease: "5 seconds" })
    const dep = dependency()
    yield* callTimes(b.breaker, dep.fail, 1)
    yield* eventually(assertStatus(a.breaker, "open"), 500)
    yield* degrade(a)
    yield* Effect.sleep(350)
    return { a, b, dep }
  })

describe("RedisBreakerStore: edges of the probe lease, lost records and quorum", () => {
  it.live("closeAfter 2: a holder with no probe left running gives its lease back, so the fleet is not held half-open", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("rv-r1")
      const { dbs: [dbA, dbB] } = yield* dbFleet(2, { url, prefix, breakers: { default: { trip: TripRule.consecutive(1), openDuration: "300 millis", closeAfter: 2 } } })
      const dep = dependency()
      yield* callTimes(dbA!, dep.fail, 1)
      yield* eventually(assertStatus(dbB!, "open"), 500)
      yield* Effect.sleep(350)
      // A's probe succeeds (1 of 2): no probe runs any more on A, A gets no more traffic
      const first = yield* Effect.exit(dbA!.execute(dep.ok))
      assert.isTrue(Exit.isSuccess(first))
      const sA = yield* dbA!.state
      assert.strictEqual(sA.status, "half_open"); assert.strictEqual(sA.probes.running, 0)
      // B gets all the traffic for 5 lease periods (600 ms each)
      let admitted = 0, rejected = 0
      const start = performance.now()
      while (performance.now() - start < 3000) {
        const exit = yield* Effect.exit(dbB!.execute(dep.ok))
        if (rejection(exit) !== undefined) rejected++; else admitted++
        yield* Effect.sleep(50)
      }
      assert.isAbove(admitted, 0, "B never admitted a call in 3 s: A renews a lease for no running probe")
    }).pipe(Effect.scoped), 20_000)

  it.live("Redis loses the record of an isolated breaker: the isolation is set again, not undone", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("rv-r2")
      const { dbs: [dbA, dbB] } = yield* dbFleet(2, { url, prefix, breakers: { default: { trip: TripRule.consecutive(1) } } })
      yield* dbA!.isolate
      yield* eventually(assertStatus(dbB!, "forced_open"), 500)
      const redis = yield* directClient(url)
      yield* Effect.promise(() => redis.del(recordKey(prefix, "db")))
      yield* Effect.sleep(800)
      assert.strictEqual((yield* dbA!.state).status, "forced_open", "isolation undone by a lost record")
      assert.strictEqual((yield* dbB!.state).status, "forced_open", "isolation undone by a lost record")
      yield* eventually(
        Effect.map(readRecord(redis, recordKey(prefix, "db")), (r) => assert.strictEqual(r.status, "forced_open")),
        1000
      )
    }).pipe(Effect.scoped), 15_000)

  it.live("quorum: a replica's failed probe votes again, so replicas that keep failing open the fleet", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("rv-r3")
      const { dbs: [dbA, dbB] } = yield* dbFleet(2, { url, prefix, breakers: { default: { trip: TripRule.consecutive(1), openDuration: "200 millis", share: { quorum: 2, within: "500 millis" } } } })
      const dep = dependency()
      const redis = yield* directClient(url)
      // A trips at 0, B at 700 ms: then both fail every call for 3 s
      yield* callTimes(dbA!, dep.fail, 1)
      const hammer = (db: CircuitBreaker.CircuitBreaker) => Effect.forkChild(Effect.gen(function*() {
        const start = performance.now()
        while (performance.now() - start < 3000) { yield* Effect.exit(db.execute(dep.fail)); yield* Effect.sleep(20) }
      }))
      const fa = yield* hammer(dbA!)
      yield* Effect.sleep(700)
      yield* callTimes(dbB!, dep.fail, 1)
      const fb = yield* hammer(dbB!)
      let opened = false
      const start = performance.now()
      while (performance.now() - start < 2500) {
        if ((yield* readRecord(redis, recordKey(prefix, "db"))).status === "open") opened = true
        yield* Effect.sleep(20)
      }
      yield* Fiber.join(fa); yield* Fiber.join(fb)
      assert.isTrue(opened, "both replicas failing continuously, yet the fleet never reached quorum")
    }).pipe(Effect.scoped), 20_000)

  it.live("a close reached while degraded past the fleet's deadline is asserted; a later trip opens for its full duration", () =>
    Effect.gen(function*() {
      const { a, dep } = yield* openedThenCutOff("rv-r4")
      // A probes locally and recovers
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(a.breaker.execute(dep.ok))))
      yield* assertStatus(a.breaker, "closed")
      yield* a.heal
      yield* Effect.sleep(400)
      yield* assertStatus(a.breaker, "closed", "kept closed after heal")
      // A trips again: its own fresh opening should last 300 ms
      yield* callTimes(a.breaker, dep.fail, 1)
      yield* Effect.sleep(150)
      const s = yield* a.breaker.state
      assert.isTrue(s.status === "open" && (s.retryAfterMillis ?? 0) > 0, `A's fresh trip was cut to 0 ms (state ${s.status}, retry ${s.retryAfterMillis})`)
    }).pipe(Effect.scoped), 20_000)

  it.live("a close reached while degraded past the deadline is not pulled back to half-open by another replica", () =>
    Effect.gen(function*() {
      const { a, b, dep } = yield* openedThenCutOff("rv-r5")
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(a.breaker.execute(dep.ok))))
      yield* a.heal
      yield* Effect.sleep(400)
      yield* assertStatus(a.breaker, "closed", "kept closed after heal")
      const probe = yield* Effect.forkChild(b.breaker.execute(dep.hold))
      yield* Effect.sleep(200)
      const s = yield* a.breaker.state
      const exit = yield* Effect.exit(a.breaker.execute(dep.ok))
      dep.release()
      yield* Fiber.join(probe)
      assert.strictEqual(s.status, "closed", "A recovered, yet went back to half-open")
      assert.isTrue(Exit.isSuccess(exit), "A's call runs")
    }).pipe(Effect.scoped), 20_000)
})
