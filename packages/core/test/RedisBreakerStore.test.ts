// Breakers shared on a real Redis by three replicas in one process (three registries, each on a store and Redis
// connections of its own, sharing nothing but Redis). These tests never kill the server, so they honour
// REDIS_URL (`Server.sharedUrl`); each uses a prefix of its own. Real time: short intervals (see `support/fleet.ts`)
// and bounded polls.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { BreakerRegistry, type CircuitBreaker, TripRule } from "../src/index.js"
import {
  assertStatus,
  callTimes,
  dbFleet,
  dependency,
  directClient,
  eventually,
  expectedEncoding,
  fastMillis,
  heldBy,
  logsWith,
  messageText,
  readRecord,
  recordKey,
  recordMessages,
  redisTime,
  type RedisClient,
  rejection,
  replica,
  replicas,
  since,
  withoutLease
} from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

// a message crosses loopback in a few milliseconds; this bounds it with room for a loaded machine
const propagation = 200

// A trips on two failures of `depA`, B and C hear of its opening, and A's open duration runs out
const tripAndWaitOut = (
  dbA: CircuitBreaker.CircuitBreaker,
  dbB: CircuitBreaker.CircuitBreaker,
  dbC: CircuitBreaker.CircuitBreaker,
  depA: ReturnType<typeof dependency>,
  redis: RedisClient,
  key: string
) =>
  Effect.gen(function*() {
    yield* callTimes(dbA, depA.fail, 2)
    yield* eventually(Effect.forEach([dbB, dbC], (x) => assertStatus(x, "open")), propagation)
    yield* eventually(Effect.map(dbA.state, (s) => assert.strictEqual(s.retryAfterMillis, 0)), 1000)
    // and by Redis's clock too: A's local deadline comes a confirmation's round trip before the fleet's, and a
    // claim made in between is refused (A then waits out the rest)
    yield* eventually(
      Effect.flatMap(
        Effect.all([readRecord(redis, key), redisTime(redis)]),
        ([record, now]) => Effect.sync(() => assert.isAtMost(Number(record.openUntil), now))
      ),
      1000
    )
  })

