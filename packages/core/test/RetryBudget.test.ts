import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { ConfigError, ErrorLayer, RetryBudget, RetryBudgetRegistry } from "../src/index.js"
import { make as makeBudget, slots } from "../src/internal/budget/budget.js"

const ratio = (percent: number, minPerSecond: number, ttlMillis: number) =>
  makeBudget("b", { kind: "ratio", percent, minPerSecond, ttlMillis })
const tokens = (maxTokens: number, tokenRatio: number) => makeBudget("t", { kind: "tokens", maxTokens, tokenRatio })

/** Withdraws at `now` until the budget refuses (at most `cap` times): how many it granted. */
const drain = (budget: ReturnType<typeof makeBudget>, now: number, cap = 10_000) => {
  let granted = 0
  while (granted < cap && budget.withdrawUnsafe(now)) granted++
  return granted
}

/** The issues of a failed validation, as `path: message`. */
const issuesOf = (error: ConfigError.ConfigError) => error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)

describe("RetryBudget ratio arithmetic", () => {
  it("the reserve is minPerSecond × ttl, spent to the last retry, then refused", () => {
    // 3 per second over 4 seconds: 12 retries with no call at all
    const b = ratio(0.2, 3, 4_000)
    assert.strictEqual(b.stateUnsafe(0).available, 12)
    assert.strictEqual(drain(b, 0), 12)
    assert.isFalse(b.withdrawUnsafe(0))
    assert.isFalse(b.withdrawUnsafe(1))
    assert.deepStrictEqual(b.stateUnsafe(1), {
      name: "b",
      kind: "ratio",
      available: 0,
      requests: 0,
      retries: 12,
      granted: 12,
      refused: 3 // the two refusals above and the one that ended drain
    })
    // no reserve: nothing without calls
    const none = ratio(0.2, 0, 10_000)
    assert.isFalse(none.withdrawUnsafe(0))
    assert.strictEqual(none.stateUnsafe(0).refused, 1)
  })

  it("with percent 0.2 and 10 calls deposited, exactly reserve + 2 retries are granted, then refused", () => {
    const b = ratio(0.2, 1, 5_000) // reserve 5
    for (let i = 0; i < 10; i++) b.depositUnsafe(100)
    assert.strictEqual(b.stateUnsafe(100).available, 7)
    assert.strictEqual(b.stateUnsafe(100).requests, 10)
    for (let i = 0; i < 7; i++) assert.isTrue(b.withdrawUnsafe(100), `retry ${i + 1} of 7`)
    assert.isFalse(b.withdrawUnsafe(100), "the 8th")
    // each further call gives a fifth of a retry: four more calls are not enough, the fifth is
    for (let i = 0; i < 4; i++) b.depositUnsafe(100)
    assert.isFalse(b.withdrawUnsafe(100), "0.8 of a retry is none")
    b.depositUnsafe(100)
    assert.isTrue(b.withdrawUnsafe(100), "1.0 is one")
    assert.isFalse(b.withdrawUnsafe(100))
    const state = b.stateUnsafe(100)
    assert.deepStrictEqual([state.requests, state.retries, state.granted, state.refused], [15, 8, 8, 3])
  })

  it("a share that is not a whole number of retries is floored (never rounded up)", () => {
    const b = ratio(0.25, 0, 10_000)
    b.depositUnsafe(0)
    b.depositUnsafe(0)
    b.depositUnsafe(0)
    assert.strictEqual(b.stateUnsafe(0).available, 0)
    assert.isFalse(b.withdrawUnsafe(0), "0.75 of a retry")
    b.depositUnsafe(0)
    assert.strictEqual(b.stateUnsafe(0).available, 1)
    assert.isTrue(b.withdrawUnsafe(0))
    // a large share: percent 10 is ten retries per call
    const big = ratio(10, 0, 10_000)
    big.depositUnsafe(0)
    assert.strictEqual(drain(big, 0), 10)
  })

  it("a whole number of retries is granted in full, whatever the share (no floating-point shortfall)", () => {
    // 70 % of 90 calls is 63 retries; 57 % of 100 is 57; 58 % of 50 is 29 (in floating point, 0.7 × 90 is
    // 62.99999999999999, 0.57 × 100 is 56.99999999999999 and 0.58 × 50 is 28.999999999999996)
    for (const [percent, calls, retries] of [[0.7, 90, 63], [0.57, 100, 57], [0.58, 50, 29], [0.29, 100, 29]] as const) {
      const b = ratio(percent, 0, 10_000)
      for (let i = 0; i < calls; i++) b.depositUnsafe(0)
      assert.strictEqual(b.stateUnsafe(0).available, retries, `available: ${percent} × ${calls}`)
      assert.strictEqual(drain(b, 0), retries, `granted: ${percent} × ${calls}`)
    }
  })

  it("deposits leave after ttl, counted in slots of ttl/10: just before and just after", () => {
    assert.strictEqual(slots, 10)
    // 10 s in slots of 1 s; no reserve, so every retry comes from a call
    const b = ratio(1, 0, 10_000)
    b.depositUnsafe(0) // slot 0
    b.depositUnsafe(999) // slot 0 too
    b.depositUnsafe(1_000) // slot 1
    assert.strictEqual(b.stateUnsafe(9_999).requests, 3, "slot 0 still counts at 9 999")
    assert.strictEqual(b.stateUnsafe(9_999).available, 3)
    assert.strictEqual(b.stateUnsafe(10_000).requests, 1, "slot 0 leaves at 10 000, both its calls")
    assert.strictEqual(b.stateUnsafe(10_000).available, 1)
    assert.strictEqual(b.stateUnsafe(10_999).requests, 1)
    assert.strictEqual(b.stateUnsafe(11_000).requests, 0, "slot 1 leaves at 11 000")
    assert.isFalse(b.withdrawUnsafe(11_000))
  })

  it("withdrawals leave after ttl too: the reserve comes back slot by slot", () => {
    const b = ratio(0, 1, 10_000) // reserve 10
    assert.strictEqual(drain(b, 0, 6), 6) // 6 in slot 0
    assert.strictEqual(drain(b, 3_500), 4) // the other 4 in slot 3
    assert.isFalse(b.withdrawUnsafe(3_500))
    assert.strictEqual(b.stateUnsafe(9_999).available, 0)
    assert.isFalse(b.withdrawUnsafe(9_999), "just before the first slot leaves")
    assert.strictEqual(b.stateUnsafe(10_000).available, 6, "the 6 of slot 0 are back")
    assert.strictEqual(b.stateUnsafe(12_999).available, 6)
    assert.strictEqual(b.stateUnsafe(13_000).available, 10, "and at 13 000 the 4 of slot 3")
    assert.strictEqual(b.stateUnsafe(13_000).retries, 0)
    // the figures since it was made do not expire
    assert.deepStrictEqual([b.stateUnsafe(13_000).granted, b.stateUnsafe(13_000).refused], [10, 3])
  })

  it("a slot is ttl/10 whatever the ttl (ttl 2 s: slots of 200 ms)", () => {
    const b = ratio(1, 0, 2_000)
    b.depositUnsafe(199)
    b.depositUnsafe(200)
    assert.strictEqual(b.stateUnsafe(1_999).requests, 2)
    assert.strictEqual(b.stateUnsafe(2_000).requests, 1)
    assert.strictEqual(b.stateUnsafe(2_199).requests, 1)
    assert.strictEqual(b.stateUnsafe(2_200).requests, 0)
  })

  it("a long jump clears the whole window, and the counts never go below zero", () => {
    const b = ratio(0.5, 0, 10_000)
    for (let t = 0; t < 10_000; t += 100) b.depositUnsafe(t)
    assert.strictEqual(drain(b, 9_999), 50)
    const later = 1_000_000_000
    assert.deepStrictEqual(
      [b.stateUnsafe(later).requests, b.stateUnsafe(later).retries, b.stateUnsafe(later).available],
      [0, 0, 0]
    )
    // usable again from there, with exactly what is deposited anew
    b.depositUnsafe(later)
    b.depositUnsafe(later)
    assert.strictEqual(drain(b, later), 1)
    // and after the jump only the new slot expires
    assert.strictEqual(b.stateUnsafe(later + 9_999).requests, 2)
    assert.strictEqual(b.stateUnsafe(later + 10_000).requests, 0)
  })

  it("time going backwards is counted in the newest slot seen", () => {
    const b = ratio(1, 0, 10_000)
    b.depositUnsafe(50_000)
    b.depositUnsafe(10_000) // earlier: counted with the 50 000 one
    assert.strictEqual(b.stateUnsafe(50_000).requests, 2)
    assert.strictEqual(b.stateUnsafe(59_999).requests, 2)
    assert.strictEqual(b.stateUnsafe(60_000).requests, 0)
  })
})

