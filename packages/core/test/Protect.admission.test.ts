import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  AdaptiveLimit,
  Bulkhead,
  BulkheadRegistry,
  BreakerRegistry,
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  Policy,
  protect,
  RateLimiter,
  RateLimiterRegistry,
  ResilienceMetrics,
  TripRule
} from "../src/index.js"
import { repeat, scripted } from "./utils.js"

const { NetworkError, StorageError, TimeoutError } = CommonErrors
const storage = () => new StorageError({ operation: "items.insert" })

const Errors = ErrorLayer.layer({
  logFormat: false,
  policies: [
    Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "100 millis", factor: 1 }),
    Policy.forFamily(TimeoutError, Policy.noRetry())
  ],
  breakers: { breakers: { db: { trip: TripRule.consecutive(1) } } },
  bulkheads: {
    bulkheads: {
      db: { limit: 1 },
      queued: { limit: 1, queue: 1, queueTimeout: "200 millis" },
      adaptive: { limit: AdaptiveLimit.aimd({ initial: 4, min: 1, max: 10, backoffRatio: 0.5 }) }
    },
    operations: { "items.save": "db" }
  },
  rateLimiters: {
    limiters: {
      api: { limit: 1, window: "1 minute" },
      pair: { limit: 2, window: "1 minute" },
      patient: { limit: 1, window: "1 second", wait: "1 second" }
    }
  }
})

/** Lets other fibers run until `done` holds (at most 10 000 yields, then dies). */
const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    if (!done()) return yield* Effect.die("condition never held")
  })

/** Takes the one place of the bulkhead `name` (directly, not through protect) until the returned effect. */
const occupy = (name: string) =>
  Effect.gen(function*() {
    const bulkhead = yield* BulkheadRegistry.bulkhead(name)
    const gate = yield* Deferred.make<void>()
    const before = (yield* bulkhead.state).inFlight
    const fiber = yield* Effect.forkChild(bulkhead.execute(Deferred.await(gate)))
    yield* settle(() => Effect.runSync(bulkhead.state).inFlight === before + 1)
    return Effect.andThen(Deferred.succeed(gate, undefined), Fiber.join(fiber))
  })

const callsOf = (operation: string) =>
  Effect.map(ResilienceMetrics.snapshot, (s) => s.calls.find((c) => c.operation === operation))

const stateOf = (name: string) => Effect.flatMap(BulkheadRegistry.bulkhead(name), (b) => b.state)
const limiterState = (name: string) => Effect.flatMap(RateLimiterRegistry.limiter(name), (l) => l.state)

