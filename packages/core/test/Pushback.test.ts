import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  CircuitBreaker,
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  Policy,
  PolicyService,
  protect,
  Pushback,
  TripRule
} from "../src/index.js"
import { captureLogs, type Line, repeat, scripted, historyOf } from "./utils.js"

const { NetworkError, UnavailableError } = CommonErrors

const unavailable = (retryAfterMillis?: number) => new UnavailableError({ service: "search", retryAfterMillis })

const Errors = ErrorLayer.layer({
  logFormat: false,
  policies: [
    Policy.forFamily(UnavailableError, { maxAttempts: 3, baseDelay: "100 millis", factor: 1, maxRetryAfter: "1 second" })
  ],
  breakers: {
    breakers: {
      dep: { trip: TripRule.consecutive(1), openDuration: "5 seconds" }
    }
  }
})

/** Runs `effect` in a fiber, moves the clock `by`, and returns its exit. */
const within = <A, E, R>(by: Duration.Input, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(effect))
    yield* TestClock.adjust(by)
    return yield* Fiber.join(fiber)
  })


const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const found = Cause.findErrorOption(exit.cause)
  return found._tag === "Some" ? found.value : undefined
}

describe("Pushback hints", () => {
  it("hintMillis reads a numeric retryAfterMillis of at least zero, Infinity included", () => {
    assert.strictEqual(Pushback.hintMillis(unavailable(2_000)), 2_000)
    assert.strictEqual(Pushback.hintMillis(unavailable(0)), 0)
    assert.strictEqual(Pushback.hintMillis(unavailable(Infinity)), Infinity)
    assert.isUndefined(Pushback.hintMillis(unavailable()))
    assert.isUndefined(Pushback.hintMillis(unavailable(-1)), "negative: no hint")
    assert.isUndefined(Pushback.hintMillis(new NetworkError({ target: "bank" })))
    assert.isUndefined(Pushback.hintMillis({ retryAfterMillis: "500" }), "a string is no hint")
    assert.isUndefined(Pushback.hintMillis({ retryAfterMillis: Number.NaN }))
    assert.strictEqual(Pushback.hintMillis({ retryAfterMillis: 7 }), 7, "any object carrying the field")
    assert.isUndefined(Pushback.hintMillis(null))
    assert.isUndefined(Pushback.hintMillis(undefined))
    assert.isUndefined(Pushback.hintMillis(500))
    assert.isUndefined(Pushback.hintMillis("retry later"))
  })

  it("hint is the same as a Duration", () => {
    const hint = Pushback.hint(unavailable(1_500))
    assert.isDefined(hint)
    assert.strictEqual(Duration.toMillis(hint!), 1_500)
    assert.isUndefined(Pushback.hint(unavailable()))
    assert.isUndefined(Pushback.hint(new NetworkError({ target: "bank" })))
  })

  it("parseRetryAfter reads seconds and HTTP dates, a past date as 0, anything else as undefined", () => {
    assert.strictEqual(Pushback.parseRetryAfter("2", 0), 2_000)
    assert.strictEqual(Pushback.parseRetryAfter(" 120 ", 999), 120_000, "seconds do not depend on now")
    assert.strictEqual(Pushback.parseRetryAfter("0", 0), 0)
    const now = Date.UTC(2015, 9, 21, 7, 28, 0)
    assert.strictEqual(Pushback.parseRetryAfter("Wed, 21 Oct 2015 07:28:10 GMT", now), 10_000)
    // the obsolete RFC 850 and asctime forms
    assert.strictEqual(Pushback.parseRetryAfter("Wednesday, 21-Oct-15 07:28:30 GMT", now), 30_000)
    assert.strictEqual(Pushback.parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0, "in the past: 0")
    assert.strictEqual(Pushback.parseRetryAfter("Thu, 01 Jan 1970 00:00:00 GMT", now), 0)
    for (const junk of ["", "soon", "1.5", "-1", "2s", "1e3", "12 34", "Wed, 99 Foo 2015"]) {
      assert.isUndefined(Pushback.parseRetryAfter(junk, now), JSON.stringify(junk))
    }
  })

  it("fromHeaders: case-insensitive names, Retry-After first, then grpc-retry-pushback-ms", () => {
    assert.strictEqual(Pushback.fromHeaders({ "retry-after": "3" }, 0), 3_000)
    assert.strictEqual(Pushback.fromHeaders({ "Retry-After": "3" }, 0), 3_000)
    assert.strictEqual(Pushback.fromHeaders({ "RETRY-AFTER": "4" }, 0), 4_000)
    const now = Date.UTC(2015, 9, 21, 7, 28, 0)
    assert.strictEqual(Pushback.fromHeaders({ "retry-after": "Wed, 21 Oct 2015 07:28:05 GMT" }, now), 5_000)
    // both: Retry-After wins
    assert.strictEqual(Pushback.fromHeaders({ "grpc-retry-pushback-ms": "250", "retry-after": "1" }, 0), 1_000)
    // an unreadable Retry-After gives way to the gRPC header
    assert.strictEqual(Pushback.fromHeaders({ "retry-after": "later", "grpc-retry-pushback-ms": "250" }, 0), 250)
    assert.strictEqual(Pushback.fromHeaders({ "Grpc-Retry-Pushback-Ms": "75" }, 0), 75)
    assert.strictEqual(Pushback.fromHeaders({ "grpc-retry-pushback-ms": "0" }, 0), 0)
    // negative or malformed gRPC pushback: do not retry
    assert.strictEqual(Pushback.fromHeaders({ "grpc-retry-pushback-ms": "-1" }, 0), Infinity)
    assert.strictEqual(Pushback.fromHeaders({ "grpc-retry-pushback-ms": "abc" }, 0), Infinity)
    // the first of several values; absent or undefined headers: no hint
    assert.strictEqual(Pushback.fromHeaders({ "retry-after": ["2", "9"] }, 0), 2_000)
    assert.isUndefined(Pushback.fromHeaders({}, 0))
    assert.isUndefined(Pushback.fromHeaders({ "retry-after": undefined, "content-type": "text/plain" }, 0))
    assert.isUndefined(Pushback.fromHeaders({ "retry-after": "later" }, 0))
    assert.isUndefined(Pushback.fromHeaders({ "retry-after": [] }, 0))
  })
})

