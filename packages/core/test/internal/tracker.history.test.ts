import { assert, describe, it } from "@effect/vitest"
import { History } from "../../src/internal/tracker/history.js"

const storage = { tag: "StorageError", code: "resilience.E0004", kind: "recoverable", severity: "high" } as const

const push = (history: History, attempt: number, options: { gaveUp?: boolean; operation?: string } = {}) =>
  history.push(
    attempt * 10,
    storage,
    "A storage operation failed.",
    {},
    "none",
    "manual",
    options.operation,
    attempt,
    options.gaveUp ?? false
  )

describe("tracker history ring", () => {
  it("keeps the last `capacity` events, oldest first, and counts what it holds", () => {
    const history = new History(3)
    assert.deepStrictEqual(history.toArray(), [])
    for (let i = 1; i <= 5; i++) push(history, i)
    assert.strictEqual(history.size, 3)
    assert.strictEqual(history.capacity, 3)
    assert.deepStrictEqual(history.toArray().map((e) => e.attempt), [3, 4, 5])
    assert.deepStrictEqual(history.toArray().map((e) => e.timestamp), [30, 40, 50])
  })

  it("builds an event with only the optional fields it has; gaveUp only when true", () => {
    const history = new History(4)
    const plain = history.push(0, storage, "m", { requestId: "r" }, "pending", "protect", undefined, undefined, false)
    const full = push(history, 2, { gaveUp: true, operation: "items.save" })
    assert.deepStrictEqual(history.eventAt(plain), {
      timestamp: 0,
      tag: "StorageError",
      code: "resilience.E0004",
      kind: "recoverable",
      severity: "high",
      message: "m",
      annotations: { requestId: "r" },
      recovery: "pending",
      source: "protect"
    })
    const event = history.eventAt(full)
    assert.strictEqual(event.gaveUp, true)
    assert.strictEqual(event.operation, "items.save")
    assert.strictEqual(event.attempt, 2)
    assert.isFalse("gaveUp" in history.eventAt(plain))
  })

  it("a recovery reaches an event only while its slot still holds it", () => {
    const history = new History(2)
    const first = push(history, 1)
    const firstSequence = history.lastSequence
    history.setRecovery(first, firstSequence, "succeeded")
    assert.strictEqual(history.eventAt(first).recovery, "succeeded")
    push(history, 2)
    push(history, 3) // overwrites the first one's slot
    history.setRecovery(first, firstSequence, "failed")
    assert.deepStrictEqual(history.toArray().map((e) => [e.attempt, e.recovery]), [[2, "none"], [3, "none"]])
    history.setRecovery(-1, 0, "failed") // not in the history at all: nothing happens
  })
})
