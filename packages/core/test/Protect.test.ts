import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, Layer, Schedule, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  CommonErrors,
  ErrorFamily,
  ErrorLayer,
  ErrorTracker,
  Policy,
  PolicyService,
  protect
} from "../src/index.js"
import { CurrentObserver, type Event, type Observer } from "../src/internal/observation.js"
import { advanceUntilDone } from "../src/testing.js"
import { captureLogs, type Line, repeat, scripted } from "./utils.js"

const { NetworkError, StorageError, TimeoutError, ValidationError } = CommonErrors

class Corrupted extends ErrorFamily.TaggedError<Corrupted>()("Corrupted", { table: Schema.String }, {
  code: "test.E0101",
  kind: "unrecoverable",
  severity: "critical",
  publicMessage: "The data is damaged."
}) {}

const storage = () => new StorageError({ operation: "items.insert", detail: "pg: connection reset" })
const network = () => new NetworkError({ target: "bank" })

const cleanups: Array<string> = []
const Errors = ErrorLayer.layer({
  logFormat: false,
  defaultPolicy: { maxAttempts: 2, baseDelay: "10 millis" },
  policies: [
    Policy.forFamily(StorageError, { maxAttempts: 5, baseDelay: "100 millis", timeout: "300 millis" }),
    Policy.forFamily(NetworkError, { maxAttempts: 3, baseDelay: "1 second", factor: 1, logLevel: "Info" }),
    Policy.forFamily(Corrupted, Policy.noRetry({
      logLevel: "Fatal",
      cleanup: (error) => Effect.sync(() => cleanups.push(error.table))
    }))
  ]
})

const run = <A, E>(effect: Effect.Effect<A, E, PolicyService.PolicyService>) => Effect.result(advanceUntilDone(effect))