describe("retries honour pushback", () => {
  it.effect("a hint longer than the backoff replaces it: retried after exactly 500 ms, not 100", () =>
    Effect.gen(function*() {
      const op = scripted([unavailable(500), unavailable(500)])
      const exit = yield* within("5 seconds", op.effect.pipe(protect({ operation: "search" })))
      assert.deepStrictEqual(exit, Exit.succeed(3))
      assert.deepStrictEqual(op.times, [0, 500, 1_000])
      // only as long as the error says: a later error without a hint gets the backoff again
      const mixed = scripted([unavailable(500), unavailable()])
      const start = yield* Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))
      yield* within("5 seconds", mixed.effect.pipe(protect({ operation: "search" })))
      assert.deepStrictEqual(mixed.times.map((t) => t - start), [0, 500, 600])
    }).pipe(Effect.provide(Errors)))

  it.effect("a hint shorter than the backoff keeps the backoff", () =>
    Effect.gen(function*() {
      const op = scripted([unavailable(30), unavailable(0)])
      yield* within("5 seconds", op.effect.pipe(protect({ operation: "search" })))
      assert.deepStrictEqual(op.times, [0, 100, 200])
    }).pipe(Effect.provide(Errors)))

  it.effect("a hint equal to maxRetryAfter is waited for", () =>
    Effect.gen(function*() {
      const op = scripted([unavailable(1_000)])
      const exit = yield* within("5 seconds", op.effect.pipe(protect({ operation: "search" })))
      assert.deepStrictEqual(exit, Exit.succeed(2))
      assert.deepStrictEqual(op.times, [0, 1_000])
    }).pipe(Effect.provide(Errors)))

  it.effect("a hint above maxRetryAfter gives up at once with the original error, counted as suppressed", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const original = unavailable(1_001)
      const op = scripted([original, unavailable()])
      const fiber = yield* Effect.forkChild(Effect.exit(op.effect.pipe(protect({ operation: "search" }))))
      // no time passes: the call has already ended
      yield* Effect.yieldNow
      const exit = yield* Fiber.join(fiber)
      assert.strictEqual(failureOf(exit), original, "the very error, not a new one")
      assert.deepStrictEqual(op.times, [0])
      assert.strictEqual(op.calls(), 1)
      const history = yield* historyOf(1)
      assert.deepStrictEqual(
        history.map((e) => [e.tag, e.source, e.operation, e.gaveUp, e.suppressed]),
        [["UnavailableError", "protect", "search", true, "pushback"]]
      )
      assert.deepStrictEqual((yield* ErrorTracker.summary).retriesSuppressed, { budget: 0, pushback: 1 })
      const suppressed = lines.filter((l) => String(l.message).includes("retry suppressed"))
      assert.strictEqual(suppressed.length, 1)
      assert.include(String(suppressed[0]!.message), "search failed on attempt 1, retry suppressed")
      assert.include(String(suppressed[0]!.message), "retry-after hint exceeds maxRetryAfter")
      assert.strictEqual(suppressed[0]!.annotations.retrySuppressed, "pushback")
      assert.isFalse(lines.some((l) => String(l.message).includes("retrying in")), "no retry was announced")
    }).pipe(Effect.provide(Errors), Effect.provide(captureLogs(lines)))
  })

  it.effect("Infinity (a negative gRPC pushback) means do not retry, even with the default maxRetryAfter", () =>
    Effect.gen(function*() {
      const op = scripted([unavailable(Pushback.fromHeaders({ "grpc-retry-pushback-ms": "-1" }, 0))])
      const exit = yield* within("1 minute", op.effect.pipe(protect({ operation: "search" })))
      assert.strictEqual(failureOf(exit)?.retryAfterMillis, Infinity)
      assert.strictEqual(op.calls(), 1)
      // the default bound is 30 s: 30 s is waited for, 30.001 s is not
      const waited = scripted([unavailable(30_000)])
      const ok = yield* within("1 minute", waited.effect.pipe(protect({ operation: "search" })))
      assert.deepStrictEqual(ok, Exit.succeed(2))
      assert.strictEqual(waited.times[1]! - waited.times[0]!, 30_000)
      const refused = scripted([unavailable(30_001)])
      yield* within("1 minute", refused.effect.pipe(protect({ operation: "search" })))
      assert.strictEqual(refused.calls(), 1)
    }).pipe(Effect.provide(ErrorLayer.layer({
      logFormat: false,
      policies: [Policy.forFamily(UnavailableError, { maxAttempts: 3, baseDelay: "100 millis" })]
    }))))

  it.effect("the same through Effect.retry(PolicyService.retry)", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const op = scripted([unavailable(500), unavailable(40)])
      const exit = yield* within("5 seconds", op.effect.pipe(Effect.retry(PolicyService.retry)))
      assert.deepStrictEqual(exit, Exit.succeed(3))
      assert.deepStrictEqual(op.times, [0, 500, 600], "500 ms for the hint, then the 100 ms backoff")

      const start = yield* Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))
      const original = unavailable(5_000)
      const refused = scripted([original])
      const fiber = yield* Effect.forkChild(Effect.exit(refused.effect.pipe(Effect.retry(PolicyService.retry))))
      yield* Effect.yieldNow
      const failed = yield* Fiber.join(fiber)
      assert.strictEqual(failureOf(failed), original)
      assert.deepStrictEqual(refused.times, [start])
      const history = yield* historyOf(3)
      const last = history[history.length - 1]!
      assert.deepStrictEqual([last.source, last.gaveUp, last.suppressed], ["retry", true, "pushback"])
      assert.deepStrictEqual((yield* ErrorTracker.summary).retriesSuppressed, { budget: 0, pushback: 1 })
      const suppressed = lines.filter((l) => String(l.message).includes("retry suppressed"))
      assert.strictEqual(suppressed.length, 1)
      assert.include(String(suppressed[0]!.message), "UnavailableError failed on attempt 1, retry suppressed")
    }).pipe(Effect.provide(Errors), Effect.provide(captureLogs(lines)))
  })
})

