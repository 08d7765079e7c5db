// The quorum mode on a real Redis (Polly #215's "one bad node poisons all"): a replica that trips opens for
// itself at once, and the fleet opens only once `quorum` replicas tripped within `within`.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TripRule } from "../src/index.js"
import { assertStatus, callTimes, dbFleet, dependency, directClient, eventually, readRecord, recordKey } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

describe("RedisBreakerStore quorum", () => {
  it.live("one replica tripping opens only itself; a second within the window opens the fleet", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("quorum")
      const { fleet: [, , c], dbs: [dbA, dbB, dbC] } = yield* dbFleet(3, {
        url,
        prefix,
        breakers: {
          default: { trip: TripRule.consecutive(2), openDuration: "3 seconds", share: { quorum: 2, within: "2 seconds" } }
        }
      })
      const redis = yield* directClient(url)

      // A alone: open for itself, the fleet (and B, C) closed, through several resyncs
      yield* callTimes(dbA!, dependency().fail, 2)
      assert.strictEqual((yield* dbA!.state).status, "open")
      yield* Effect.sleep(700)
      yield* assertStatus(dbB!, "closed")
      yield* assertStatus(dbC!, "closed")
      yield* assertStatus(dbA!, "open", "a keeps its own opening over closed resyncs")
      assert.notStrictEqual((yield* readRecord(redis, recordKey(prefix, "db"))).status, "open")

      // B trips within the window: quorum reached, the fleet opens, C adopts it without a call of its own
      const depC = dependency()
      yield* callTimes(dbB!, dependency().fail, 2)
      yield* eventually(assertStatus(dbC!, "open", "c"), 500)
      assert.strictEqual((yield* readRecord(redis, recordKey(prefix, "db"))).status, "open")
      assert.strictEqual(depC.calls(), 0)
      assert.deepStrictEqual(c!.transitionsOf("db").map((t) => [t.to, t.origin, t.replica]), [["open", "remote", "b"]])
    }).pipe(Effect.scoped), 15_000)

  it.live("votes older than the window do not count", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("quorum-window")
      const { dbs: [dbA, dbB, dbC] } = yield* dbFleet(3, {
        url,
        prefix,
        breakers: {
          default: { trip: TripRule.consecutive(1), openDuration: "400 millis", share: { quorum: 2, within: "300 millis" } }
        }
      })
      yield* callTimes(dbA!, dependency().fail, 1)
      // A's vote is out of the window (and A's own opening over) when B trips
      yield* Effect.sleep(500)
      yield* callTimes(dbB!, dependency().fail, 1)
      yield* Effect.sleep(300)
      yield* assertStatus(dbC!, "closed", "c stays closed: one vote within the window")
      const redis = yield* directClient(url)
      assert.notStrictEqual((yield* readRecord(redis, recordKey(prefix, "db"))).status, "open")
    }).pipe(Effect.scoped), 15_000)
})
