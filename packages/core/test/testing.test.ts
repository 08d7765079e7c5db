import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Cause, Clock, Data, Deferred, Duration, Effect, Exit, Fiber, Random, Schedule, type Scope, Semaphore } from "effect"
import { TestClock } from "effect/testing"
import { BreakerRegistry, CircuitBreaker, CommonErrors, ErrorLayer, protect, TripRule } from "../src/index.js"
import {
  advanceUntilDone,
  type Call,
  delaysOf,
  expectState,
  expectStatuses,
  Flaky,
  recordTransitions,
  type Step,
  TestingError,
  type TransitionRecorder
} from "../src/testing.js"

class Busy extends Data.TaggedError("Busy")<{ readonly n: number }> {}
class Refused extends Data.TaggedError("Refused")<{}> {}

const tags = (calls: ReadonlyArray<Call<unknown, unknown>>) => calls.map((call) => call.step._tag)

/** The TestingError an effect died with (the kit's failures are defects, as a failed `assert` is). */
const testingError = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    assert.instanceOf(error, TestingError)
    return error as TestingError
  })

describe("Flaky.script", () => {
  it.effect("replays its steps in order, then repeats the last one; each call records its step and time", () =>
    Effect.gen(function*() {
      const boom = new Error("boom")
      const steps = [Flaky.fail(new Busy({ n: 1 })), Flaky.die(boom), Flaky.interrupt, Flaky.succeed("ok")] as const
      const flaky = Flaky.script(steps)
      const exits: Array<Exit.Exit<string, Busy>> = []
      for (let i = 0; i < 6; i++) exits.push(yield* Effect.exit(flaky.effect))

      assert.deepStrictEqual(exits[0], Exit.fail(new Busy({ n: 1 })))
      assert.isTrue(Exit.isFailure(exits[1]!) && Cause.squash(exits[1].cause) === boom)
      assert.isTrue(Exit.isFailure(exits[2]!) && Cause.hasInterruptsOnly(exits[2].cause))
      assert.deepStrictEqual(exits.slice(3), [Exit.succeed("ok"), Exit.succeed("ok"), Exit.succeed("ok")])

      const calls = flaky.calls
      assert.deepStrictEqual(calls.map((c) => c.index), [0, 1, 2, 3, 4, 5])
      assert.deepStrictEqual(tags(calls), ["Fail", "Die", "Interrupt", "Succeed", "Succeed", "Succeed"])
      assert.strictEqual(calls[1]!.step, steps[1])
      assert.strictEqual(calls[5]!.step, steps[3])
      assert.deepStrictEqual(calls.map((c) => c.at), [0, 0, 0, 0, 0, 0])
      // `calls` is a copy: later calls do not change what was read
      yield* Effect.exit(flaky.effect)
      assert.strictEqual(calls.length, 6)
      assert.strictEqual(flaky.calls.length, 7)
    }))

  it.effect("with cycle: true, starts again from the first step", () =>
    Effect.gen(function*() {
      const flaky = Flaky.script([Flaky.fail(new Refused()), Flaky.succeed(1), Flaky.succeed(2)], { cycle: true })
      const exits = yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7], () => Effect.exit(flaky.effect))
      assert.deepStrictEqual(exits, [
        Exit.fail(new Refused()),
        Exit.succeed(1),
        Exit.succeed(2),
        Exit.fail(new Refused()),
        Exit.succeed(1),
        Exit.succeed(2),
        Exit.fail(new Refused())
      ])
    }))

  it.effect("a slow step sleeps on the Clock first: TestClock drives it, to the millisecond", () =>
    Effect.gen(function*() {
      const flaky = Flaky.script([Flaky.slow("30 seconds", Flaky.fail(new Refused())), Flaky.succeed("ok")])
      const fiber = yield* Effect.forkChild(Effect.exit(flaky.effect))
      yield* TestClock.adjust("29999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Fiber.join(fiber), Exit.fail(new Refused()))
      assert.strictEqual(yield* flaky.effect, "ok")
      assert.deepStrictEqual(flaky.calls.map((c) => c.at), [0, 30_000])
      // an infinite latency never ends
      const hung = Flaky.script([Flaky.slow("Infinity", Flaky.succeed(1))])
      const never = yield* Effect.forkChild(hung.effect)
      yield* TestClock.adjust("1 day")
      assert.isUndefined(never.pollUnsafe())
    }))

  it("refuses an empty script", () => {
    assert.throws(() => Flaky.script([]), /at least one step/)
  })

  it("infers the success and error types of its steps", () => {
    expectTypeOf(Flaky.script([Flaky.fail(new Busy({ n: 1 })), Flaky.succeed(1)])).toEqualTypeOf<
      Flaky<number, Busy>
    >()
    expectTypeOf(Flaky.script([Flaky.fail(new Busy({ n: 1 })), Flaky.fail(new Refused()), Flaky.succeed("a")]).effect)
      .toEqualTypeOf<Effect.Effect<string, Busy | Refused>>()
    expectTypeOf(Flaky.script([Flaky.die("x"), Flaky.interrupt])).toEqualTypeOf<Flaky<never, never>>()
    expectTypeOf(Flaky.script([Flaky.slow("1 second", Flaky.fail(new Refused()))])).toEqualTypeOf<
      Flaky<never, Refused>
    >()
    // an array built elsewhere keeps its declared types
    const steps: Array<Step<string, Busy>> = [Flaky.succeed("a")]
    expectTypeOf(Flaky.script(steps)).toEqualTypeOf<Flaky<string, Busy>>()
    // the error channel is the script's: a handler for an error it cannot fail with does not compile
    const flaky = Flaky.script([Flaky.fail(new Refused()), Flaky.succeed(1)])
    expectTypeOf(flaky.effect.pipe(Effect.catchTag("Refused", () => Effect.succeed(0)))).toEqualTypeOf<
      Effect.Effect<number>
    >()
    // @ts-expect-error: the script never fails with Busy
    flaky.effect.pipe(Effect.catchTag("Busy", () => Effect.succeed(0)))
  })
})

