import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Deferred, type Duration, Effect, Exit, Fiber, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  Bulkhead,
  BulkheadRegistry,
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  Policy,
  PolicyService,
  protect,
  RateLimiter,
  ResilienceMetrics,
  RetryBudgetRegistry
} from "../src/index.js"
import { captureLogs, type Line, repeat, scripted, historyOf } from "./utils.js"

const { StorageError } = CommonErrors
const storage = (n = 0) => new StorageError({ operation: `items.insert#${n}` })

const Errors = ErrorLayer.layer({
  logFormat: false,
  // a 1 s backoff, so that any wait shows on the clock
  policies: [Policy.forFamily(StorageError, { maxAttempts: 5, baseDelay: "1 second", factor: 1 })],
  bulkheads: { bulkheads: { one: { limit: 1 } } },
  rateLimiters: { limiters: { single: { limit: 1, window: "1 minute" } } },
  budgets: {
    budgets: {
      // nothing at all: every retry refused
      empty: { percent: 0, minPerSecond: 0 },
      // one retry per 10 s, whatever the calls
      one: { percent: 0, minPerSecond: 0.1 },
      // no floor, one retry per call (over a minute, so that the tests' clock moves keep the deposits)
      perCall: { percent: 1, minPerSecond: 0, ttl: "60 seconds" },
      tokens: { kind: "tokens", maxTokens: 4, tokenRatio: 0.5 }
    },
    operations: { "items.save": "perCall", "items.update": "perCall" }
  }
})

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

const now = Clock.currentTimeMillis

/** Runs `effect` in a fiber, moves the clock `by`, and returns its exit. */
const within = <A, E, R>(by: Duration.Input, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(effect))
    yield* TestClock.adjust(by)
    return yield* Fiber.join(fiber)
  })

/**
 * Runs `effect` in a fiber without moving the clock, and returns its exit once it has ended; dies when it has not
 * ended after many yields (it is waiting for time to pass).
 */
const atOnce = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(effect))
    for (let i = 0; i < 1_000 && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    if (fiber.pollUnsafe() === undefined) {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.die("the call did not end without the clock moving")
    }
    return yield* Fiber.join(fiber)
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const found = Cause.findErrorOption(exit.cause)
  return found._tag === "Some" ? found.value : undefined
}

const stateOf = (name: string) => Effect.flatMap(RetryBudgetRegistry.budget(name), (b) => b.state)


