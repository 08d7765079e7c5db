// Three replicas as three processes (test/fixtures/replica.ts, run by node on the built package) on one Redis:
// what the in-process tests show, across process boundaries, and what only processes can do (be frozen, be killed).
// These tests never kill the server, so they honour REDIS_URL.
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readdirSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import {
  directClient,
  eventually,
  fastMillis,
  heldBy,
  type ProcessReplica,
  readRecord,
  recordKey,
  type RedisClient,
  redisTime,
  since,
  spawnReplica,
  withoutLease
} from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

// a message crosses loopback in a few ms, and a reply comes back through a pipe
const propagation = 300

// the fixture runs the built package: a stale build would test old code
beforeAll(() => {
  const root = fileURLToPath(new URL("..", import.meta.url))
  const stale: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith(".ts")) {
        const built = join(root, "dist", relative(join(root, "src"), path)).replace(/\.ts$/, ".js")
        let builtAt = 0
        try {
          builtAt = statSync(built).mtimeMs
        } catch {
          // missing
        }
        if (builtAt < statSync(path).mtimeMs) stale.push(relative(root, path))
      }
    }
  }
  walk(join(root, "src"))
  if (stale.length > 0) throw new Error(`packages/core/dist is older than ${stale.join(", ")}: run npx tsc -b first`)
})

const status = (replica: ProcessReplica, expected: string) =>
  Effect.map(replica.state, (s) => assert.strictEqual(s.status, expected, replica.id))

// A store timeout of 300 ms rather than 100: the first script a freshly started process runs can take longer than
// 100 ms (cold code, the script loaded on first use), and a timed-out probe claim rightly degrades that replica to
// a probe of its own, which these tests, about the shared path, do not want.
const fleetOf = (url: string, prefix: string, env: Readonly<Record<string, string>> = {}) =>
  Effect.all(
    ["a", "b", "c"].map((id) => spawnReplica({ url, prefix, id, env: { TIMEOUT_MS: "300", ...env } })),
    { concurrency: "unbounded" }
  )

// A trips on two failures, B and C hear of its opening, and A's open duration runs out
const tripAndWaitOut = (a: ProcessReplica, b: ProcessReplica, c: ProcessReplica, redis: RedisClient, key: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2; i++) yield* Effect.promise(() => a.send({ op: "call", dep: "fail" }))
    yield* eventually(Effect.all([status(b, "open"), status(c, "open")]), propagation)
    yield* eventually(Effect.map(a.state, (s) => assert.strictEqual(s.retryAfterMillis, 0)), 1000)
    // and by Redis's clock too (A's local deadline comes a confirmation's round trip before the fleet's)
    yield* eventually(
      Effect.flatMap(
        Effect.all([readRecord(redis, key), redisTime(redis)]),
        ([record, now]) => Effect.sync(() => assert.isAtMost(Number(record.openUntil), now))
      ),
      1000
    )
  })