describe("a breaker honours pushback", () => {
  const fail = (retryAfterMillis?: number) => Effect.fail(unavailable(retryAfterMillis))
  const rejectedBy = (exit: Exit.Exit<unknown, unknown>) => {
    const error = failureOf(exit)
    return error instanceof CircuitBreaker.BreakerOpenError ? error : undefined
  }

  it.effect("an opening on a failure carrying 60 s lasts 60 s although its own duration is 5 s", () =>
    Effect.gen(function*() {
      const breaker = yield* BreakerRegistry.breaker("dep")
      yield* Effect.exit(breaker.execute(fail(60_000)))
      let state = yield* breaker.state
      assert.strictEqual(state.status, "open")
      assert.strictEqual(state.retryAfterMillis, 60_000)
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual((yield* breaker.state).status, "open")
      let ran = false
      const early = yield* Effect.exit(breaker.execute(Effect.sync(() => (ran = true))))
      assert.isFalse(ran, "no probe at 59 s")
      assert.strictEqual(rejectedBy(early)?.retryAfterMillis, 1_000)
      yield* TestClock.adjust("999 millis")
      assert.isDefined(rejectedBy(yield* Effect.exit(breaker.execute(Effect.void))), "nor at 59.999 s")
      yield* TestClock.adjust("1 millis")
      const probe = yield* Effect.exit(breaker.execute(Effect.sync(() => (ran = true))))
      assert.isTrue(Exit.isSuccess(probe))
      assert.isTrue(ran, "the probe is let through at 60 s")
      state = yield* breaker.state
      assert.strictEqual(state.status, "closed")
    }).pipe(Effect.provide(Errors)))

  it.effect("without a hint, or with a shorter one, the opening lasts its own 5 s", () =>
    Effect.gen(function*() {
      const breaker = yield* BreakerRegistry.breaker("dep")
      for (const hint of [undefined, 1_000]) {
        yield* Effect.exit(breaker.execute(fail(hint)))
        assert.strictEqual((yield* breaker.state).retryAfterMillis, 5_000, `hint ${hint}`)
        yield* TestClock.adjust("4999 millis")
        assert.isDefined(rejectedBy(yield* Effect.exit(breaker.execute(Effect.void))))
        yield* TestClock.adjust("1 millis")
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(breaker.execute(Effect.void))), `probe after 5 s, hint ${hint}`)
        assert.strictEqual((yield* breaker.state).status, "closed")
      }
    }).pipe(Effect.provide(Errors)))

  it.effect("a hint is honoured up to 5 minutes", () =>
    Effect.gen(function*() {
      const breaker = yield* BreakerRegistry.breaker("dep")
      yield* Effect.exit(breaker.execute(fail(60 * 60_000)))
      assert.strictEqual((yield* breaker.state).retryAfterMillis, 5 * 60_000)
      yield* TestClock.adjust("5 minutes")
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(breaker.execute(Effect.void))))
      // Infinity too is capped, not an opening for ever
      yield* Effect.exit(breaker.execute(fail(Infinity)))
      assert.strictEqual((yield* breaker.state).retryAfterMillis, 5 * 60_000)
    }).pipe(Effect.provide(Errors)))

  it.effect("a failed probe carrying a hint reopens for that hint", () =>
    Effect.gen(function*() {
      const breaker = yield* BreakerRegistry.breaker("dep")
      yield* Effect.exit(breaker.execute(fail()))
      yield* TestClock.adjust("5 seconds")
      yield* Effect.exit(breaker.execute(fail(20_000))) // the probe fails, asking for 20 s
      const state = yield* breaker.state
      assert.strictEqual(state.status, "open")
      assert.strictEqual(state.retryAfterMillis, 20_000)
      yield* TestClock.adjust("19 seconds")
      assert.isDefined(rejectedBy(yield* Effect.exit(breaker.execute(Effect.void))))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(breaker.execute(Effect.void))))
    }).pipe(Effect.provide(Errors)))

  it.effect("through protect: the breaker's rejection carries the hint's remaining time", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(3, () => unavailable(60_000)))
      const first = yield* within("1 second", op.effect.pipe(protect({ operation: "search", breaker: "dep" })))
      // the first failure's hint exceeds maxRetryAfter (1 s): not retried, and it opened the breaker for 60 s
      assert.strictEqual(failureOf(first)?._tag, "UnavailableError")
      assert.strictEqual(op.calls(), 1)
      const second = yield* Effect.exit(op.effect.pipe(protect({ operation: "search", breaker: "dep" })))
      const rejection = failureOf(second)
      assert.strictEqual(rejection?._tag, "BreakerOpenError")
      assert.strictEqual((rejection as CircuitBreaker.BreakerOpenError).retryAfterMillis, 59_000)
      assert.strictEqual(op.calls(), 1)
    }).pipe(Effect.provide(Errors)))
})

describe("pushback options", () => {
  it.effect("maxRetryAfter is a policy config key, validated like the other durations", () =>
    Effect.gen(function*() {
      const policy = yield* Policy.fromConfig({ maxRetryAfter: "2 seconds" })
      assert.strictEqual(Duration.toMillis(policy.maxRetryAfter), 2_000)
      assert.strictEqual(Duration.toMillis((yield* Policy.fromConfig({})).maxRetryAfter), 30_000, "default 30 s")
      assert.strictEqual(Duration.toMillis(Policy.noRetry().maxRetryAfter), 30_000)
      const error = yield* Effect.flip(Policy.fromConfig({ maxRetryAfter: "forever" }))
      assert.deepStrictEqual(error.issues.map((i) => i.path), [["maxRetryAfter"]])
      const layered = yield* Effect.flip(Effect.scoped(Layer.build(ErrorLayer.layer({
        logFormat: false,
        policies: { UnavailableError: { maxRetryAfter: -1 } }
      }))))
      assert.deepStrictEqual(
        (layered as { readonly issues: ReadonlyArray<{ readonly path: ReadonlyArray<unknown> }> }).issues.map((i) => i.path),
        [["policies", "UnavailableError", "maxRetryAfter"]]
      )
    }))
})
