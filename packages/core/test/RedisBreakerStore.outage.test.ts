// Breakers shared on a Redis that goes away: killed (SIGKILL) and restarted, or frozen (SIGSTOP) and resumed.
// Each test owns its server (never REDIS_URL's) and is skipped when redis-server cannot be run here.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TripRule } from "../src/index.js"
import {
  assertStatus,
  callTimes,
  dbFleet,
  dependency,
  directClient,
  eventually,
  fastMillis,
  logsWith,
  readRecord,
  recordKey,
  rejection,
  replica,
  timed
} from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

// how much later than the store timeout a call may end: the event loop of a busy test machine
const slack = 50
const degradedLog = "breaker store degraded"

describe("RedisBreakerStore without Redis", () => {
  it.live.runIf(Server.canOwnServer())(
    "Redis killed mid-run: calls flow on local decisions, none waits, degraded said once per replica; " +
      "restarted: shared again, and an opening made meanwhile reaches the others",
    () =>
      Effect.gen(function*() {
        const server = yield* Server.acquire()
        const prefix = Server.uniquePrefix("kill")
        const { fleet, dbs } = yield* dbFleet(3, {
          url: server.url,
          prefix,
          breakers: { default: { trip: TripRule.consecutive(3), openDuration: "4 seconds" } }
        })
        const deps = fleet.map(() => dependency())
        const latencies: Array<number> = []
        let running = true
        const traffic = (i: number) =>
          Effect.gen(function*() {
            while (running) {
              const { millis } = yield* timed(fleet[i]!.within(dbs[i]!.execute(deps[i]!.current)))
              latencies.push(millis)
              yield* Effect.sleep(5)
            }
          })
        const fibers = yield* Effect.forEach([0, 1, 2], (i) => Effect.forkChild(traffic(i)))
        yield* Effect.sleep(100)

        yield* Effect.promise(() => server.kill())
        const atKill = deps.map((d) => d.calls())
        // each replica finds out on its next Redis call (a resync at the latest)
        yield* eventually(
          Effect.forEach(fleet, (r) => Effect.map(r.store.mode, (mode) => assert.strictEqual(mode, "degraded", r.id))),
          1.2 * fastMillis.syncInterval + fastMillis.storeTimeout + 300
        )
        for (const db of dbs) assert.strictEqual((yield* db.state).shared?.mode, "degraded")

        // A's dependency fails: A trips on its own, at once, and rejects; B and C go on calling theirs
        deps[0]!.failing(true)
        yield* eventually(assertStatus(dbs[0]!, "open", "a"), 500)
        const atTrip = deps.map((d) => d.calls())
        yield* Effect.sleep(300)
        assert.strictEqual(deps[0]!.calls(), atTrip[0], "A rejects while open")
        for (const i of [1, 2]) {
          assert.isAbove(deps[i]!.calls(), atKill[i]! + 20, `${fleet[i]!.id} kept calling`)
          assert.strictEqual((yield* dbs[i]!.state).status, "closed")
        }
        assert.deepStrictEqual(fleet[0]!.transitionsOf("db").map((t) => [t.to, t.origin]), [["open", "local"]])
        // said once, not per call nor per failed resync or health check
        for (const replica of fleet) assert.strictEqual(logsWith(replica, degradedLog).length, 1, replica.id)

        yield* Effect.promise(() => server.restart())
        yield* eventually(
          Effect.forEach(fleet, (r) => Effect.map(r.store.mode, (mode) => assert.strictEqual(mode, "shared", r.id))),
          2000
        )
        // the opening A made while Redis was away is asserted again, and the others adopt it
        yield* eventually(Effect.forEach(dbs, (db) => assertStatus(db, "open")), 1.2 * fastMillis.syncInterval + 300)
        const redis = yield* directClient(server.url)
        const record = yield* readRecord(redis, recordKey(prefix, "db"))
        assert.strictEqual(record.status, "open")
        assert.strictEqual(record.by, "a")
        for (const i of [1, 2]) {
          const path = fleet[i]!.transitionsOf("db").map((t) => t.to)
          assert.deepStrictEqual(path, ["open"])
          assert.include(["remote", "sync"], fleet[i]!.transitionsOf("db")[0]!.origin)
          // its opening's time left, not a fresh open duration
          const left = (yield* dbs[i]!.state).retryAfterMillis ?? 0
          assert.isBelow(left, 4000)
          assert.isAbove(left, 1000)
        }
        running = false
        yield* Effect.forEach(fibers, Fiber.join, { discard: true })

        assert.isAbove(latencies.length, 100)
        assert.isAtMost(Math.max(...latencies), fastMillis.storeTimeout + slack)
        for (const replica of fleet) {
          assert.strictEqual(logsWith(replica, degradedLog).length, 1, replica.id)
          assert.strictEqual(logsWith(replica, "reachable again").length, 1, replica.id)
        }
      }).pipe(Effect.scoped),
    10_000
  )

  it.live.runIf(Server.canOwnServer())(
    "Redis frozen (SIGSTOP) when the probe is due: each claim waits the store timeout at most, then one local " +
      "probe per replica closes it; resumed: shared again, and the fleet's opening, past its deadline, does not " +
      "reopen them",
    () =>
      Effect.gen(function*() {
        const server = yield* Server.acquire()
        const prefix = Server.uniquePrefix("freeze")
        const { fleet, dbs } = yield* dbFleet(2, {
          url: server.url,
          prefix,
          breakers: { default: { trip: TripRule.consecutive(2), openDuration: "300 millis" } }
        })
        const deps = fleet.map(() => dependency())
        yield* callTimes(dbs[0]!, deps[0]!.fail, 2)
        yield* eventually(Effect.forEach(dbs, (db) => assertStatus(db, "open")), 200)
        yield* eventually(
          Effect.forEach(dbs, (db) => Effect.map(db.state, (s) => assert.strictEqual(s.retryAfterMillis, 0))),
          1000
        )
        const before = deps.map((d) => d.calls())

        process.kill(server.pid, "SIGSTOP")
        yield* Effect.addFinalizer(() => Effect.sync(() => process.kill(server.pid, "SIGCONT")))
        const calls = yield* Effect.forEach(
          [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
          (i) => Effect.map(timed(fleet[i]!.within(dbs[i]!.execute(deps[i]!.ok))), (result) => ({ i, ...result })),
          { concurrency: "unbounded" }
        )
        for (const call of calls) assert.isAtMost(call.millis, fastMillis.storeTimeout + slack)
        // one probe per replica: the claim that found Redis frozen, decided locally once the timeout was over
        for (const i of [0, 1]) {
          assert.strictEqual(deps[i]!.calls() - before[i]!, 1, fleet[i]!.id)
          const mine = calls.filter((c) => c.i === i)
          const probe = mine.filter((c) => Exit.isSuccess(c.exit))
          assert.strictEqual(probe.length, 1)
          assert.isAtLeast(probe[0]!.millis, fastMillis.storeTimeout - 5)
          for (const c of mine.filter((c) => Exit.isFailure(c.exit))) {
            assert.strictEqual(rejection(c.exit)?.status, "half_open")
          }
          assert.strictEqual((yield* dbs[i]!.state).shared?.mode, "degraded")
        }

        process.kill(server.pid, "SIGCONT")
        yield* eventually(
          Effect.forEach(fleet, (r) => Effect.map(r.store.mode, (mode) => assert.strictEqual(mode, "shared", r.id))),
          2000
        )
        for (const replica of fleet) assert.strictEqual(logsWith(replica, degradedLog).length, 1, replica.id)
        // the replicas resync: the opening they probed and closed on their own is over, it does not win again
        yield* Effect.sleep(2 * 1.2 * fastMillis.syncInterval + 100)
        for (const [i, replica] of fleet.entries()) {
          assert.strictEqual((yield* dbs[i]!.state).status, "closed", replica.id)
          assert.deepStrictEqual(replica.transitionsOf("db").map((t) => [t.to, t.origin]), [
            ["open", i === 0 ? "local" : "remote"],
            ["half_open", "local"],
            ["closed", "local"]
          ], replica.id)
        }
      }).pipe(Effect.scoped),
    10_000
  )

  it.live.runIf(Server.canOwnServer())(
    "Redis down at start-up: the layer builds at once, breakers decide locally, said once; " +
      "Redis up: awaitShared returns and the store is shared",
    () =>
      Effect.gen(function*() {
        const server = yield* Server.acquire()
        yield* Effect.promise(() => server.stop())
        const prefix = Server.uniquePrefix("startup")
        const started = performance.now()
        const a = yield* replica({
          url: server.url,
          prefix,
          id: "a",
          breakers: { default: { trip: TripRule.consecutive(2), openDuration: "5 seconds" } },
          waitShared: false
        })
        assert.isBelow(performance.now() - started, 500, "the layer does not wait for Redis")
        assert.strictEqual(yield* a.store.mode, "degraded")
        const waited = yield* Effect.timeoutOption(a.store.awaitShared, 300)
        assert.strictEqual(waited._tag, "None")
        // a local breaker meanwhile
        const db = a.registry.breaker("db")
        yield* callTimes(db, dependency().fail, 2)
        assert.strictEqual((yield* db.state).status, "open")
        assert.strictEqual((yield* db.state).shared?.mode, "degraded")
        yield* eventually(Effect.sync(() => assert.lengthOf(logsWith(a, "unreachable at start-up"), 1)), 1000)

        yield* Effect.promise(() => server.restart())
        yield* Effect.timeout(a.store.awaitShared, 5000)
        assert.strictEqual(yield* a.store.mode, "shared")
        assert.lengthOf(logsWith(a, "unreachable at start-up"), 1)
        // the opening made while Redis was down reaches the fleet
        const redis = yield* directClient(server.url)
        yield* eventually(
          Effect.map(readRecord(redis, recordKey(prefix, "db")), (r) => assert.strictEqual(r.status, "open")),
          2000
        )
      }).pipe(Effect.scoped),
    20_000
  )

  it.live.runIf(Server.canOwnServer())(
    "Redis frozen (SIGSTOP) at shutdown: releasing the layer ends within its one-second bound",
    () =>
      Effect.gen(function*() {
        const server = yield* Server.acquire()
        const a = yield* replica({ url: server.url, prefix: Server.uniquePrefix("shutdown"), id: "a" })
        yield* a.breaker("db")
        process.kill(server.pid, "SIGSTOP")
        // a command in flight to the frozen server: node-redis's graceful close would wait for its reply for ever
        yield* a.store.sync
        const started = performance.now()
        yield* a.close
        const took = performance.now() - started
        process.kill(server.pid, "SIGCONT")
        assert.isBelow(took, 1_000 + 500)
      }).pipe(Effect.scoped),
    15_000
  )
})