describe("Flaky.seeded", () => {
  const draw = (seed: number | string, calls = 200) =>
    Effect.gen(function*() {
      const flaky = Flaky.seeded({
        seed,
        success: "ok",
        failure: { rate: 0.3, error: new Refused() },
        defect: { rate: 0.05 },
        interrupt: { rate: 0.05 },
        latency: { rate: 0.2, min: "10 millis", max: "50 millis" }
      })
      for (let i = 0; i < calls; i++) yield* Effect.forkChild(Effect.exit(flaky.effect))
      yield* TestClock.adjust("1 second")
      return flaky.calls.map((c) => `${c.step._tag}${c.step.latency === undefined ? "" : `+${c.step.latency}`}`)
    })

  it.effect("the same seed gives the same steps on every run, another seed other steps", () =>
    Effect.gen(function*() {
      const first = yield* draw(42)
      assert.deepStrictEqual(yield* draw(42), first)
      // the program's own Random does not change them
      assert.deepStrictEqual(yield* draw(42).pipe(Random.withSeed("something else")), first)
      assert.notDeepEqual(yield* draw(43), first)
      assert.deepStrictEqual(yield* draw("a string seed"), yield* draw("a string seed"))
    }))

  it.effect("draws each outcome at about its rate, and latencies between min and max", () =>
    Effect.gen(function*() {
      const flaky = Flaky.seeded<number, Refused | Busy>({
        seed: 1,
        success: 1,
        failure: [{ rate: 0.2, error: new Refused() }, { rate: 0.1, error: new Busy({ n: 0 }) }],
        defect: { rate: 0.1, defect: "boom" },
        latency: { rate: 0.5, min: "100 millis", max: "200 millis" }
      })
      const exits = yield* advanceUntilDone(
        Effect.forEach(Array.from({ length: 2000 }), () => Effect.exit(flaky.effect), { concurrency: "unbounded" })
      )
      const count = (p: (exit: Exit.Exit<number, Refused | Busy>) => boolean) => exits.filter(p).length / 2000
      const failedWith = (tag: string) => (exit: Exit.Exit<number, Refused | Busy>) =>
        Exit.isFailure(exit) && exit.cause.reasons.some((r) => Cause.isFailReason(r) && r.error._tag === tag)
      const near = (actual: number, expected: number) => assert.approximately(actual, expected, 0.03)
      near(count(failedWith("Refused")), 0.2)
      near(count(failedWith("Busy")), 0.1)
      near(count((e) => Exit.isFailure(e) && Cause.hasDies(e.cause)), 0.1)
      near(count(Exit.isSuccess), 0.6)
      const latencies = flaky.calls.flatMap((c) => c.step.latency === undefined ? [] : [Duration.toMillis(c.step.latency)])
      near(latencies.length / 2000, 0.5)
      assert.isTrue(latencies.every((ms) => ms >= 100 && ms <= 200 && Number.isInteger(ms)))
      assert.strictEqual(Math.min(...latencies), 100)
      assert.strictEqual(Math.max(...latencies), 200)
      // the calls ended when their latencies did: the slowest at 200 ms
      assert.strictEqual(yield* Clock.currentTimeMillis, 200)
    }))

  it.effect("adding a latency does not change which calls fail", () =>
    Effect.gen(function*() {
      const outcomes = (latency: boolean) => {
        const flaky = Flaky.seeded({
          seed: 9,
          success: 0,
          failure: { rate: 0.5, error: new Refused() },
          ...(latency ? { latency: { duration: "1 second" } } : {})
        })
        return advanceUntilDone(Effect.forEach(Array.from({ length: 50 }), () => Effect.exit(flaky.effect))).pipe(
          Effect.map((exits) => exits.map(Exit.isSuccess))
        )
      }
      assert.deepStrictEqual(yield* outcomes(true), yield* outcomes(false))
    }))

  it("refuses rates outside 0 to 1 or adding up to more than 1", () => {
    assert.throws(() => Flaky.seeded({ seed: 1, success: 1, failure: { rate: 1.5, error: "e" } }), /failure\[0\]\.rate/)
    assert.throws(
      () => Flaky.seeded({ seed: 1, success: 1, failure: { rate: 0.7, error: "e" }, defect: { rate: 0.5 } }),
      /add up to 1\.2/
    )
    assert.throws(() => Flaky.seeded({ seed: 1, success: 1, latency: { min: "2 seconds", max: "1 second" } }), /max/)
  })

  it("types: the success of `success`, the errors of `failure`", () => {
    expectTypeOf(Flaky.seeded({ seed: 1, success: "ok", failure: { rate: 0.1, error: new Refused() } }))
      .toEqualTypeOf<Flaky<string, Refused>>()
    expectTypeOf(Flaky.seeded({ seed: 1, success: 1 })).toEqualTypeOf<Flaky<number, never>>()
    expectTypeOf(
      Flaky.seeded<number, Busy | Refused>({
        seed: 1,
        success: 1,
        failure: [{ rate: 0.1, error: new Refused() }, { rate: 0.1, error: new Busy({ n: 0 }) }]
      }).effect
    ).toEqualTypeOf<Effect.Effect<number, Busy | Refused>>()
  })
})