describe("RetryBudget tokens rule", () => {
  it("starts at maxTokens, a failure takes one, retries stop at exactly half and resume above it", () => {
    const b = tokens(10, 0.1)
    assert.strictEqual(b.stateUnsafe(0).tokens, 10)
    assert.strictEqual(b.stateUnsafe(0).available, 5)
    for (let i = 1; i <= 4; i++) {
      b.recordUnsafe(true)
      assert.isTrue(b.withdrawUnsafe(0), `${10 - i} tokens`)
    }
    b.recordUnsafe(true)
    assert.strictEqual(b.stateUnsafe(0).tokens, 5)
    assert.isFalse(b.withdrawUnsafe(0), "5 tokens is not above 10 / 2")
    assert.strictEqual(b.stateUnsafe(0).available, 0)
    b.recordUnsafe(true)
    assert.strictEqual(b.stateUnsafe(0).tokens, 4)
    // +0.1 per success: ten successes bring it back to exactly 5 (still refused), the eleventh above
    for (let i = 0; i < 10; i++) b.recordUnsafe(false)
    assert.strictEqual(b.stateUnsafe(0).tokens, 5)
    assert.isFalse(b.withdrawUnsafe(0), "exactly 5.0, counted without rounding error")
    b.recordUnsafe(false)
    assert.strictEqual(b.stateUnsafe(0).tokens, 5.1)
    assert.strictEqual(b.stateUnsafe(0).available, 1)
    assert.isTrue(b.withdrawUnsafe(0))
    const state = b.stateUnsafe(0)
    assert.deepStrictEqual([state.kind, state.granted, state.refused, state.retries], ["tokens", 5, 2, 5])
  })

  it("withdrawing takes no token (only failures do), and the count stays within 0 and maxTokens", () => {
    const b = tokens(4, 0.5)
    for (let i = 0; i < 100; i++) assert.isTrue(b.withdrawUnsafe(i))
    assert.strictEqual(b.stateUnsafe(0).tokens, 4)
    for (let i = 0; i < 20; i++) b.recordUnsafe(false)
    assert.strictEqual(b.stateUnsafe(0).tokens, 4, "never above the ceiling")
    for (let i = 0; i < 20; i++) b.recordUnsafe(true)
    assert.strictEqual(b.stateUnsafe(0).tokens, 0, "never below zero")
    // from 0, allowed again only above 2: 5 successes give 2.5
    for (let i = 0; i < 4; i++) b.recordUnsafe(false)
    assert.isFalse(b.withdrawUnsafe(0), "2.0")
    b.recordUnsafe(false)
    assert.isTrue(b.withdrawUnsafe(0), "2.5")
  })

  it("deposits count requests and nothing else; the time is not used", () => {
    const b = tokens(10, 0.1)
    for (let i = 0; i < 7; i++) b.depositUnsafe(i * 1e9)
    const state = b.stateUnsafe(1e12)
    assert.deepStrictEqual([state.requests, state.tokens, state.available], [7, 10, 5])
  })
})