describe("protect with a bulkhead", () => {
  it.effect("a call refused by a full bulkhead makes no attempt, is not retried, and counts as rejected", () =>
    Effect.gen(function*() {
      const release = yield* occupy("db")
      const op = scripted(repeat(5, storage))
      const error = yield* Effect.flip(op.effect.pipe(protect({ operation: "items.save", bulkhead: "db" })))
      assert.instanceOf(error, Bulkhead.BulkheadFullError)
      assert.deepStrictEqual([error.bulkhead, error.reason, error.limit, error.inFlight], ["db", "full", 1, 1])
      assert.strictEqual(op.calls(), 0)
      assert.deepStrictEqual(yield* callsOf("items.save"), {
        operation: "items.save",
        succeeded: 0,
        succeeded_after_retry: 0,
        failed: 0,
        failed_after_retry: 0,
        rejected: 1
      })
      assert.include(
        yield* PrometheusMetrics.format(),
        `resilience_calls_total{operation="items.save",outcome="rejected"} 1`
      )
      yield* release
      // once the place is free the same call runs (and is retried as its policy says)
      const fiber = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "items.save", bulkhead: "db" }), Effect.exit))
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(op.calls(), 3)
      assert.strictEqual((yield* callsOf("items.save"))?.failed_after_retry, 1)
    }).pipe(Effect.provide(Errors), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("bulkhead: true uses the bulkhead the operations option maps the operation to", () =>
    Effect.gen(function*() {
      const release = yield* occupy("db")
      const error = yield* Effect.flip(Effect.succeed(1).pipe(protect({ operation: "items.save", bulkhead: true })))
      assert.strictEqual(error.bulkhead, "db")
      yield* release
      // an operation with no mapping gets its own bulkhead, named after it
      assert.strictEqual(yield* Effect.succeed(2).pipe(protect({ operation: "items.load", bulkhead: true })), 2)
      assert.strictEqual((yield* stateOf("items.load")).admitted, 1)
    }).pipe(Effect.provide(Errors)))

  it.effect("a refused call is not counted by the breaker it would have gone through", () =>
    Effect.gen(function*() {
      const release = yield* occupy("db")
      for (let i = 0; i < 3; i++) {
        yield* Effect.exit(Effect.fail(storage()).pipe(protect({ operation: "items.save", breaker: "db", bulkhead: "db" })))
      }
      const breaker = yield* (yield* BreakerRegistry.breaker("db")).state
      assert.strictEqual(breaker.status, "closed") // consecutive(1) would have opened at one failure
      assert.deepStrictEqual(breaker.calls, { success: 0, failure: 0, ignored: 0, rejected: 0, slow: 0 })
      assert.strictEqual((yield* callsOf("items.save"))?.rejected, 3)
      yield* release
    }).pipe(Effect.provide(Errors)))

  it.effect("recover.BulkheadFullError answers a refusal; other fallbacks do not", () =>
    Effect.gen(function*() {
      const release = yield* occupy("db")
      const answered = yield* Effect.succeed("fresh").pipe(protect({
        operation: "items.save",
        bulkhead: "db",
        recover: { BulkheadFullError: (e) => Effect.succeed(`busy: ${e.bulkhead}, retry in ${e.retryAfterMillis} ms`) }
      }))
      assert.strictEqual(answered, "busy: db, retry in 1000 ms")
      const other = yield* Effect.flip(Effect.fail(storage()).pipe(protect({
        operation: "items.save",
        bulkhead: "db",
        recover: { StorageError: () => Effect.succeed("cached") }
      })))
      assert.strictEqual(other._tag, "BulkheadFullError")
      // a recovered refusal is still a rejected call
      assert.strictEqual((yield* callsOf("items.save"))?.rejected, 2)
      yield* release
    }).pipe(Effect.provide(Errors)))

  it.effect("a refusal whose fallback fails is resolved as failed in the tracker, not left pending", () =>
    Effect.gen(function*() {
      const release = yield* occupy("db")
      const error = yield* Effect.flip(Effect.succeed(1).pipe(protect({
        operation: "items.save",
        bulkhead: "db",
        recover: { BulkheadFullError: () => Effect.fail(new NetworkError({ target: "cache" })) }
      })))
      assert.strictEqual(error._tag, "NetworkError")
      const summary = yield* ErrorTracker.summary
      assert.strictEqual(summary.recovery.pending, 0)
      assert.strictEqual(summary.recovery.failed, 1)
      yield* release
    }).pipe(Effect.provide(Errors)))

  it.effect("a refusal whose fallback succeeds is resolved as succeeded in the tracker", () =>
    Effect.gen(function*() {
      const release = yield* occupy("db")
      yield* Effect.succeed(1).pipe(protect({
        operation: "items.save",
        bulkhead: "db",
        recover: { BulkheadFullError: () => Effect.succeed(0) }
      }))
      const summary = yield* ErrorTracker.summary
      assert.deepStrictEqual([summary.recovery.pending, summary.recovery.succeeded], [0, 1])
      yield* release
    }).pipe(Effect.provide(Errors)))

  it.effect("a call that queues for a place runs once one frees; one whose queue timeout passes is rejected", () =>
    Effect.gen(function*() {
      const queued = yield* BulkheadRegistry.bulkhead("queued")
      const release = yield* occupy("queued")
      const op = scripted<never>([])
      const waiting = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "queued.call", bulkhead: "queued" })))
      yield* settle(() => Effect.runSync(queued.state).queued === 1)
      yield* release
      assert.strictEqual(yield* Fiber.join(waiting), 1)
      const holder = yield* occupy("queued")
      const timedOut = yield* Effect.forkChild(
        Effect.flip(op.effect.pipe(protect({ operation: "queued.call", bulkhead: "queued" })))
      )
      yield* settle(() => Effect.runSync(queued.state).queued === 1)
      yield* TestClock.adjust("200 millis")
      const error = yield* Fiber.join(timedOut)
      assert.strictEqual(error.reason, "queue_timeout")
      assert.strictEqual(op.calls(), 1)
      const calls = yield* callsOf("queued.call")
      assert.deepStrictEqual([calls?.succeeded, calls?.rejected], [1, 1])
      yield* holder
    }).pipe(Effect.provide(Errors)))

  it.effect("a call holds its place across its retries: a second call is refused while the first backs off", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(2, storage)) // fails twice, then succeeds
      const first = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "items.save", bulkhead: "db" })))
      yield* settle(() => op.calls() === 1)
      yield* TestClock.adjust("50 millis") // inside the first backoff
      const refused = yield* Effect.flip(Effect.succeed(0).pipe(protect({ operation: "other", bulkhead: "db" })))
      assert.strictEqual(refused.reason, "full")
      yield* TestClock.adjust("100 millis") // inside the second backoff
      assert.strictEqual(op.calls(), 2)
      const again = yield* Effect.flip(Effect.succeed(0).pipe(protect({ operation: "other", bulkhead: "db" })))
      assert.strictEqual(again.reason, "full")
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* Fiber.join(first), 3)
      assert.deepStrictEqual(op.times, [0, 100, 200])
      const state = yield* stateOf("db")
      assert.deepStrictEqual([state.inFlight, state.admitted, state.rejected.full], [0, 1, 2])
      assert.strictEqual(yield* Effect.succeed(9).pipe(protect({ operation: "other", bulkhead: "db" })), 9)
    }).pipe(Effect.provide(Errors)))

  it.effect("an interrupted protected call gives its place back, during an attempt or a backoff", () =>
    Effect.gen(function*() {
      const db = yield* BulkheadRegistry.bulkhead("db")
      const running = yield* Effect.forkChild(Effect.never.pipe(protect({ operation: "items.save", bulkhead: "db" })))
      yield* settle(() => Effect.runSync(db.state).inFlight === 1)
      yield* Fiber.interrupt(running)
      assert.strictEqual((yield* stateOf("db")).inFlight, 0)
      const op = scripted(repeat(5, storage))
      const backingOff = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "items.save", bulkhead: "db" })))
      yield* settle(() => op.calls() === 1)
      yield* TestClock.adjust("50 millis")
      yield* Fiber.interrupt(backingOff)
      assert.strictEqual((yield* stateOf("db")).inFlight, 0)
      // interrupted calls are no outcome
      const calls = yield* callsOf("items.save")
      assert.strictEqual(calls === undefined ? 0 : calls.rejected + calls.failed + calls.succeeded, 0)
    }).pipe(Effect.provide(Errors)))

  it.effect("an adaptive bulkhead sees a protected call's timeout as a drop (the timeout is inside it)", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(
        Effect.exit(Effect.never.pipe(protect({ operation: "slow", timeout: "100 millis", bulkhead: "adaptive" })))
      )
      yield* TestClock.adjust("100 millis")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual((yield* stateOf("adaptive")).limit, 2)
    }).pipe(Effect.provide(Errors)))
})