describe("delaysOf and attempts", () => {
  it("gives the gaps between consecutive calls", () => {
    assert.deepStrictEqual(delaysOf([]), [])
    assert.deepStrictEqual(delaysOf([{ at: 5 }]), [])
    assert.deepStrictEqual(delaysOf([{ at: 0 }, { at: 100 }, { at: 300 }, { at: 700 }]), [100, 200, 400])
  })

  it.effect("shows each attempt of a protected call and the delay before it", () =>
    Effect.gen(function*() {
      const storage = new CommonErrors.StorageError({ operation: "items.save" })
      const flaky = Flaky.script([
        Flaky.fail(storage),
        Flaky.slow("50 millis", Flaky.fail(storage)),
        Flaky.succeed("saved")
      ])
      const policy = Schedule.exponential("100 millis").pipe(Schedule.upTo({ times: 5 }))
      const saved = yield* advanceUntilDone(flaky.effect.pipe(protect({ operation: "items.save", retry: policy })))
      assert.strictEqual(saved, "saved")
      assert.deepStrictEqual(tags(flaky.calls), ["Fail", "Fail", "Succeed"])
      // the second attempt's 50 ms latency comes before the second backoff
      assert.deepStrictEqual(delaysOf(flaky.calls), [100, 50 + 200])
      assert.strictEqual(yield* Clock.currentTimeMillis, 350)
    }).pipe(Effect.provide(ErrorLayer.layer({ logFormat: false }))))
})