describe("protect", () => {
  it.effect("a storage call failing fewer times than its policy allows ends in success", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(4, storage))
      const result = yield* run(op.effect.pipe(protect({ operation: "items.save" })))
      assert.deepStrictEqual(result._tag === "Success" ? result.success : -1, 5)
      assert.deepStrictEqual(op.times, [0, 100, 300, 700, 1500])
    }).pipe(Effect.provide(Errors)))

  it.effect("a storage call failing more often ends in the original typed error after exactly max attempts", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(20, storage))
      const result = yield* run(protect(op.effect, { operation: "items.save" }))
      assert.isTrue(result._tag === "Failure" && result.failure instanceof StorageError)
      assert.strictEqual(result._tag === "Failure" ? result.failure.detail : "", "pg: connection reset")
      assert.deepStrictEqual(op.times, [0, 100, 300, 700, 1500])
    }).pipe(Effect.provide(Errors)))

  it.effect("a validation error is never retried", () =>
    Effect.gen(function*() {
      const op = scripted([new ValidationError({ issues: [] }), storage()])
      const result = yield* run(op.effect.pipe(protect({ operation: "items.save" })))
      assert.isTrue(result._tag === "Failure" && result.failure._tag === "ValidationError")
      assert.strictEqual(op.calls(), 1)
    }).pipe(Effect.provide(Errors)))

  it.effect("logs every failure at its policy's level with operation, tag, code, severity and attempt", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const op = scripted<CommonErrors.StorageError | CommonErrors.NetworkError>([storage(), network(), network(), network()])
      yield* run(op.effect.pipe(protect({ operation: "items.save", module: "shop" })))
      assert.deepStrictEqual(lines.map((l) => [l.level, l.annotations.errorTag, l.annotations.attempt]), [
        ["WARN", "StorageError", 1],
        ["INFO", "NetworkError", 2],
        ["INFO", "NetworkError", 3],
        ["INFO", "NetworkError", 4]
      ])
      assert.include(lines[0]!.annotations, {
        module: "shop",
        operation: "items.save",
        errorCode: "resilience.E0004",
        severity: "high",
        retryInMillis: 100
      })
      assert.strictEqual(lines[0]!.message, "items.save failed on attempt 1, retrying in 100ms")
      assert.strictEqual(lines[3]!.message, "items.save failed on attempt 4, giving up")
      assert.isUndefined(lines[0]!.cause)
      assert.include(lines[3]!.cause ?? "", "NetworkError") // the final line carries the full cause
    }).pipe(Effect.provide(Errors), Effect.provide(captureLogs(lines)))
  })

  it.effect("each attempt is bounded by the timeout, and the timeout error follows its own policy", () =>
    Effect.gen(function*() {
      const op = scripted<never>([])
      const result = yield* run(
        Effect.andThen(op.effect, Effect.never).pipe(protect({ operation: "items.load", timeout: "1 second" }))
      )
      // TimeoutError is recoverable with no own policy: the default (2 attempts, 10 ms)
      assert.deepStrictEqual(op.times, [0, 1010])
      assert.isTrue(result._tag === "Failure" && result.failure instanceof TimeoutError)
      assert.deepStrictEqual(
        result._tag === "Failure" && result.failure instanceof TimeoutError ? result.failure.timeoutMillis : 0,
        1000
      )
    }).pipe(Effect.provide(Errors)))

  it.effect("a retry after an error whose policy has a timeout uses that timeout", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const op = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        times.push(now)
        return times.length === 1 ? Effect.fail(storage()) : Effect.never
      })
      const result = yield* run(op.pipe(protect({ operation: "items.save", timeout: "5 seconds" })))
      // storage fails at 0; its retry starts at 100 under the storage policy's 300 ms limit and times out at 400;
      // the TimeoutError follows the default policy (one retry after 10 ms), which runs under the base 5 s limit
      assert.deepStrictEqual(times, [0, 100, 410])
      assert.isTrue(result._tag === "Failure" && result.failure._tag === "TimeoutError")
      assert.strictEqual(result._tag === "Failure" ? (result.failure as CommonErrors.TimeoutError).timeoutMillis : 0, 5000)
    }).pipe(Effect.provide(Errors)))

  it.effect("a fallback recovers an error type once its retries are exhausted", () =>
    Effect.gen(function*() {
      const op = scripted<CommonErrors.NetworkError | CommonErrors.ValidationError>(repeat(5, network))
      const result = yield* run(op.effect.pipe(protect({
        operation: "profile.load",
        recover: { NetworkError: (e) => Effect.succeed(`fallback for ${e.target}`) }
      })))
      assert.deepStrictEqual(result._tag === "Success" ? result.success : undefined, "fallback for bank")
      assert.deepStrictEqual(op.times, [0, 1000, 2000])
    }).pipe(Effect.provide(Errors)))

  // what paging on "an unrecoverable error ended an operation" subscribes to (Alerts before the redesign)
  const giveUps = { kinds: ["unrecoverable"], gaveUp: true } as const

  it.effect("an unrecoverable error runs its cleanup instead of retrying, and is the run's give-up event", () =>
    Effect.gen(function*() {
      cleanups.length = 0
      const received = yield* Effect.forkChild(Stream.runCollect(Stream.take(ErrorTracker.events(giveUps), 1)))
      yield* Effect.yieldNow
      const op = scripted(repeat(3, () => new Corrupted({ table: "orders", detail: "page checksum mismatch" })))
      const result = yield* run(op.effect.pipe(protect({ operation: "orders.read" })))
      assert.isTrue(result._tag === "Failure" && result.failure._tag === "Corrupted")
      assert.strictEqual(op.calls(), 1)
      assert.deepStrictEqual(cleanups, ["orders"])
      const [event] = yield* Fiber.join(received)
      assert.deepStrictEqual(event && { ...event, annotations: undefined }, {
        timestamp: 0,
        tag: "Corrupted",
        code: "test.E0101",
        kind: "unrecoverable",
        severity: "critical",
        message: "The data is damaged.",
        operation: "orders.read",
        attempt: 1,
        annotations: undefined,
        recovery: "none",
        source: "protect",
        gaveUp: true
      })
    }).pipe(Effect.provide(Errors)))

  // pinned before the redesign folded Alerts into the tracker's events: one notice per give-up, not per attempt
  it.effect("an unrecoverable family with a retrying policy of its own is notified once, when its retries give up", () =>
    Effect.gen(function*() {
      class Torn extends ErrorFamily.TaggedError<Torn>()("Torn", {}, { code: "test.E0103", kind: "unrecoverable" }) {}
      const cleaned: Array<string> = []
      const layer = ErrorLayer.layer({
        logFormat: false,
        errors: [Torn],
        policies: [Policy.forFamily(Torn, Policy.make({
          schedule: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 2 })),
          cleanup: () => Effect.sync(() => cleaned.push("torn"))
        }))]
      })
      yield* Effect.gen(function*() {
        const seen: Array<string> = []
        const every: Array<string> = []
        yield* ErrorTracker.subscribe((event) => {
          seen.push(`${event.tag}@${event.attempt}`)
        }, giveUps)
        yield* ErrorTracker.subscribe((event) => {
          every.push(`${event.tag}@${event.attempt}`)
        }, { kinds: ["unrecoverable"] })
        const op = scripted(repeat(5, () => new Torn()))
        const result = yield* run(op.effect.pipe(protect({ operation: "pages.write" })))
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow
        assert.isTrue(result._tag === "Failure" && result.failure._tag === "Torn")
        assert.strictEqual(op.calls(), 3)
        assert.deepStrictEqual(cleaned, ["torn"])
        assert.deepStrictEqual(seen, ["Torn@3"])
        assert.deepStrictEqual(every, ["Torn@1", "Torn@2", "Torn@3"]) // without gaveUp: every attempt
      }).pipe(Effect.scoped, Effect.provide(layer))
    }))

  it.effect("only fallbacks given for a tag run: inherited properties of the record are not fallbacks", () =>
    Effect.gen(function*() {
      class Odd extends ErrorFamily.TaggedError<Odd>()("toString", {}, { code: "test.E0102", kind: "business" }) {}
      const error = yield* Effect.flip(Effect.fail(new Odd()).pipe(protect({ operation: "odd", recover: {} })))
      assert.strictEqual(error._tag, "toString")
    }).pipe(Effect.provide(Errors)))

  it.effect("defects are not retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const exit = yield* Effect.exit(
        Effect.suspend(() => (++calls, Effect.die(new Error("bug")))).pipe(protect({ operation: "x" }))
      )
      assert.strictEqual(exit._tag, "Failure")
      assert.strictEqual(calls, 1)
    }).pipe(Effect.provide(Errors)))

  // a typed error alongside a defect: neither retried nor recovered, and the defect is kept (the typed error
  // becomes a defect too, as with `Effect.retry`, since `recover` took its tag out of the error type)
  const mixed = () => Cause.combine(Cause.fail(storage()), Cause.die(new Error("bug")))
  const exitOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.exit(effect))
      yield* TestClock.adjust("1 minute")
      return yield* Fiber.join(fiber)
    })
  const keepsDefect = (exit: Exit.Exit<unknown, unknown>) => {
    assert.isTrue(Exit.isFailure(exit), "the call must fail")
    if (Exit.isFailure(exit)) {
      assert.include(exit.cause.reasons.filter(Cause.isDieReason).map((r) => String(r.defect)), "Error: bug")
      assert.isFalse(Cause.hasFails(exit.cause), "no typed error may be left in the typed channel")
    }
  }

  it.effect("a defect alongside a typed error is not retried, and the defect is kept, as with Effect.retry", () =>
    Effect.gen(function*() {
      const cause = mixed()
      let calls = 0
      const effect = Effect.suspend(() => (++calls, Effect.failCause(cause)))
      const exit = yield* exitOf(effect.pipe(protect({ operation: "items.save" })))
      assert.strictEqual(calls, 1)
      keepsDefect(exit)
      const stock = yield* exitOf(effect.pipe(Effect.retry(Schedule.recurs(3))))
      assert.strictEqual(calls, 2)
      assert.deepStrictEqual(exit, stock)
    }).pipe(Effect.provide(Errors)))

  it.effect("a defect alongside a typed error is not recovered by the fallback for that error", () =>
    Effect.gen(function*() {
      let calls = 0
      let recovered = 0
      const effect = Effect.suspend(() => (++calls, Effect.failCause(mixed())))
      const exit = yield* exitOf(effect.pipe(protect({
        operation: "items.save",
        recover: { StorageError: () => Effect.sync(() => ++recovered) }
      })))
      assert.strictEqual(calls, 1)
      assert.strictEqual(recovered, 0)
      keepsDefect(exit)
    }).pipe(Effect.provide(Errors)))

  it.effect("a defect on a retry stops the retries, skips the fallback and is kept", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      let recovered = 0
      const effect = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        times.push(now)
        return times.length === 1 ? Effect.fail(storage()) : Effect.failCause(mixed())
      })
      keepsDefect(yield* exitOf(effect.pipe(protect({
        operation: "items.save",
        recover: { StorageError: () => Effect.sync(() => ++recovered) }
      }))))
      assert.deepStrictEqual(times, [0, 100])
      assert.strictEqual(recovered, 0)
    }).pipe(Effect.provide(Errors)))

  it.effect("through a breaker, a defect hidden behind a business error counts against it once and is kept", () =>
    Effect.gen(function*() {
      let calls = 0
      const cause = Cause.combine(Cause.fail(new CommonErrors.NotFoundError({ resource: "user" })), Cause.die("bug"))
      const effect = Effect.suspend(() => (++calls, Effect.failCause(cause)))
      const exit = yield* exitOf(effect.pipe(protect({ operation: "users.save", breaker: "users" })))
      assert.strictEqual(calls, 1)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause) && !Cause.hasFails(exit.cause))
      const registry = yield* BreakerRegistry.BreakerRegistry
      const state = yield* registry.breaker("users").state
      assert.deepStrictEqual(state.calls, { success: 0, failure: 1, ignored: 0, rejected: 0, slow: 0 })
    }).pipe(Effect.provide(Errors)))

  it.effect("interruption during a backoff stops the retries", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(20, storage))
      const fiber = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "items.save" })))
      yield* TestClock.adjust("150 millis")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(op.times, [0, 100])
    }).pipe(Effect.provide(Errors)))

  it.effect("the success path never reads the PolicyService", () =>
    Effect.gen(function*() {
      let reads = 0
      const spy = new Proxy({} as PolicyService.PolicyService, {
        get: () => {
          reads++
          return undefined
        }
      })
      const value = yield* Effect.succeed(42).pipe(
        protect({ operation: "ok", timeout: "1 second" }),
        Effect.provide(Layer.succeed(PolicyService.PolicyService, spy))
      )
      assert.strictEqual(value, 42)
      assert.strictEqual(reads, 0)
    }))

  describe("what protect emits through the seam", () => {
    const collect = () => {
      const events: Array<Event> = []
      const observer: Observer = { active: true, emit: (event) => events.push(event) }
      return { events, observer }
    }
    const Policies = PolicyService.layer({
      policies: [Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "10 millis" })]
    })
    const shown = (events: ReadonlyArray<Event>) =>
      events.map((e) =>
        e._tag === "Failure"
          ? `Failure ${(e.error as { _tag: string })._tag}@${e.attempt} ${e.recovery}${e.gaveUp ? " gaveUp" : ""}`
          : e._tag === "Resolved"
          ? `Resolved ${e.outcome}`
          : e._tag === "Call"
          ? `Call ${e.outcome}`
          : e._tag
      )

    it.effect("a success emits its call, the same event object every time", () =>
      Effect.gen(function*() {
        const { events, observer } = collect()
        const ok = Effect.succeed(1).pipe(protect({ operation: "ok" }), Effect.provideService(CurrentObserver, observer))
        yield* ok
        yield* ok
        assert.deepStrictEqual(shown(events), ["Call succeeded", "Call succeeded"])
        assert.strictEqual(events[0], events[1])
      }).pipe(Effect.provide(Policies)))

    it.effect("each retried failure is pending and resolved by the attempt after it; the run's end is its call", () =>
      Effect.gen(function*() {
        const { events, observer } = collect()
        const op = scripted(repeat(2, storage))
        yield* run(op.effect.pipe(protect({ operation: "items.save" }), Effect.provideService(CurrentObserver, observer)))
        assert.deepStrictEqual(shown(events), [
          "Failure StorageError@1 pending",
          "Resolved failed",
          "Failure StorageError@2 pending",
          "Resolved succeeded",
          "Call succeeded_after_retry"
        ])
        const [first] = events
        assert.isTrue(first?._tag === "Failure" && first.source === "protect" && first.operation === "items.save")
      }).pipe(Effect.provide(Policies)))

    it.effect("the failure that ends the run is marked gaveUp: as none without a fallback, pending with one", () =>
      Effect.gen(function*() {
        const plain = collect()
        yield* run(scripted(repeat(5, storage)).effect.pipe(
          protect({ operation: "items.save" }),
          Effect.provideService(CurrentObserver, plain.observer)
        ))
        assert.deepStrictEqual(shown(plain.events).slice(-3), [
          "Resolved failed",
          "Call failed_after_retry",
          "Failure StorageError@3 none gaveUp"
        ])
        const recovered = collect()
        yield* run(scripted(repeat(5, storage)).effect.pipe(
          protect({ operation: "items.save", recover: { StorageError: () => Effect.succeed(0) } }),
          Effect.provideService(CurrentObserver, recovered.observer)
        ))
        assert.deepStrictEqual(shown(recovered.events).slice(-3), [
          "Call failed_after_retry",
          "Failure StorageError@3 pending gaveUp",
          "Resolved succeeded"
        ])
      }).pipe(Effect.provide(Policies)))

    it.effect("the annotations of the failing fiber travel with its failures", () =>
      Effect.gen(function*() {
        const { events, observer } = collect()
        yield* run(Effect.fail(new ValidationError({ issues: [] })).pipe(
          protect({ operation: "items.save" }),
          Effect.annotateLogs({ requestId: "r-1" }),
          Effect.provideService(CurrentObserver, observer)
        ))
        const failure = events.find((e) => e._tag === "Failure")
        assert.deepStrictEqual(failure?._tag === "Failure" ? failure.annotations : undefined, { requestId: "r-1" })
      }).pipe(Effect.provide(Policies)))
  })
})