describe("protect with a rate limit", () => {
  it.effect("a call refused by the limiter makes no attempt and counts as rejected", () =>
    Effect.gen(function*() {
      const op = scripted<never>([])
      assert.strictEqual(yield* op.effect.pipe(protect({ operation: "api.call", rateLimit: "api" })), 1)
      const error = yield* Effect.flip(op.effect.pipe(protect({ operation: "api.call", rateLimit: "api" })))
      assert.instanceOf(error, RateLimiter.RateLimitedError)
      assert.deepStrictEqual([error.limiter, error.key, error.retryAfterMillis], ["api", "", 60_000])
      assert.strictEqual(op.calls(), 1)
      const calls = yield* callsOf("api.call")
      assert.deepStrictEqual([calls?.succeeded, calls?.rejected], [1, 1])
    }).pipe(Effect.provide(Errors)))

  it.effect("the key option counts calls per key", () =>
    Effect.gen(function*() {
      const call = (key: string) =>
        Effect.exit(Effect.succeed(key).pipe(protect({ operation: "api.call", rateLimit: { limiter: "api", key } })))
      assert.isTrue(Exit.isSuccess(yield* call("tenant-a")))
      assert.isTrue(Exit.isSuccess(yield* call("tenant-b")))
      const again = yield* call("tenant-a")
      assert.isTrue(Exit.isFailure(again))
      const error = yield* Effect.flip(Effect.succeed(0).pipe(protect({
        operation: "api.call",
        rateLimit: { limiter: "api", key: "tenant-b" }
      })))
      assert.strictEqual(error.key, "tenant-b")
    }).pipe(Effect.provide(Errors)))

  it.effect("recover.RateLimitedError answers a refusal", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(protect({ operation: "api.call", rateLimit: "api" }))
      const answered = yield* Effect.succeed(1).pipe(protect({
        operation: "api.call",
        rateLimit: "api",
        recover: { RateLimitedError: (e) => Effect.succeed(-e.retryAfterMillis) }
      }))
      assert.strictEqual(answered, -60_000)
    }).pipe(Effect.provide(Errors)))

  it.effect("a call allowed to wait for a permit waits, then makes its attempts", () =>
    Effect.gen(function*() {
      const op = scripted<never>([])
      assert.strictEqual(yield* op.effect.pipe(protect({ operation: "api.call", rateLimit: "patient" })), 1)
      const fiber = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "api.call", rateLimit: "patient" })))
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(op.calls(), 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(fiber), 2)
      assert.deepStrictEqual(op.times, [0, 1000])
      assert.strictEqual((yield* callsOf("api.call"))?.succeeded, 2)
      // interrupted while it waits: its token is given back, and no attempt was made
      const waiting = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "api.call", rateLimit: "patient" })))
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(waiting)
      assert.strictEqual(op.calls(), 2)
      yield* TestClock.adjust("500 millis")
      assert.strictEqual(yield* op.effect.pipe(protect({ operation: "api.call", rateLimit: "patient" })), 3)
    }).pipe(Effect.provide(Errors)))

  it.effect("a call takes one permit, not one per attempt", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(2, storage)) // three attempts
      const fiber = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "api.call", rateLimit: "pair" })))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), 3)
      const state = yield* limiterState("pair")
      assert.deepStrictEqual([state.granted, state.rejected], [1, 0])
      // one permit left of two
      yield* Effect.succeed(0).pipe(protect({ operation: "api.call", rateLimit: "pair" }))
      assert.strictEqual(
        (yield* Effect.flip(Effect.succeed(0).pipe(protect({ operation: "api.call", rateLimit: "pair" }))))._tag,
        "RateLimitedError"
      )
    }).pipe(Effect.provide(Errors)))

  it.effect("a call refused by the limiter takes no bulkhead place and never reaches the breaker", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(protect({ operation: "api.call", rateLimit: "api" }))
      const before = yield* stateOf("db")
      const error = yield* Effect.flip(Effect.fail(storage()).pipe(protect({
        operation: "items.save",
        rateLimit: "api",
        bulkhead: "db",
        breaker: "db"
      })))
      assert.strictEqual(error._tag, "RateLimitedError")
      const after = yield* stateOf("db")
      assert.deepStrictEqual([after.admitted, after.rejected], [before.admitted, before.rejected])
      const breaker = yield* (yield* BreakerRegistry.breaker("db")).state
      assert.deepStrictEqual(breaker.calls, { success: 0, failure: 0, ignored: 0, rejected: 0, slow: 0 })
    }).pipe(Effect.provide(Errors)))

  it.effect("rate limit, bulkhead, retry, breaker, timeout: an admitted call goes through all of them", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(1, storage))
      const fiber = yield* Effect.forkChild(op.effect.pipe(protect({
        operation: "items.save",
        rateLimit: "pair",
        bulkhead: "db",
        breaker: "db",
        timeout: "1 second"
      }), Effect.exit))
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(fiber)
      // consecutive(1): the first failure opened the breaker, so the retry was rejected by it (and the run stopped)
      assert.isTrue(
        Exit.isFailure(exit) && exit.cause.reasons.some((r) => r._tag === "Fail" && r.error._tag === "BreakerOpenError")
      )
      assert.strictEqual(op.calls(), 1)
      const breaker = yield* (yield* BreakerRegistry.breaker("db")).state
      assert.deepStrictEqual([breaker.calls.failure, breaker.calls.rejected], [1, 1])
      assert.deepStrictEqual([(yield* stateOf("db")).admitted, (yield* limiterState("pair")).granted], [1, 1])
    }).pipe(Effect.provide(Errors)))
})