describe("protect with a retry budget", () => {
  it.effect("an exhausted budget ends the call at once with its original typed error, and it is counted", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const original = storage(1)
      const op = scripted([original, storage(2), storage(3)])
      const exit = yield* atOnce(op.effect.pipe(protect({ operation: "items.load", budget: "empty" })))
      assert.strictEqual(failureOf(exit), original, "the first attempt's very error")
      assert.strictEqual(yield* now, 0, "no backoff waited")
      assert.deepStrictEqual(op.times, [0])
      const state = yield* stateOf("empty")
      assert.deepStrictEqual([state.requests, state.granted, state.refused], [1, 0, 1])

      // counted: the tracker's occurrence, its summary, the metrics and the log line
      const history = yield* historyOf(1)
      assert.deepStrictEqual(
        history.map((e) => [e.operation, e.attempt, e.gaveUp, e.suppressed, e.recovery]),
        [["items.load", 1, true, "budget", "none"]]
      )
      assert.deepStrictEqual((yield* ErrorTracker.summary).retriesSuppressed, { budget: 1, pushback: 0 })
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.retriesSuppressed, [{ operation: "items.load", budget: 1, pushback: 0 }])
      assert.strictEqual(snapshot.calls.find((c) => c.operation === "items.load")?.failed, 1)
      const text = yield* PrometheusMetrics.format()
      assert.match(text, /resilience_retries_suppressed_total\{[^}]*operation="items\.load"[^}]*reason="budget"[^}]*\} 1/)
      const suppressed = lines.filter((l) => String(l.message).includes("retry suppressed"))
      assert.deepStrictEqual(suppressed.map((l) => l.message), [
        "items.load failed on attempt 1, retry suppressed: retry budget \"empty\" exhausted"
      ])
      assert.deepStrictEqual(
        [suppressed[0]!.annotations.retrySuppressed, suppressed[0]!.annotations.budget],
        ["budget", "empty"]
      )
      assert.isFalse(lines.some((l) => String(l.message).includes("retrying in")))
    }).pipe(Effect.provide(Errors), Effect.provide(captureLogs(lines)), isolated)
  })

  it.effect("a budget exhausted during a run stops it at the failure it refused, without its backoff", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(10, storage))
      const fiber = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "items.load", budget: "one" })))
      yield* TestClock.adjust("1 second")
      // the one retry was made at 1 s and failed; the next was refused at once: the call is over at 1 s
      for (let i = 0; i < 100 && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
      const exit = fiber.pollUnsafe()
      assert.isDefined(exit, "ended at 1 s, not after a second backoff")
      assert.strictEqual((failureOf(exit!) as CommonErrors.StorageError).operation, "items.insert#1")
      assert.deepStrictEqual(op.times, [0, 1_000])
      const calls = (yield* ResilienceMetrics.snapshot).calls.find((c) => c.operation === "items.load")
      assert.strictEqual(calls?.failed_after_retry, 1)
      const history = yield* historyOf(2)
      assert.deepStrictEqual(history.map((e) => [e.attempt, e.gaveUp ?? false, e.suppressed ?? "-"]), [
        [1, false, "-"],
        [2, true, "budget"]
      ])
      // the budget refills as its window moves: 10 s after the retry it has one again
      const state = yield* stateOf("one")
      assert.deepStrictEqual([state.granted, state.refused, state.available], [1, 1, 0])
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* stateOf("one")).available, 1)
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a call deposits once, however many attempts it makes", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(2, storage)) // three attempts
      const exit = yield* within("5 seconds", op.effect.pipe(protect({ operation: "items.load", budget: "perCall" })))
      assert.deepStrictEqual(exit, Exit.succeed(3))
      // one deposit (not three) paid for both retries
      const state = yield* stateOf("perCall")
      assert.deepStrictEqual([state.requests, state.retries, state.granted, state.refused], [1, 2, 2, 0])
      // a second such call: one more deposit, two more retries; a deposit per attempt would have left more
      const again = scripted(repeat(3, storage)) // four attempts wanted: the third retry is refused
      yield* within("5 seconds", again.effect.pipe(protect({ operation: "items.load", budget: "perCall" })))
      assert.strictEqual(again.calls(), 3)
      const after = yield* stateOf("perCall")
      assert.deepStrictEqual([after.requests, after.granted, after.refused, after.available], [2, 4, 1, 0])
    }).pipe(
      Effect.provide(ErrorLayer.layer({
        logFormat: false,
        policies: [Policy.forFamily(StorageError, { maxAttempts: 5, baseDelay: "1 second", factor: 1 })],
        // two retries per call, no floor
        budgets: { budgets: { perCall: { percent: 2, minPerSecond: 0, ttl: "60 seconds" } } }
      }))
    ))

  it.effect("successful calls deposit too, and their deposits pay for a later call's retries", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) {
        assert.strictEqual(yield* Effect.succeed(i).pipe(protect({ operation: "items.load", budget: "perCall" })), i)
      }
      assert.deepStrictEqual([(yield* stateOf("perCall")).requests, (yield* stateOf("perCall")).available], [3, 3])
      // a fourth call: 4 deposits, so 4 retries, then refused on the fifth failure
      const op = scripted(repeat(10, storage))
      const exit = yield* within("10 seconds", op.effect.pipe(protect({ operation: "items.load", budget: "perCall" })))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(op.calls(), 5, "the policy's five attempts, the last four paid by the deposits")
      const state = yield* stateOf("perCall")
      assert.deepStrictEqual([state.requests, state.granted, state.refused], [4, 4, 0])
    }).pipe(Effect.provide(Errors)))

  it.effect("a call refused by a bulkhead or a rate limiter makes no deposit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* BulkheadRegistry.bulkhead("one")
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(bulkhead.execute(Deferred.await(gate)))
      for (let i = 0; i < 100 && (yield* bulkhead.state).inFlight === 0; i++) yield* Effect.yieldNow
      const refused = yield* Effect.flip(
        Effect.succeed(1).pipe(protect({ operation: "items.load", bulkhead: "one", budget: "perCall" }))
      )
      assert.instanceOf(refused, Bulkhead.BulkheadFullError)
      assert.strictEqual((yield* stateOf("perCall")).requests, 0)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      // admitted, it deposits
      yield* Effect.succeed(1).pipe(protect({ operation: "items.load", bulkhead: "one", budget: "perCall" }))
      assert.strictEqual((yield* stateOf("perCall")).requests, 1)
      // the rate limiter: its one permit, then a refusal
      yield* Effect.succeed(1).pipe(protect({ operation: "items.load", rateLimit: "single", budget: "perCall" }))
      const limited = yield* Effect.flip(
        Effect.succeed(1).pipe(protect({ operation: "items.load", rateLimit: "single", budget: "perCall" }))
      )
      assert.instanceOf(limited, RateLimiter.RateLimitedError)
      assert.strictEqual((yield* stateOf("perCall")).requests, 2)
    }).pipe(Effect.provide(Errors)))

  it.effect("budget: true uses the budget the operations option maps the operation to, else its own", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(protect({ operation: "items.save", budget: true }))
      yield* Effect.succeed(1).pipe(protect({ operation: "items.update", budget: true }))
      assert.strictEqual((yield* stateOf("perCall")).requests, 2, "both operations share the mapped budget")
      // the mapped budget's rule is what applies: one retry per call
      const op = scripted(repeat(10, storage))
      yield* within("10 seconds", op.effect.pipe(protect({ operation: "items.save", budget: true })))
      assert.strictEqual(op.calls(), 4, "3 deposits: 3 retries")
      // an operation with no mapping gets the budget named after it, with the default options (10/s floor)
      yield* Effect.succeed(1).pipe(protect({ operation: "items.other", budget: true }))
      const own = yield* stateOf("items.other")
      assert.deepStrictEqual([own.requests, own.available], [1, 100])
      assert.deepStrictEqual((yield* RetryBudgetRegistry.states).map((s) => s.name), [
        "empty",
        "items.other",
        "one",
        "perCall",
        "tokens"
      ])
    }).pipe(Effect.provide(Errors)))

  it.effect("a tokens budget through protect: failed attempts take tokens, successes give them back", () =>
    Effect.gen(function*() {
      // 4 tokens, retries while above 2: a failing call fails (3 left, retry), fails again (2 left, refused)
      const first = scripted(repeat(10, storage))
      const exit = yield* within("10 seconds", first.effect.pipe(protect({ operation: "items.load", budget: "tokens" })))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(first.calls(), 2)
      let state = yield* stateOf("tokens")
      assert.deepStrictEqual([state.tokens, state.granted, state.refused, state.requests], [2, 1, 1, 1])
      // at 2 tokens, a failing call is not retried at all, and takes one more (1)
      const second = scripted(repeat(10, storage))
      const refused = yield* atOnce(second.effect.pipe(protect({ operation: "items.load", budget: "tokens" })))
      assert.strictEqual(second.calls(), 1)
      assert.isTrue(Exit.isFailure(refused))
      assert.strictEqual((yield* stateOf("tokens")).tokens, 1)
      // four successes: +0.5 each, 3. A failing call's failure is counted before its retry is decided: 3 - 1 = 2,
      // not above 2, so not retried
      for (let i = 0; i < 4; i++) yield* Effect.succeed(i).pipe(protect({ operation: "items.load", budget: "tokens" }))
      assert.strictEqual((yield* stateOf("tokens")).tokens, 3)
      const third = scripted(repeat(1, storage)) // fails once, then would succeed
      assert.isTrue(Exit.isFailure(yield* atOnce(third.effect.pipe(protect({ operation: "items.load", budget: "tokens" })))))
      assert.strictEqual(third.calls(), 1)
      assert.strictEqual((yield* stateOf("tokens")).tokens, 2)
      // three more successes: 3.5; now the failure leaves 2.5, above half: retried, and its success gives 0.5 back
      for (let i = 0; i < 3; i++) yield* Effect.succeed(i).pipe(protect({ operation: "items.load", budget: "tokens" }))
      const fourth = scripted(repeat(1, storage))
      const ok = yield* within("10 seconds", fourth.effect.pipe(protect({ operation: "items.load", budget: "tokens" })))
      assert.deepStrictEqual(ok, Exit.succeed(2))
      state = yield* stateOf("tokens")
      assert.deepStrictEqual([state.tokens, state.granted, state.refused, state.requests], [3, 2, 3, 11])
    }).pipe(Effect.provide(Errors)))

  it.effect("Effect.retry(PolicyService.retry) inside withBudget spends the budget and stops when it is empty", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      // perCall: one retry per call deposited
      const op = scripted(repeat(10, storage))
      const retried = op.effect.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("perCall"))
      const exit = yield* within("10 seconds", retried)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(op.times, [0, 1_000], "one retry, the second refused at once")
      assert.strictEqual((failureOf(exit) as CommonErrors.StorageError).operation, "items.insert#1")
      let state = yield* stateOf("perCall")
      assert.deepStrictEqual([state.requests, state.granted, state.refused], [1, 1, 1])
      const suppressed = lines.filter((l) => String(l.message).includes("retry suppressed"))
      assert.deepStrictEqual(suppressed.map((l) => l.message), [
        "StorageError failed on attempt 2, retry suppressed: retry budget \"perCall\" exhausted"
      ])
      const history = yield* historyOf(2)
      const last = history[history.length - 1]!
      assert.deepStrictEqual([last.source, last.attempt, last.gaveUp, last.suppressed], ["retry", 2, true, "budget"])
      // the empty budget: not one retry, and the call ends without waiting
      const empty = scripted(repeat(10, storage))
      const none = yield* atOnce(
        empty.effect.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("empty"))
      )
      assert.isTrue(Exit.isFailure(none))
      assert.strictEqual(empty.calls(), 1)
      // withBudget outside the retry deposits once per run, not per attempt
      const twice = scripted(repeat(1, storage))
      yield* within(
        "10 seconds",
        twice.effect.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("perCall"))
      )
      assert.strictEqual(twice.calls(), 2)
      state = yield* stateOf("perCall")
      assert.deepStrictEqual([state.requests, state.granted, state.refused], [2, 2, 1])
      // without withBudget, the schedule spends no budget
      const free = scripted(repeat(4, storage))
      yield* within("10 seconds", free.effect.pipe(Effect.retry(PolicyService.retry)))
      assert.strictEqual(free.calls(), 5)
      assert.strictEqual((yield* stateOf("perCall")).granted, 2)
    }).pipe(Effect.provide(Errors), Effect.provide(captureLogs(lines)))
  })

  it.effect("a tokens budget through withBudget counts the attempts' outcomes", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(10, storage))
      yield* within("10 seconds", op.effect.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("tokens")))
      assert.strictEqual(op.calls(), 2, "4 → 3 (retry) → 2 (refused)")
      assert.strictEqual((yield* stateOf("tokens")).tokens, 2)
      const ok = scripted<never>([])
      yield* ok.effect.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("tokens"))
      assert.strictEqual((yield* stateOf("tokens")).tokens, 2.5, "a success gives the ratio back")
    }).pipe(Effect.provide(Errors)))

  it.effect("a fallback sees the error of a suppressed retry at once, and the call still deposits", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(10, storage))
      const exit = yield* atOnce(op.effect.pipe(protect({
        operation: "items.load",
        budget: "empty",
        recover: { StorageError: (e) => Effect.succeed(`cached after ${e.operation}`) }
      })))
      assert.deepStrictEqual(exit, Exit.succeed("cached after items.insert#0"))
      assert.strictEqual(yield* now, 0)
      assert.strictEqual(op.calls(), 1)
      const state = yield* stateOf("empty")
      assert.deepStrictEqual([state.requests, state.refused], [1, 1])
    }).pipe(Effect.provide(Errors)))

  it.effect("without a budget, retries are made as the policy says (the control)", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(10, storage))
      yield* within("10 seconds", op.effect.pipe(protect({ operation: "items.load" })))
      assert.deepStrictEqual(op.times, [0, 1_000, 2_000, 3_000, 4_000])
      assert.deepStrictEqual((yield* ErrorTracker.summary).retriesSuppressed, { budget: 0, pushback: 0 })
    }).pipe(Effect.provide(Errors)))
})
