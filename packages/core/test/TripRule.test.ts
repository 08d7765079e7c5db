import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import { TripRule } from "../src/index.js"

describe("TripRule", () => {
  it("constructors build plain values with their defaults", () => {
    assert.deepStrictEqual(TripRule.consecutive(5), { _tag: "Consecutive", failures: 5 })
    // minimumCalls defaults to the window size for a count window
    assert.deepStrictEqual(TripRule.failureRate({ threshold: 0.5, lastCalls: 20 }), {
      _tag: "FailureRate",
      threshold: 0.5,
      minimumCalls: 20,
      window: { _tag: "Calls", size: 20 }
    })
    // and to 10 for a time window, in 10 buckets
    const overTime = TripRule.failureRate({ threshold: 0.5, lastDuration: "30 seconds" })
    assert.strictEqual(overTime._tag === "FailureRate" ? overTime.minimumCalls : -1, 10)
    assert.deepStrictEqual(
      overTime._tag === "FailureRate" && overTime.window._tag === "Time"
        ? [Duration.toMillis(overTime.window.duration), overTime.window.buckets]
        : [],
      [30_000, 10]
    )
    const slow = TripRule.slowCallRate({ slowerThan: "2 seconds", threshold: 0.8, lastCalls: 50 })
    assert.strictEqual(slow._tag === "SlowCallRate" ? Duration.toMillis(slow.slowerThan) : -1, 2000)
  })

  it("validate accepts well-formed rules and names every field at fault", () => {
    assert.deepStrictEqual(TripRule.validate(TripRule.consecutive(3)), [])
    assert.deepStrictEqual(TripRule.validate(TripRule.failureRate({ threshold: 1, lastCalls: 1 })), [])
    assert.deepStrictEqual(TripRule.validate(TripRule.consecutive(0)).map((i) => i.path), [["failures"]])
    assert.deepStrictEqual(
      TripRule.validate(TripRule.failureRate({ threshold: 1.5, lastCalls: 10, minimumCalls: 11 })).map((i) => i.path),
      [["threshold"], ["minimumCalls"]]
    )
    assert.deepStrictEqual(
      TripRule.validate(TripRule.failureRate({ threshold: 0, lastCalls: TripRule.limits.lastCalls + 1 })).map((i) => i.path),
      [["threshold"], ["lastCalls"]]
    )
    assert.deepStrictEqual(
      TripRule.validate(TripRule.failureRate({ threshold: 0.5, lastDuration: "5 millis", buckets: 10 })).map((i) => i.message),
      ["Expected at most one bucket per millisecond of lastDuration, got 10"]
    )
    assert.deepStrictEqual(
      TripRule.validate(TripRule.slowCallRate({ slowerThan: "0 millis", threshold: 0.5, lastCalls: 5 })).map((i) => i.path),
      [["slowerThan"]]
    )
    assert.deepStrictEqual(TripRule.validate({ _tag: "Sometimes" } as unknown as TripRule.TripRule).map((i) => i.path), [["_tag"]])
  })
})