describe("RedisBreakerStore across processes", () => {
  it.live("three processes: one trip opens all; after the open duration, one probe for all three, which closes them", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("procs")
      const [a, b, c] = yield* fleetOf(url, prefix, { TRIP: "3", OPEN_MS: "500" })

      for (let i = 0; i < 3; i++) yield* Effect.promise(() => a!.send({ op: "call", dep: "fail" }))
      const tripped = performance.now()
      yield* eventually(Effect.all([status(b!, "open"), status(c!, "open")]), propagation)
      assert.isBelow(since(tripped), propagation)
      for (const replica of [b!, c!]) {
        const reply = yield* Effect.promise(() => replica.send({ op: "call", dep: "ok" }))
        assert.strictEqual(reply.result, "rejected")
        assert.strictEqual(reply.status, "open")
        assert.strictEqual(yield* replica.calls, 0)
        assert.deepStrictEqual(replica.transitions.map((t) => [t.to, t.origin]), [["open", "remote"]])
      }
      assert.deepStrictEqual(a!.transitions.map((t) => [t.to, t.origin]), [["open", "local"]])

      yield* eventually(
        Effect.forEach([a!, b!, c!], (r) => Effect.map(r.state, (s) => assert.strictEqual(s.retryAfterMillis, 0))),
        1000
      )
      const before = yield* Effect.forEach([a!, b!, c!], (r) => r.calls)
      // ten calls on each process at once: one probe among the thirty
      const replies = yield* Effect.promise(() =>
        Promise.all([a!, b!, c!].flatMap((r) => Array.from({ length: 10 }, () => r.send({ op: "call", dep: "slow", ms: 300 }))))
      )
      const after = yield* Effect.forEach([a!, b!, c!], (r) => r.calls)
      assert.strictEqual(after.reduce((x, y) => x + y, 0) - before.reduce((x, y) => x + y, 0), 1)
      assert.strictEqual(replies.filter((r) => r.result === "success").length, 1)
      for (const reply of replies.filter((r) => r.result !== "success")) {
        assert.strictEqual(reply.result, "rejected")
        assert.include(["half_open", "open"], reply.status)
      }
      yield* eventually(Effect.forEach([a!, b!, c!], (r) => status(r, "closed")), propagation)
      for (const replica of [a!, b!, c!]) {
        const closing = replica.transitions.at(-1)!
        assert.strictEqual(closing.to, "closed")
        // the prober closed it; the other two adopted its closing
        assert.strictEqual(closing.origin, replica.transitions.at(-2)?.origin === "local" ? "local" : "remote")
      }
      assert.strictEqual(
        [a!, b!, c!].filter((r) => r.transitions.some((t) => t.to === "closed" && t.origin === "local")).length,
        1
      )
    }).pipe(Effect.scoped), 10_000)

  it.live("a process killed (SIGKILL) while it holds the probe: its lease lapses and one other process probes", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("procs-kill")
      const redis = yield* directClient(url)
      const key = recordKey(prefix, "db")
      const [a, b, c] = yield* fleetOf(url, prefix, { TRIP: "2", OPEN_MS: "300" })
      yield* tripAndWaitOut(a!, b!, c!, redis, key)

      void a!.send({ op: "call", dep: "hold" })
      yield* heldBy(redis, key, "a", propagation)
      a!.signal("SIGKILL")
      yield* Effect.sleep(20)
      const held = yield* readRecord(redis, key)

      // b and c call every 20 ms until a call is let through, then once more each while that probe runs
      const started = performance.now()
      const replies: Array<Promise<unknown>> = []
      yield* eventually(
        Effect.gen(function*() {
          for (const r of [b!, c!]) replies.push(r.send({ op: "call", dep: "slow", ms: 300 }))
          const calls = yield* Effect.forEach([b!, c!], (r) => r.calls)
          assert.isAbove(calls[0]! + calls[1]!, 0)
        }),
        fastMillis.probeLease + 500,
        20
      )
      const waited = since(started)
      for (const r of [b!, c!]) replies.push(r.send({ op: "call", dep: "slow", ms: 300 }))
      yield* Effect.sleep(50)
      const calls = yield* Effect.forEach([b!, c!], (r) => r.calls)
      assert.strictEqual(calls[0]! + calls[1]!, 1, "one probe")
      const claimed = yield* readRecord(redis, key)
      assert.include(["b", "c"], claimed.holder)
      assert.isAtLeast(Number(claimed.since), Number(held.leaseUntil))
      assert.isAbove(Number(claimed.gen), Number(held.gen))
      assert.isBelow(waited, fastMillis.probeLease + 300)
      yield* Effect.promise(() => Promise.all(replies))
      yield* eventually(Effect.all([status(b!, "closed"), status(c!, "closed")]), propagation)
    }).pipe(Effect.scoped), 10_000)

  it.live(
    "a process frozen (SIGSTOP) while it holds the probe loses its lease to another; resumed, its late success " +
      "is fenced: the fleet stays in the new probe period, and so does the resumed process",
    () =>
      Effect.gen(function*() {
        const url = yield* Server.sharedUrl
        const prefix = Server.uniquePrefix("procs-stop")
        const redis = yield* directClient(url)
        const key = recordKey(prefix, "db")
        const [a, b, c] = yield* fleetOf(url, prefix, { TRIP: "2", OPEN_MS: "300" })
        yield* tripAndWaitOut(a!, b!, c!, redis, key)

        const probeA = a!.send({ op: "call", dep: "hold" })
        const heldByA = yield* heldBy(redis, key, "a", propagation)
        a!.signal("SIGSTOP")

        // B takes the probe over once A's lease lapsed
        const probeB = yield* eventually(
          Effect.gen(function*() {
            const reply = b!.send({ op: "call", dep: "hold" })
            yield* Effect.sleep(20)
            assert.strictEqual(yield* b!.calls, 1)
            return reply
          }),
          fastMillis.probeLease + 500,
          0
        )
        const heldByB = yield* readRecord(redis, key)
        assert.strictEqual(heldByB.status, "half_open")
        assert.strictEqual(heldByB.holder, "b")
        assert.isAbove(Number(heldByB.gen), Number(heldByA.gen))

        a!.signal("SIGCONT")
        // A hears of it (its renewal is refused, and B's claim was published)
        yield* eventually(
          Effect.map(a!.state, (s) => assert.strictEqual(s.shared?.generation, Number(heldByB.gen))),
          propagation
        )
        yield* Effect.promise(() => a!.send({ op: "release" }))
        const lateA = yield* Effect.promise(() => probeA)
        assert.strictEqual(lateA.result, "success")
        // at once: a resync would reopen it later, after letting calls through meanwhile
        yield* status(a!, "half_open")
        const callA = yield* Effect.promise(() => a!.send({ op: "call", dep: "ok" }))
        assert.strictEqual(callA.status, "half_open")
        yield* Effect.sleep(100)
        assert.deepStrictEqual(
          withoutLease(yield* readRecord(redis, key)),
          withoutLease(heldByB),
          "the fleet's record is still B's probe period (B renews its lease meanwhile)"
        )
        yield* Effect.forEach([b!, c!], (r) => status(r, "half_open"))
        yield* status(a!, "half_open")
        assert.strictEqual(yield* c!.calls, 0)

        yield* Effect.promise(() => b!.send({ op: "release" }))
        assert.strictEqual((yield* Effect.promise(() => probeB)).result, "success")
        yield* eventually(Effect.forEach([a!, b!, c!], (r) => status(r, "closed")), propagation)
        assert.deepStrictEqual(a!.transitions.map((t) => [t.to, t.origin]), [
          ["open", "local"],
          ["half_open", "local"],
          ["closed", "remote"]
        ])
      }).pipe(Effect.scoped),
    10_000
  )
})