describe("RetryBudget.validate", () => {
  it("applies the defaults: ratio 20 %, 10 per second, 10 seconds; tokens 10 and 0.1", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* RetryBudget.validate(), {
        kind: "ratio",
        percent: 0.2,
        minPerSecond: 10,
        ttlMillis: 10_000
      })
      assert.deepStrictEqual(yield* RetryBudget.validate({ ttl: "2 seconds", percent: 0 }), {
        kind: "ratio",
        percent: 0,
        minPerSecond: 10,
        ttlMillis: 2_000
      })
      assert.deepStrictEqual(yield* RetryBudget.validate({ kind: "tokens" }), {
        kind: "tokens",
        maxTokens: 10,
        tokenRatio: 0.1
      })
      // the bounds themselves are accepted
      assert.deepStrictEqual(yield* RetryBudget.validate({ percent: 10, minPerSecond: 0, ttl: 60_000 }), {
        kind: "ratio",
        percent: 10,
        minPerSecond: 0,
        ttlMillis: 60_000
      })
      assert.strictEqual((yield* RetryBudget.validate({ ttl: "1 second" })).kind, "ratio")
      assert.deepStrictEqual(yield* RetryBudget.validate({ kind: "tokens", maxTokens: 1000, tokenRatio: 0.001 }), {
        kind: "tokens",
        maxTokens: 1000,
        tokenRatio: 0.001
      })
    }))

  it("names every invalid field at once, with its path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RetryBudget.validate({ percent: -1, minPerSecond: -2, ttl: "500 millis" }))
      assert.instanceOf(error, ConfigError.ConfigError)
      assert.deepStrictEqual(error.issues.map((i) => i.path), [["percent"], ["minPerSecond"], ["ttl"]])
      assert.deepStrictEqual(issuesOf(error), [
        "percent: Expected a share between 0 and 10 (0.2 is 20 %), got -1",
        "minPerSecond: Expected a number of at least 0, got -2",
        "ttl: Expected a duration between 1 second and 60 seconds, got \"500 millis\""
      ])
      const above = yield* Effect.flip(RetryBudget.validate({ percent: 10.5, ttl: "2 minutes", minPerSecond: Infinity }))
      assert.deepStrictEqual(above.issues.map((i) => i.path), [["percent"], ["minPerSecond"], ["ttl"]])
      assert.include(above.message, "ttl: Expected a duration between 1 second and 60 seconds, got \"2 minutes\"")
      // a ttl that is not a duration at all
      const junk = yield* Effect.flip(RetryBudget.validate({ ttl: "soon" as never }))
      assert.deepStrictEqual(junk.issues.map((i) => i.path), [["ttl"]])
      const tokenIssues = yield* Effect.flip(RetryBudget.validate({ kind: "tokens", maxTokens: 0, tokenRatio: 0.0001 }))
      assert.deepStrictEqual(issuesOf(tokenIssues), [
        "maxTokens: Expected a number above 0 and at most 1000, got 0",
        "tokenRatio: Expected a number above 0 with at most three decimals, got 0.0001"
      ])
      const tooMany = yield* Effect.flip(RetryBudget.validate({ kind: "tokens", maxTokens: 1001, tokenRatio: 0 }))
      assert.deepStrictEqual(tooMany.issues.map((i) => i.path), [["maxTokens"], ["tokenRatio"]])
      const notAnObject = yield* Effect.flip(RetryBudget.validate(5 as never))
      assert.deepStrictEqual(issuesOf(notAnObject), [": Expected an object, got 5"])
    }))

  it("an unknown key is refused with the nearest name; the other kind's keys are refused", () =>
    Effect.gen(function*() {
      const misspelt = yield* Effect.flip(RetryBudget.validate({ percnt: 0.1 } as never))
      assert.deepStrictEqual(issuesOf(misspelt), ["percnt: Unknown key \"percnt\", did you mean \"percent\"?"])
      // tokens keys on a ratio budget (no kind: ratio)
      const tokensOnRatio = yield* Effect.flip(RetryBudget.validate({ maxTokens: 10, tokenRatio: 0.1 } as never))
      assert.deepStrictEqual(tokensOnRatio.issues.map((i) => i.path), [["maxTokens"], ["tokenRatio"]])
      assert.include(tokensOnRatio.issues[0]!.message, "Unknown key \"maxTokens\"")
      const explicit = yield* Effect.flip(RetryBudget.validate({ kind: "ratio", maxTokens: 10 } as never))
      assert.deepStrictEqual(explicit.issues.map((i) => i.path), [["maxTokens"]])
      // ratio keys on a tokens budget
      const ratioOnTokens = yield* Effect.flip(RetryBudget.validate({ kind: "tokens", percent: 0.2, ttl: "1 second" } as never))
      assert.deepStrictEqual(ratioOnTokens.issues.map((i) => i.path), [["percent"], ["ttl"]])
      assert.include(ratioOnTokens.issues[0]!.message, "Unknown key \"percent\"")
      const kind = yield* Effect.flip(RetryBudget.validate({ kind: "leaky" } as never))
      assert.deepStrictEqual(kind.issues.map((i) => i.path), [["kind"]])
    }))
})