describe("RedisBreakerStore", () => {
  it.live("one trip opens all: the others reject at once, from the remote opening, without calling", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("trip")
      const { fleet: [a, b, c], dbs: [dbA, dbB, dbC] } = yield* dbFleet(3, {
        url,
        prefix,
        breakers: { default: { trip: TripRule.consecutive(3), openDuration: "5 seconds" } }
      })
      const depA = dependency(), depB = dependency(), depC = dependency()

      yield* callTimes(dbA!, depA.fail, 3)
      const tripped = performance.now()
      assert.strictEqual((yield* dbA!.state).status, "open")
      yield* eventually(Effect.all([assertStatus(dbB!, "open", "b"), assertStatus(dbC!, "open", "c")]), propagation)
      const seenIn = since(tripped)

      for (const [breaker, dep] of [[dbB!, depB], [dbC!, depC]] as const) {
        const exit = yield* Effect.exit(breaker.execute(dep.ok))
        const error = rejection(exit)
        assert.strictEqual(error?.status, "open")
        assert.isAbove(error!.retryAfterMillis, 4000)
        assert.strictEqual(dep.calls(), 0)
      }
      assert.strictEqual(depA.calls(), 3)
      assert.deepStrictEqual(a!.transitionsOf("db").map((t) => [t.to, t.origin, t.reason]), [
        ["open", "local", "consecutive_failures"]
      ])
      for (const replica of [b!, c!]) {
        // the deciding replica's reason, adopted
        assert.deepStrictEqual(replica.transitionsOf("db").map((t) => [t.to, t.origin, t.reason]), [
          ["open", "remote", "consecutive_failures"]
        ])
      }
      assert.isBelow(seenIn, propagation)
    }).pipe(Effect.scoped), 10_000)

  it.live("racing trips on three replicas make one opening in Redis, published once, then one probe", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("race")
      const redis = yield* directClient(url)
      const messages = yield* recordMessages(url, prefix)
      const { fleet, dbs: breakers } = yield* dbFleet(3, {
        url,
        prefix,
        breakers: { default: { trip: TripRule.consecutive(3), openDuration: "800 millis" } }
      })
      const dep = dependency()
      // two failures each, then the third on all three at the same moment
      yield* Effect.forEach(breakers, (b) => callTimes(b, dep.fail, 2), { discard: true })
      yield* Effect.forEach(breakers, (b) => Effect.exit(b.execute(dep.fail)), { concurrency: "unbounded" })
      assert.strictEqual(dep.calls(), 9)

      // every replica opened for itself at once; the confirmations race in Redis
      const record = yield* eventually(
        Effect.flatMap(readRecord(redis, recordKey(prefix, "db")), (r) =>
          Effect.sync(() => {
            assert.strictEqual(r.status, "open")
            return r
          })),
        propagation
      )
      // let the losers' confirmations land
      yield* Effect.sleep(100)
      const after = yield* readRecord(redis, recordKey(prefix, "db"))
      // one opening: the record the first confirmation wrote, announced once; the others lost the race
      assert.deepStrictEqual(after, record)
      assert.strictEqual(after.openings, "1")
      assert.include(["a", "b", "c"], after.by)
      assert.strictEqual(messages.length, 1)
      assert.strictEqual(messages[0]?.status, "open")
      assert.strictEqual(String(messages[0]?.gen), after.gen)
      for (const [i, breaker] of breakers.entries()) {
        const state = yield* breaker.state
        assert.strictEqual(state.status, "open")
        assert.strictEqual(state.openings, 1)
        assert.strictEqual(state.shared?.generation, Number(after.gen))
        // one transition each: its own trip; the fleet's opening (the same status) is adopted in place
        assert.deepStrictEqual(fleet[i]!.transitionsOf("db").map((t) => [t.to, t.origin]), [["open", "local"]])
      }

      // the losers of the race hold the fleet's opening, not one of their own: one probe for the fleet still
      yield* eventually(
        Effect.forEach(breakers, (b) => Effect.map(b.state, (s) => assert.strictEqual(s.retryAfterMillis, 0))),
        1500
      )
      const before = dep.calls()
      const exits = yield* Effect.forEach(
        breakers.flatMap((b) => Array.from({ length: 5 }, () => b)),
        (b) => Effect.exit(b.execute(dep.slow(200))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(dep.calls() - before, 1, "one probe reached the dependency")
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
      yield* eventually(Effect.forEach(breakers, (b) => assertStatus(b, "closed")), propagation)
    }).pipe(Effect.scoped), 10_000)

  it.live("exactly one probe per half-open period across the fleet, and its success closes all three", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("probe")
      const { fleet, dbs: breakers } = yield* dbFleet(3, {
        url,
        prefix,
        breakers: { default: { trip: TripRule.consecutive(3), openDuration: "500 millis" } }
      })
      const dep = dependency()
      yield* callTimes(breakers[0]!, dep.fail, 3)
      yield* eventually(Effect.forEach(breakers, (b) => assertStatus(b, "open")), propagation)
      // every replica past the open duration (its local deadline is the fleet's, from when it heard of it)
      yield* eventually(
        Effect.forEach(breakers, (b) => Effect.map(b.state, (s) => assert.strictEqual(s.retryAfterMillis, 0))),
        1000
      )
      // and by Redis's clock (the tripping replica's local deadline comes a confirmation's round trip earlier)
      const redis = yield* directClient(url)
      yield* eventually(
        Effect.flatMap(
          Effect.all([readRecord(redis, recordKey(prefix, "db")), redisTime(redis)]),
          ([record, now]) => Effect.sync(() => assert.isAtMost(Number(record.openUntil), now))
        ),
        1000
      )
      const before = dep.calls()

      // every replica calls at once, many times, and again while the probe runs
      const probing = dep.slow(300)
      const wave = () =>
        Effect.forEach(
          breakers.flatMap((b) => Array.from({ length: 10 }, () => b)),
          (b) => Effect.exit(b.execute(probing)),
          { concurrency: "unbounded" }
        )
      const first = yield* Effect.forkChild(wave())
      yield* Effect.sleep(100)
      const second = yield* wave()
      const firstExits = yield* Fiber.join(first)
      const exits = [...firstExits, ...second]
      assert.strictEqual(dep.calls() - before, 1, "one probe reached the dependency")
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
      const rejected = exits.filter(Exit.isFailure).map((e) => rejection(e)?.status)
      assert.strictEqual(rejected.length, 59)
      for (const status of rejected) assert.include(["half_open", "open"], status)
      // the second wave ran while the probe did: the half-open period held every other call back
      for (const exit of second) assert.strictEqual(rejection(exit)?.status, "half_open")

      yield* eventually(Effect.forEach(breakers, (b) => assertStatus(b, "closed")), propagation)
      const prober = fleet.findIndex((r) => r.transitionsOf("db").some((t) => t.to === "half_open" && t.origin === "local"))
      assert.isAtLeast(prober, 0)
      for (const [i, replica] of fleet.entries()) {
        // a change made elsewhere is adopted once: by its message (remote), or by a resync that came first (sync,
        // seen on a loaded machine); counted the same
        const path = replica.transitionsOf("db").map((t) => [t.to, t.origin === "sync" ? "remote" : t.origin])
        const origin = i === prober ? "local" : "remote"
        assert.deepStrictEqual(path, [
          ["open", i === 0 ? "local" : "remote"],
          ["half_open", origin],
          ["closed", origin]
        ])
      }
    }).pipe(Effect.scoped), 10_000)

  it.live("a holder that goes away mid-probe (its scope closed): the lease lapses, another replica probes once", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("lapse")
      const redis = yield* directClient(url)
      const { fleet: [a], dbs: [dbA, dbB, dbC] } = yield* dbFleet(3, {
        url,
        prefix,
        breakers: { default: { trip: TripRule.consecutive(2), openDuration: "300 millis" } }
      })
      const depA = dependency(), dep = dependency()
      yield* tripAndWaitOut(dbA!, dbB!, dbC!, depA, redis, recordKey(prefix, "db"))

      // A claims the probe, whose call never ends
      const probeA = yield* Effect.forkChild(dbA!.execute(depA.hold))
      const key = recordKey(prefix, "db")
      yield* heldBy(redis, key, "a", propagation)
      yield* eventually(Effect.forEach([dbB!, dbC!], (x) => assertStatus(x, "half_open")), propagation)
      assert.strictEqual(depA.calls(), 3)

      // A goes away: nothing renews its lease any more
      yield* a!.close
      const held = yield* readRecord(redis, key)
      const leaseUntil = Number(held.leaseUntil)
      assert.isAbove(leaseUntil, 0)

      // B and C call in waves until one call reaches the dependency; then once more while that probe runs
      const wave = Effect.forEach(
        [dbB!, dbC!].flatMap((x) => Array.from({ length: 5 }, () => x)),
        (x) => Effect.exit(x.execute(dep.slow(200))),
        { concurrency: "unbounded", discard: true }
      )
      const started = performance.now()
      const probing = yield* Effect.forkChild(Effect.gen(function*() {
        while (dep.calls() === 0) {
          // not a child: the probe among them must not be interrupted when this loop ends
          yield* Effect.forkScoped(wave)
          yield* Effect.sleep(20)
        }
      }))
      yield* eventually(Effect.sync(() => assert.isAbove(dep.calls(), 0)), fastMillis.probeLease + 500)
      yield* Fiber.join(probing)
      const waited = since(started)
      const claimed = yield* readRecord(redis, key)
      yield* wave
      assert.strictEqual(dep.calls(), 1, "one probe reached the dependency")
      // handed over once the lease lapsed (by Redis time), not before, to a new generation
      assert.isAtLeast(Number(claimed.since), leaseUntil)
      assert.include(["b", "c"], claimed.holder)
      assert.isAbove(Number(claimed.gen), Number(held.gen))
      assert.isBelow(waited, fastMillis.probeLease + 300)

      yield* eventually(Effect.forEach([dbB!, dbC!], (x) => assertStatus(x, "closed")), 200 + propagation)
      const closed = yield* readRecord(redis, key)
      assert.strictEqual(closed.status, "closed")
      assert.strictEqual(closed.by, claimed.holder)
      // A's call ends at last: a replica that went away changes nothing
      depA.release()
      yield* Effect.exit(Fiber.join(probeA))
      yield* Effect.sleep(50)
      assert.deepStrictEqual(yield* readRecord(redis, key), closed)
    }).pipe(Effect.scoped), 10_000)

  it.live(
    "a live holder whose lease lapsed (its renewals lost: leaseUntil expired in Redis by hand) hands the probe " +
      "over, and its late success is fenced: neither the fleet nor itself closes on it",
    () =>
      Effect.gen(function*() {
        const url = yield* Server.sharedUrl
        const prefix = Server.uniquePrefix("fence")
        const redis = yield* directClient(url)
        const { fleet: [a, b], dbs: [dbA, dbB, dbC] } = yield* dbFleet(3, {
          url,
          prefix,
          breakers: { default: { trip: TripRule.consecutive(2), openDuration: "300 millis" } }
        })
        const depA = dependency(), depB = dependency(), depC = dependency()
        yield* tripAndWaitOut(dbA!, dbB!, dbC!, depA, redis, recordKey(prefix, "db"))

        const probeA = yield* Effect.forkChild(Effect.exit(dbA!.execute(depA.hold)))
        const key = recordKey(prefix, "db")
        const heldByA = yield* heldBy(redis, key, "a", propagation)
        // A's renewals are lost from here on: its lease is over now
        yield* Effect.promise(() => redis.hSet(key, "leaseUntil", "0"))

        // B's claim takes the probe over (once B's view of A's lease runs out), as a new generation
        const probeB = yield* Effect.forkChild(Effect.gen(function*() {
          while (true) {
            const exit = yield* Effect.exit(dbB!.execute(depB.hold))
            if (rejection(exit) === undefined) return exit
            yield* Effect.sleep(20)
          }
        }))
        const heldByB = yield* eventually(Effect.flatMap(readRecord(redis, key), (r) =>
          Effect.sync(() => {
            assert.strictEqual(r.holder, "b")
            return r
          })), fastMillis.probeLease + 500)
        assert.strictEqual(heldByB.status, "half_open")
        assert.isAbove(Number(heldByB.gen), Number(heldByA.gen))
        yield* eventually(Effect.sync(() => assert.strictEqual(depB.calls(), 1)), propagation)
        // A heard of it
        yield* eventually(
          Effect.map(dbA!.state, (s) => assert.strictEqual(s.shared?.generation, Number(heldByB.gen))),
          propagation
        )

        // A's probe succeeds now, too late: fenced off. A does not close on it (a resync would reopen it within
        // 1.2 x syncInterval, after letting every call through meanwhile): it lets no call through while B probes
        depA.release()
        const exitA = yield* Fiber.join(probeA)
        assert.isTrue(Exit.isSuccess(exitA))
        assert.strictEqual((yield* dbA!.state).status, "half_open", "a, at once")
        const callA = yield* Effect.exit(dbA!.execute(depA.ok))
        assert.strictEqual(rejection(callA)?.status, "half_open")
        assert.strictEqual(depA.calls(), 3)
        yield* Effect.sleep(100)
        assert.deepStrictEqual(
          withoutLease(yield* readRecord(redis, key)),
          withoutLease(heldByB),
          "the fleet's record is B's probe period (B renews its lease meanwhile)"
        )
        assert.strictEqual((yield* dbB!.state).status, "half_open")
        assert.strictEqual((yield* dbC!.state).status, "half_open")
        assert.strictEqual((yield* dbA!.state).status, "half_open")
        assert.strictEqual(depC.calls(), 0)

        // B's success closes the fleet; A closes on it, as a remote change
        depB.release()
        yield* Fiber.join(probeB)
        yield* eventually(Effect.forEach([dbA!, dbB!, dbC!], (x) => assertStatus(x, "closed")), propagation)
        assert.deepStrictEqual(a!.transitionsOf("db").map((t) => [t.to, t.origin]), [
          ["open", "local"],
          ["half_open", "local"],
          ["closed", "remote"]
        ])
        assert.deepStrictEqual(b!.transitionsOf("db").map((t) => [t.to, t.origin]), [
          ["open", "remote"],
          ["half_open", "remote"],
          ["closed", "local"]
        ])
      }).pipe(Effect.scoped),
    10_000
  )

  it.live("a lost message (a newer record written without PUBLISH) is adopted by every replica on its resync", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("resync")
      const redis = yield* directClient(url)
      const { fleet, dbs: breakers } = yield* dbFleet(3, {
        url,
        prefix,
        breakers: { default: { trip: TripRule.consecutive(3), openDuration: "5 seconds" } }
      })
      const dep = dependency()
      // another replica's opening, whose message was lost
      const now = yield* redisTime(redis)
      yield* Effect.promise(() =>
        redis.hSet(recordKey(prefix, "db"), {
          status: "open",
          gen: String(now),
          openUntil: String(now + 2000),
          openings: "1",
          epoch: "1",
          lastOpen: "2000",
          holder: "",
          leaseUntil: "0",
          since: String(now),
          by: "ghost",
          reason: "failure_rate"
        })
      )
      const written = performance.now()
      const bound = 1.2 * fastMillis.syncInterval + 100
      yield* eventually(Effect.forEach(breakers, (b) => assertStatus(b, "open")), bound)
      const seenIn = since(written)
      for (const [i, breaker] of breakers.entries()) {
        const state = yield* breaker.state
        assert.strictEqual(state.shared?.generation, now)
        assert.isAbove(state.retryAfterMillis ?? 0, 1000)
        assert.isAtMost(state.retryAfterMillis ?? 0, 2000)
        assert.deepStrictEqual(fleet[i]!.transitionsOf("db").map((t) => [t.to, t.origin, t.reason]), [
          ["open", "sync", "failure_rate"]
        ])
        assert.strictEqual(rejection(yield* Effect.exit(breaker.execute(dep.ok)))?.status, "open")
      }
      assert.strictEqual(dep.calls(), 0)
      assert.isBelow(seenIn, bound)
    }).pipe(Effect.scoped), 10_000)

  it.live("a replica with different rules for a breaker is reported by the others, and warned of once", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("rules")
      const { fleet, dbs } = yield* dbFleet(3, {
        url,
        prefix,
        breakersOf: (id) => ({
          default: { trip: TripRule.consecutive(3) },
          breakers: { db: { trip: TripRule.consecutive(id === "b" ? 5 : 3), openDuration: "5 seconds" } }
        })
      })
      const [a, b, c] = fleet
      const others = yield* Effect.forEach(fleet, (r) => r.breaker("search"))
      // every replica stored its rules on its first read; the periodic resyncs compare them
      const mismatch = yield* eventually(
        Effect.forEach(dbs, (db) =>
          Effect.map(db.state, (s) => {
            assert.isDefined(s.shared?.rulesMismatch)
            return s.shared?.rulesMismatch
          })),
        2 * 1.2 * fastMillis.syncInterval + 300
      )
      // and go on comparing them, warning no more
      yield* Effect.sleep(2 * 1.2 * fastMillis.syncInterval)
      assert.deepStrictEqual(
        yield* Effect.forEach(dbs, (db) => Effect.map(db.state, (s) => s.shared?.rulesMismatch)),
        mismatch
      )
      assert.strictEqual(mismatch[0], "b")
      assert.strictEqual(mismatch[2], "b")
      assert.include(["a", "c"], mismatch[1])
      for (const other of others) assert.isUndefined((yield* other.state).shared?.rulesMismatch)
      for (const replica of [a!, c!]) {
        const warnings = logsWith(replica, "different rules")
        assert.strictEqual(warnings.length, 1, `${replica.id} warned once`)
        assert.strictEqual(warnings[0]?.level, "WARN")
        assert.include(messageText(warnings[0]!), 'replica "b"')
      }
      assert.strictEqual(logsWith(b!, "different rules").length, 1)
    }).pipe(Effect.scoped), 10_000)

  it.live("hostile breaker names are shared exactly, and names that would collide naively stay apart", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("names")
      const redis = yield* directClient(url)
      const messages = yield* recordMessages(url, prefix)
      const [a, b] = yield* replicas(2, {
        url,
        prefix,
        breakers: { default: { trip: TripRule.consecutive(2), openDuration: "5 seconds" } }
      })
      // tripped on A, each next to a name it would collide with if spliced into keys or channels as it is
      const tripped = [
        "a}:votes",
        "a}",
        "{x}",
        "x:y",
        "with space",
        "new\nline",
        `q"u'o\`te\\`,
        "star*?[",
        "ünï cödé 🚦",
        "\uD800lone",
        "%41",
        "events",
        "n".repeat(500),
        "m".repeat(512)
      ]
      const untouched = ["a", "a%7D", "x", "x%3Ay", "~D800lone", "A", "%2541", "m".repeat(511), ""]
      const all = [...tripped, ...untouched]
      const onA = new Map<string, CircuitBreaker.CircuitBreaker>()
      const onB = new Map<string, CircuitBreaker.CircuitBreaker>()
      for (const name of all) {
        onA.set(name, yield* a!.breaker(name))
        onB.set(name, yield* b!.breaker(name))
      }
      const dep = dependency()
      yield* Effect.forEach(tripped, (name) => callTimes(onA.get(name)!, dep.fail, 2), { discard: true })
      yield* eventually(Effect.forEach(tripped, (name) => assertStatus(onB.get(name)!, "open", "b")), 1000)
      yield* Effect.sleep(50)

      for (const name of tripped) {
        assert.deepStrictEqual(b!.transitionsOf(name).map((t) => [t.to, t.origin]), [["open", "remote"]], name)
        const record = yield* readRecord(redis, recordKey(prefix, name))
        assert.strictEqual(record.status, "open", name)
        assert.strictEqual(record.by, "a", name)
      }
      for (const name of untouched) {
        assert.strictEqual((yield* onA.get(name)!.state).status, "closed", JSON.stringify(name))
        assert.strictEqual((yield* onB.get(name)!.state).status, "closed", JSON.stringify(name))
        assert.deepStrictEqual(yield* readRecord(redis, recordKey(prefix, name)), {}, JSON.stringify(name))
      }
      // one message per opening, each naming its breaker's key, all on the one channel of the prefix
      assert.strictEqual(messages.length, tripped.length)
      assert.sameMembers(messages.map((m) => m.key as string), tripped.map(expectedEncoding))
      // every key is a breaker's record or its rules, inside the prefix, and none was written outside it
      const keys = yield* Effect.promise(() => redis.keys(`${prefix}*`))
      assert.sameMembers(
        keys.filter((k) => !k.endsWith(":rules")),
        tripped.map((name) => recordKey(prefix, name))
      )
      assert.strictEqual(keys.filter((k) => k.endsWith(":rules")).length, all.length)
    }).pipe(Effect.scoped), 10_000)

  it.live("a name too long to store: refused with a ConfigError when configured, local when made at run time", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("long")
      const redis = yield* directClient(url)
      const long = "é".repeat(100) // 600 bytes encoded
      const longer = "m".repeat(513)
      const refused = yield* Effect.flip(replica({
        url,
        prefix,
        id: "a",
        breakers: { breakers: { [long]: {}, ok: {} }, operations: { "orders.place": longer } }
      }))
      assert.strictEqual(refused._tag, "ConfigError")
      assert.deepStrictEqual(refused.issues.map((i) => i.path), [["breakers", long], ["operations", "orders.place"]])
      assert.include(refused.issues[0]!.message, "600")
      // without a store, the same options are fine: the limit is the store's
      yield* Effect.scoped(Layer.build(BreakerRegistry.layer({ breakers: { [long]: {} } })))

      const [a, b] = yield* replicas(2, {
        url,
        prefix,
        breakers: { default: { trip: TripRule.consecutive(2), openDuration: "5 seconds" } }
      })
      const onA = a!.registry.breaker(long), onB = b!.registry.breaker(long)
      const stateA = yield* onA.state
      assert.strictEqual(stateA.shared?.mode, "off")
      assert.strictEqual((yield* onB.state).shared?.mode, "off")
      const dep = dependency()
      yield* callTimes(onA, dep.fail, 2)
      assert.strictEqual((yield* onA.state).status, "open")
      yield* Effect.sleep(1.2 * fastMillis.syncInterval + 50)
      assert.strictEqual((yield* onB.state).status, "closed")
      assert.deepStrictEqual(b!.transitionsOf(long), [])
      // said once, however often it is asked for
      a!.registry.breaker(long)
      assert.strictEqual(logsWith(a!, "stays local").length, 1)
      assert.deepStrictEqual(yield* Effect.promise(() => redis.keys(`${prefix}*`)), [])
    }).pipe(Effect.scoped), 10_000)
})
