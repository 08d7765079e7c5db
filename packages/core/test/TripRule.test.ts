import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Exit, Schema } from "effect"
import { ConfigError, TripRule } from "../src/index.js"

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

  // the problems the rule's Schema finds, as a breaker's options report them
  const issues = (rule: unknown) => {
    const exit = Schema.decodeUnknownExit(TripRule.TripRule)(rule, { errors: "all", onExcessProperty: "error" })
    if (Exit.isSuccess(exit)) return []
    const error = Cause.findErrorOption(exit.cause)
    return error._tag === "Some" ? ConfigError.fromSchemaIssue(error.value.issue) : []
  }
  const paths = (rule: unknown) => issues(rule).map((i) => i.path)

  it("the schema accepts well-formed rules as they are and names every field at fault", () => {
    const rule = TripRule.consecutive(3)
    const decoded = Schema.decodeUnknownSync(TripRule.TripRule)(rule)
    assert.strictEqual(decoded, rule)
    assert.deepStrictEqual(issues(TripRule.failureRate({ threshold: 1, lastCalls: 1 })), [])
    assert.deepStrictEqual(paths(TripRule.consecutive(0)), [["failures"]])
    assert.deepStrictEqual(
      paths(TripRule.failureRate({ threshold: 1.5, lastCalls: 10, minimumCalls: 11 })),
      [["threshold"], ["minimumCalls"]]
    )
    assert.deepStrictEqual(
      paths(TripRule.failureRate({ threshold: 0, lastCalls: TripRule.limits.lastCalls + 1 })),
      [["threshold"], ["lastCalls"]]
    )
    assert.deepStrictEqual(
      issues(TripRule.failureRate({ threshold: 0.5, lastDuration: "5 millis", buckets: 10 })).map((i) => i.message),
      ["Expected at most one bucket per millisecond of lastDuration, got 10"]
    )
    assert.deepStrictEqual(
      paths(TripRule.slowCallRate({ slowerThan: "0 millis", threshold: 0.5, lastCalls: 5 })),
      [["slowerThan"]]
    )
    assert.deepStrictEqual(paths({ _tag: "Sometimes" }), [["_tag"]])
  })

  it("the schema reports what is not a rule, and unknown keys, given to a constructor or written by hand", () => {
    assert.deepStrictEqual(issues(null), [{
      path: [],
      message: "Expected a trip rule (TripRule.consecutive, failureRate, slowCallRate), got null"
    }])
    assert.deepStrictEqual(
      issues(TripRule.failureRate({ treshold: 0.5, lastCalls: 20 } as unknown as TripRule.FailureRateOptions)),
      [
        { path: ["treshold"], message: "Unknown key \"treshold\", did you mean \"threshold\"?" },
        { path: ["threshold"], message: "Expected a rate between 0 (exclusive) and 1, got undefined" }
      ]
    )
    const fromConfig = JSON.parse('{ "threshold": 0.5, "lastCalls": 20, "minimumCall": 5 }')
    assert.deepStrictEqual(issues(TripRule.failureRate(fromConfig)), [
      { path: ["minimumCall"], message: "Unknown key \"minimumCall\", did you mean \"minimumCalls\"?" }
    ])
    const slow = JSON.parse('{ "slowerThan": "1 second", "threshold": 0.5, "lastDuration": "10 seconds", "bucket": 5 }')
    assert.deepStrictEqual(paths(TripRule.slowCallRate(slow)), [["bucket"]])
    // a well-formed rule is unchanged: equal to one built without the check, and valid
    assert.deepStrictEqual(issues(TripRule.failureRate({ threshold: 0.5, lastCalls: 20 })), [])
    assert.deepStrictEqual(issues(JSON.parse('{ "_tag": "Consecutive", "failures": 3, "failurs": 4 }')), [
      { path: ["failurs"], message: "Unknown key \"failurs\", did you mean \"failures\"?" }
    ])
    assert.deepStrictEqual(issues({ _tag: "Consecutive", failures: 3, failure: 2 }).map((i) => i.path), [["failure"]])
    assert.deepStrictEqual(
      paths({ _tag: "FailureRate", threshold: 0.5, minimumCalls: 5, window: { _tag: "Calls", size: 10, sise: 3 } }),
      [["window", "sise"]]
    )
  })
})