describe("RetryBudgetRegistry", () => {
  it.effect("named budgets exist from the start with their own options, sorted by name in states", () =>
    Effect.gen(function*() {
      const registry = yield* RetryBudgetRegistry.make({
        budgets: { zeta: { percent: 0.1, minPerSecond: 1, ttl: "2 seconds" }, alpha: { kind: "tokens", maxTokens: 4 } }
      })
      assert.deepStrictEqual(yield* registry.states, [
        { name: "alpha", kind: "tokens", available: 2, requests: 0, retries: 0, granted: 0, refused: 0, tokens: 4 },
        { name: "zeta", kind: "ratio", available: 2, requests: 0, retries: 0, granted: 0, refused: 0 }
      ])
      assert.deepStrictEqual(registry.budget("zeta").config, {
        kind: "ratio",
        percent: 0.1,
        minPerSecond: 1,
        ttlMillis: 2_000
      })
      // one budget per name, shared
      assert.strictEqual(registry.budget("zeta"), registry.budget("zeta"))
      // a name not configured gets the default options (Finagle's unless set), and joins the states
      assert.deepStrictEqual(registry.budget("other").config, {
        kind: "ratio",
        percent: 0.2,
        minPerSecond: 10,
        ttlMillis: 10_000
      })
      assert.deepStrictEqual((yield* registry.states).map((s) => [s.name, s.available]), [
        ["alpha", 2],
        ["other", 100],
        ["zeta", 2]
      ])
    }).pipe(Effect.scoped))

  it.effect("the default option applies to every name not configured", () =>
    Effect.gen(function*() {
      const registry = yield* RetryBudgetRegistry.make({ default: { percent: 0.5, minPerSecond: 0, ttl: "5 seconds" } })
      assert.deepStrictEqual(yield* registry.states, [], "no budget until one is used")
      assert.deepStrictEqual(registry.budget("x").config, { kind: "ratio", percent: 0.5, minPerSecond: 0, ttlMillis: 5_000 })
      const tokensDefault = yield* RetryBudgetRegistry.make({ default: { kind: "tokens" } })
      assert.strictEqual(tokensDefault.budget("y").config.kind, "tokens")
    }).pipe(Effect.scoped))

  it.effect("operations map an operation to its budget; an unmapped one gets the budget named after it", () =>
    Effect.gen(function*() {
      const registry = yield* RetryBudgetRegistry.make({
        budgets: { payments: { percent: 0.1 } },
        operations: { "payments.charge": "payments", "payments.refund": "payments" }
      })
      assert.strictEqual(registry.forOperation("payments.charge"), registry.budget("payments"))
      assert.strictEqual(registry.forOperation("payments.refund"), registry.budget("payments"))
      const own = registry.forOperation("orders.save")
      assert.strictEqual(own.name, "orders.save")
      assert.strictEqual(own, registry.budget("orders.save"))
      assert.notStrictEqual(own, registry.budget("payments"))
    }).pipe(Effect.scoped))

  it.effect("the budgets' effects use the Clock: a deposit and a withdrawal leave the window after ttl", () =>
    Effect.gen(function*() {
      const registry = yield* RetryBudgetRegistry.make({ budgets: { db: { percent: 1, minPerSecond: 0, ttl: "1 second" } } })
      const db = registry.budget("db")
      yield* db.deposit
      assert.isTrue(yield* db.tryWithdraw)
      assert.isFalse(yield* db.tryWithdraw)
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual([(yield* db.state).requests, (yield* db.state).retries], [1, 1])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual([(yield* db.state).requests, (yield* db.state).retries], [0, 0])
      assert.isFalse(yield* db.tryWithdraw, "no calls, no reserve")
      // the accessors
      const viaAccessor = yield* Effect.flatMap(RetryBudgetRegistry.budget("db"), (b) => b.state).pipe(
        Effect.provideService(RetryBudgetRegistry.RetryBudgetRegistry, registry)
      )
      assert.deepStrictEqual([viaAccessor.granted, viaAccessor.refused], [1, 2])
      const states = yield* RetryBudgetRegistry.states.pipe(
        Effect.provideService(RetryBudgetRegistry.RetryBudgetRegistry, registry)
      )
      assert.deepStrictEqual(states.map((s) => s.name), ["db"])
    }).pipe(Effect.scoped))

  it.effect("invalid options fail with every issue under its path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RetryBudgetRegistry.validate({
        budget: {},
        default: { ttl: "1 hour" },
        budgets: { a: { percent: -1 }, b: { kind: "tokens", tokenRatio: 1.2345 } },
        operations: { x: 5 }
      } as never))
      assert.sameDeepMembers(error.issues.map((i) => i.path), [
        ["budget"],
        ["default", "ttl"],
        ["budgets", "a", "percent"],
        ["budgets", "b", "tokenRatio"],
        ["operations", "x"]
      ])
      assert.strictEqual(
        error.issues.find((i) => i.path[0] === "budget")?.message,
        "Unknown key \"budget\", did you mean \"budgets\"?"
      )
      // make and layer refuse the same
      const made = yield* Effect.flip(Effect.scoped(RetryBudgetRegistry.make({ budgets: { a: { ttl: 0 } } })))
      assert.deepStrictEqual(made.issues.map((i) => i.path), [["budgets", "a", "ttl"]])
      const layered = yield* Effect.flip(Effect.scoped(Layer.build(RetryBudgetRegistry.layer({ budgets: { a: { percent: 11 } } }))))
      assert.deepStrictEqual(layered.issues.map((i) => i.path), [["budgets", "a", "percent"]])
    }))

  it.effect("ErrorLayer's budgets option: an invalid one fails the build with paths under budgets", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(ErrorLayer.layer({
        logFormat: false,
        budgets: { budgets: { a: { percent: -1, tokenRatio: 1 } }, operatons: {} } as never
      }))))
      assert.instanceOf(error, ConfigError.ConfigError)
      assert.sameDeepMembers((error as ConfigError.ConfigError).issues.map((i) => i.path), [
        ["budgets", "operatons"],
        ["budgets", "budgets", "a", "percent"],
        ["budgets", "budgets", "a", "tokenRatio"]
      ])
      assert.include(error.message, "budgets.operatons")
      assert.include(error.message, "did you mean \"operations\"")
      // a valid one provides the registry with its budgets
      const states = yield* RetryBudgetRegistry.states.pipe(
        Effect.provide(ErrorLayer.layer({ logFormat: false, budgets: { budgets: { db: { minPerSecond: 2 } } } }))
      )
      assert.deepStrictEqual(states.map((s) => [s.name, s.available]), [["db", 20]])
    }))
})