describe("recordTransitions, expectStatuses, expectState", () => {
  const Breakers = BreakerRegistry.layer({
    default: { trip: TripRule.consecutive(2), openDuration: "10 seconds" }
  })
  const fail = Effect.fail(new Refused())

  it.effect("records a registry breaker's transitions in order: closed → open → half_open → closed", () =>
    Effect.gen(function*() {
      const recorder = yield* recordTransitions("payments")
      assert.strictEqual(recorder.breaker, "payments")
      yield* expectStatuses(recorder, ["closed"])
      const payments = yield* BreakerRegistry.breaker("payments")
      yield* Effect.exit(payments.execute(fail))
      yield* Effect.exit(payments.execute(fail))
      yield* expectStatuses(recorder, ["closed", "open"])
      yield* Effect.exit(payments.execute(Effect.void)) // rejected
      yield* expectState("payments", { status: "open", openings: 1, calls: { failure: 2, rejected: 1 } })

      yield* TestClock.adjust("10 seconds")
      yield* payments.execute(Effect.void) // the probe
      yield* expectStatuses(recorder, ["closed", "open", "half_open", "closed"])
      const transitions = yield* recorder.transitions
      assert.deepStrictEqual(transitions.map((t) => [t.from, t.to, t.reason, t.at]), [
        ["closed", "open", "consecutive_failures", 0],
        ["open", "half_open", "open_elapsed", 10_000],
        ["half_open", "closed", "probes_succeeded", 10_000]
      ])
      yield* expectState(payments, { status: "closed", calls: { success: 1, failure: 2, rejected: 1, ignored: 0 } })
      // another breaker's transitions are not recorded
      yield* Effect.flatMap(BreakerRegistry.breaker("search"), (search) => search.isolate)
      assert.strictEqual((yield* recorder.transitions).length, 3)
    }).pipe(Effect.provide(Breakers)))

  it.effect("records a standalone breaker, from the status it was in when recording began", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make("bank", { trip: TripRule.consecutive(1), openDuration: "1 second" })
      yield* breaker.isolate
      const recorder = yield* recordTransitions(breaker)
      yield* expectStatuses(recorder, ["forced_open"])
      yield* breaker.reset
      yield* Effect.exit(breaker.execute(fail))
      yield* expectStatuses(recorder, ["forced_open", "closed", "open"])
    }))

  it.effect("fail with a TestingError saying what was expected and what happened", () =>
    Effect.gen(function*() {
      const recorder = yield* recordTransitions("payments")
      const payments = yield* BreakerRegistry.breaker("payments")
      yield* Effect.exit(payments.execute(fail))
      yield* Effect.exit(payments.execute(fail))
      const path = yield* testingError(expectStatuses(recorder, ["closed", "open", "half_open", "closed"]))
      assert.instanceOf(path, TestingError)
      assert.strictEqual(path.reason, "Mismatch")
      assert.strictEqual(
        path.message,
        `breaker "payments" went closed → open, expected closed → open → half_open → closed`
      )
      assert.deepStrictEqual(path.actual, ["closed", "open"])
      const state = yield* testingError(expectState(payments, { status: "closed", openings: 1, calls: { failure: 3 } }))
      assert.strictEqual(state.message, `breaker "payments": status is open, expected closed; calls.failure is 2, expected 3`)
    }).pipe(Effect.provide(Breakers)))

  it("types: a name needs the registry, a breaker does not", () => {
    expectTypeOf(recordTransitions("payments")).toEqualTypeOf<
      Effect.Effect<TransitionRecorder, never, Scope.Scope | BreakerRegistry.BreakerRegistry>
    >()
    expectTypeOf(recordTransitions({} as CircuitBreaker.CircuitBreaker)).toEqualTypeOf<
      Effect.Effect<TransitionRecorder, never, Scope.Scope>
    >()
    expectTypeOf(expectState("payments", {})).toEqualTypeOf<
      Effect.Effect<void, never, BreakerRegistry.BreakerRegistry>
    >()
    expectTypeOf(expectState({} as CircuitBreaker.CircuitBreaker, {})).toEqualTypeOf<Effect.Effect<void>>()
    expectTypeOf(expectStatuses({} as TransitionRecorder, ["closed"])).toEqualTypeOf<Effect.Effect<void>>()
  })
})

