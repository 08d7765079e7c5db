import { assert, describe, it } from "@effect/vitest"
import { Cause } from "effect"
import type { CircuitBreaker, ErrorTracker } from "../../src/index.js"
import { CommonErrors } from "../../src/index.js"
import { recentTransitions, Store } from "../../src/internal/tracker/store.js"

const { NetworkError, StorageError, TimeoutError } = CommonErrors

const store = (historySize = 10) => new Store({ historySize, windowMillis: 60_000, buckets: 6, startedAt: 0 })
const at = (
  timestamp: number,
  error: unknown,
  fields: Partial<ErrorTracker.Occurrence> = {}
): ErrorTracker.Occurrence => ({
  error,
  timestamp,
  ...fields
})

describe("tracker store", () => {
  it("counts per tag and code, per severity and over the window, and summarizes at an instant", () => {
    const s = store()
    s.take(at(0, new StorageError({ operation: "a" })))
    s.take(at(1_000, new StorageError({ operation: "b" })))
    s.take(at(30_000, new NetworkError({ target: "bank" })))
    const summary = s.summarize(40_000, 2)
    assert.strictEqual(summary.total, 3)
    assert.deepStrictEqual(summary.bySeverity, { low: 0, medium: 1, high: 2, critical: 0 })
    assert.deepStrictEqual(summary.byTag.map((t) => [t.tag, t.count, t.lastSeen]), [
      ["StorageError", 2, 1_000],
      ["NetworkError", 1, 30_000]
    ])
    assert.strictEqual(summary.rates.perMinute, 3)
    assert.strictEqual(summary.subscribers.active, 2)
    assert.deepStrictEqual(summary.history, { size: 3, capacity: 10 })
    // a minute later the window is empty; totals never fall
    const later = s.summarize(100_000, 0)
    assert.strictEqual(later.rates.perMinute, 0)
    assert.deepStrictEqual(later.rates.byTag, [])
    assert.strictEqual(later.total, 3)
  })

  it("describes errors as ErrorFamily.infoOf does: effect's TimeoutError is the common one, in one entry", () => {
    const s = store()
    const added: Array<string> = []
    const stop = s.onEntry((entry) => added.push(`${entry.tag} ${entry.code} ${entry.kind}`))
    s.take(at(0, new TimeoutError({ operation: "x", timeoutMillis: 10 })))
    s.take(at(0, new Cause.TimeoutError()))
    s.take(at(0, { _tag: "PaymentDeclined" }))
    s.take(at(0, new Error("boom")))
    stop()
    s.take(at(0, "a string"))
    assert.deepStrictEqual(added, [
      "TimeoutError resilience.E0006 recoverable",
      "PaymentDeclined resilience.E0000 unrecoverable",
      "UnknownError resilience.E0000 unrecoverable"
    ])
    assert.deepStrictEqual(s.summarize(0, 0).byTag.map((t) => [t.tag, t.count]), [
      ["TimeoutError", 2],
      ["UnknownError", 2],
      ["PaymentDeclined", 1]
    ])
    assert.strictEqual(s.history.toArray()[1]?.message, "The operation timed out. Please try again later.")
  })

  it("a pending occurrence resolved while queued is counted with its outcome; resolved later, moves the counts", () => {
    const s = store()
    const early = at(0, new StorageError({ operation: "a" }), { recovery: "pending" })
    const late = at(0, new StorageError({ operation: "a" }), { recovery: "pending" })
    s.expect(early)
    s.expect(late)
    s.resolve(early, "failed") // still queued
    s.resolve(early, "succeeded") // a second outcome is ignored
    s.take(early)
    s.take(late)
    const recovery = (pending: number, succeeded: number, failed: number) =>
      ({ attempted: 2, pending, succeeded, failed, unobserved: 0 })
    assert.deepStrictEqual(s.summarize(0, 0).recovery, recovery(1, 0, 1))
    assert.deepStrictEqual(s.history.toArray().map((e) => e.recovery), ["failed", "pending"])
    s.resolve(late, "succeeded")
    s.resolve(late, "failed")
    assert.deepStrictEqual(s.summarize(0, 0).recovery, recovery(0, 1, 1))
    assert.deepStrictEqual(s.history.toArray().map((e) => e.recovery), ["failed", "succeeded"])
    // an occurrence never expected has no outcome to give
    const other = at(0, new StorageError({ operation: "a" }))
    s.take(other)
    s.resolve(other, "failed")
    assert.strictEqual(s.summarize(0, 0).recovery.failed, 1)
  })

  it("a dropped occurrence counts in the totals, not in the history, and the error is known as counted", () => {
    const s = store()
    const error = new NetworkError({ target: "bank" })
    assert.isFalse(s.hasCounted(error))
    s.countDropped(at(0, error, { recovery: "unobserved" }))
    const summary = s.summarize(0, 0)
    assert.strictEqual(summary.total, 1)
    assert.strictEqual(summary.dropped, 1)
    assert.strictEqual(summary.recovery.unobserved, 1)
    assert.strictEqual(summary.history.size, 0)
    assert.isTrue(s.hasCounted(error))
    assert.isFalse(s.hasCounted("not an object"))
  })

  it("keeps the last transitions and counts them all", () => {
    const s = store()
    const transition = (generation: number): CircuitBreaker.Transition => ({
      breaker: "db",
      from: "closed",
      to: "open",
      reason: "consecutive_failures",
      at: generation,
      generation,
      openings: 1,
      origin: "local"
    })
    for (let g = 1; g <= recentTransitions + 5; g++) s.recordTransition(transition(g))
    const { breakers } = s.summarize(0, 0)
    assert.strictEqual(breakers.transitions, recentTransitions + 5)
    assert.strictEqual(breakers.recent.length, recentTransitions)
    assert.strictEqual(breakers.recent[0]?.generation, 6)
  })
})