describe("advanceUntilDone", () => {
  it.effect("moves the clock from sleep to sleep: delays exact, the clock left where the effect finished", () =>
    Effect.gen(function*() {
      const flaky = Flaky.script([Flaky.fail(new Busy({ n: 1 })), Flaky.fail(new Busy({ n: 2 })), Flaky.succeed(3)])
      const result = yield* advanceUntilDone(
        flaky.effect.pipe(Effect.retry(Schedule.exponential("1 second").pipe(Schedule.upTo({ times: 5 }))))
      )
      assert.strictEqual(result, 3)
      assert.deepStrictEqual(delaysOf(flaky.calls), [1000, 2000])
      assert.strictEqual(yield* Clock.currentTimeMillis, 3000)
      // sleeps of forked fibers count too (a timeout races the call)
      const slow = Flaky.script([Flaky.slow("1 minute", Flaky.succeed("late"))])
      const timedOut = yield* Effect.flip(advanceUntilDone(slow.effect.pipe(Effect.timeout("5 seconds"))))
      assert.strictEqual(timedOut._tag, "TimeoutError")
      assert.strictEqual(yield* Clock.currentTimeMillis, 8000)
    }))

  it.effect("gives the effect's own failure or defect unchanged", () =>
    Effect.gen(function*() {
      const failing = Flaky.script([Flaky.slow("1 second", Flaky.fail(new Refused()))])
      assert.deepStrictEqual(yield* Effect.exit(advanceUntilDone(failing.effect)), Exit.fail(new Refused()))
      const dying = Flaky.script([Flaky.die("boom")])
      const exit = yield* Effect.exit(advanceUntilDone(dying.effect))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
    }))

  it.effect("runs concurrent calls together: a bulkhead-style queue of sleeps", () =>
    Effect.gen(function*() {
      const semaphore = yield* Semaphore.make(1)
      const call = (i: number) => semaphore.withPermits(1)(Effect.as(Effect.sleep("100 millis"), i))
      const done = yield* advanceUntilDone(Effect.all([call(1), call(2), call(3)], { concurrency: "unbounded" }))
      assert.deepStrictEqual(done, [1, 2, 3])
      assert.strictEqual(yield* Clock.currentTimeMillis, 300)
    }))

  it.effect("steps the clock when the effect waits on a fiber it did not fork", () =>
    Effect.gen(function*() {
      const ready = yield* Deferred.make<string>()
      yield* Effect.forkChild(Effect.andThen(Effect.sleep("2500 millis"), Deferred.succeed(ready, "ready")))
      assert.strictEqual(yield* advanceUntilDone(Deferred.await(ready)), "ready")
      assert.strictEqual(yield* Clock.currentTimeMillis, 3000) // moved by `step` (1 s) three times
    }))

  it.effect("fails clearly, and interrupts the effect, when it never completes", () =>
    Effect.gen(function*() {
      let interrupted = false
      const never = Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true))))
      const error = yield* testingError(advanceUntilDone(never, { maxTime: "1 minute" }))
      assert.instanceOf(error, TestingError)
      assert.strictEqual(error._tag, "TestingError")
      assert.strictEqual(error.reason, "StillRunning")
      assert.match(error.message, /still running after 1m of test time and 60 moves of the clock/)
      assert.match(error.message, /waits on no sleep of its own/)
      assert.isTrue(interrupted)

      const far = yield* testingError(advanceUntilDone(Effect.sleep("2 hours")))
      assert.match(far.message, /its next sleep ends 2h in, past maxTime/)

      const busy = Flaky.script([Flaky.fail(new Busy({ n: 0 }))])
      const steps = yield* testingError(
        advanceUntilDone(busy.effect.pipe(Effect.retry(Schedule.spaced("1 second"))), { maxSteps: 5 })
      )
      assert.match(steps.message, /maxSteps \(5\) reached/)
      assert.strictEqual(busy.calls.length, 6)
    }))

  it.effect("gives up without hanging when the effect's finalizer sleeps, and past maxTime says so", () =>
    Effect.gen(function*() {
      const stubborn = Effect.never.pipe(Effect.ensuring(Effect.sleep("1 second")))
      const error = yield* testingError(advanceUntilDone(stubborn, { maxTime: "1 minute" }))
      assert.strictEqual(error.reason, "StillRunning")
      // a sleep ending after maxTime: one move to the limit, then the reason (not 10 000 one-second steps)
      const late = yield* testingError(advanceUntilDone(Effect.sleep("6 hours"), { maxTime: "5 hours" }))
      assert.match(late.message, /after 5h of test time and 1 moves of the clock: its next sleep ends 6h in, past maxTime/)
    }))

  it.live("fails at once without a TestClock", () =>
    Effect.gen(function*() {
      const error = yield* testingError(advanceUntilDone(Effect.succeed(1)))
      assert.strictEqual(error.reason, "NoTestClock")
    }))

  it("types: exactly the effect's own", () => {
    expectTypeOf(advanceUntilDone(Flaky.script([Flaky.fail(new Refused()), Flaky.succeed(1)]).effect))
      .toEqualTypeOf<Effect.Effect<number, Refused>>()
    expectTypeOf(advanceUntilDone(BreakerRegistry.breaker("x"))).toEqualTypeOf<
      Effect.Effect<CircuitBreaker.CircuitBreaker, never, BreakerRegistry.BreakerRegistry>
    >()
  })
})
