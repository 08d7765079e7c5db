import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Schedule, Scheduler, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { CircuitBreaker, CommonErrors, ConfigError, TripRule } from "../src/index.js"
import { advanceUntilDone, recordTransitions } from "../src/testing.js"
import { repeat } from "./utils.js"

const { BreakerOpenError } = CircuitBreaker
const network = () => new CommonErrors.NetworkError({ target: "bank" })
const fail = Effect.fail(network())
const ok = Effect.succeed("ok")

const make = (options?: CircuitBreaker.Options) => CircuitBreaker.make("bank", options)

const status = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (s) => s.status)

/** Runs `effect` through the breaker `n` times in sequence, ignoring the outcomes. */
const times = (breaker: CircuitBreaker.CircuitBreaker, n: number, effect: Effect.Effect<unknown, unknown>) =>
  Effect.forEach(repeat(n, () => effect), (e) => Effect.exit(breaker.execute(e)), { discard: true })

/** The rejection a call met, or undefined when it was not rejected. */
const rejection = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) return undefined
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" && error.value instanceof BreakerOpenError ? error.value : undefined
}

describe("CircuitBreaker", () => {
  it.effect("opens after consecutive counted failures, and a success starts the count again", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.consecutive(3), openDuration: "10 seconds" })
      yield* times(breaker, 2, fail)
      yield* breaker.execute(ok)
      yield* times(breaker, 2, fail)
      assert.strictEqual(yield* status(breaker), "closed")
      yield* times(breaker, 1, fail)
      assert.strictEqual(yield* status(breaker), "open")

      yield* TestClock.adjust("4 seconds")
      let ran = false
      const exit = yield* Effect.exit(breaker.execute(Effect.sync(() => (ran = true))))
      const error = rejection(exit)!
      assert.isFalse(ran, "an open breaker must not run the call")
      assert.strictEqual(error.breaker, "bank")
      assert.strictEqual(error.status, "open")
      assert.strictEqual(error.retryAfterMillis, 6000)
      assert.strictEqual(error.code, "resilience.E0008")
      const state = yield* breaker.state
      assert.strictEqual(state.retryAfterMillis, 6000)
      assert.deepStrictEqual(state.calls, { success: 1, failure: 5, ignored: 0, rejected: 1, slow: 0 })
    }).pipe(Effect.scoped))

  it.effect("rejections are built without a stack and shared within a millisecond", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.consecutive(1), openDuration: "1 second" })
      yield* times(breaker, 1, fail)
      const a = rejection(yield* Effect.exit(breaker.execute(ok)))!
      const b = rejection(yield* Effect.exit(breaker.execute(ok)))!
      assert.strictEqual(a, b)
      assert.notInclude(String(a.stack), "\n    at ")
      yield* TestClock.adjust("1 millis")
      const c = rejection(yield* Effect.exit(breaker.execute(ok)))!
      assert.notStrictEqual(c, a)
      assert.strictEqual(c.retryAfterMillis, 999)
      assert.strictEqual(Duration.toMillis(c.retryAfter), 999)
    }).pipe(Effect.scoped))

  it.effect("by default business errors and interruptions count as neither, defects count as failures", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.consecutive(2) })
      const business = Effect.fail(new CommonErrors.NotFoundError({ resource: "item" }))
      yield* times(breaker, 1, fail)
      yield* times(breaker, 5, business)
      yield* times(breaker, 5, Effect.interrupt)
      assert.strictEqual(yield* status(breaker), "closed")
      yield* times(breaker, 1, Effect.die("boom"))
      const state = yield* breaker.state
      assert.strictEqual(state.status, "open")
      assert.deepStrictEqual(state.calls, { success: 0, failure: 2, ignored: 10, rejected: 0, slow: 0 })
    }).pipe(Effect.scoped))

  it.effect("counts only the listed tags, or what a predicate accepts", () =>
    Effect.gen(function*() {
      const tags = yield* CircuitBreaker.make("tags", { trip: TripRule.consecutive(2), counts: ["StorageError"] })
      yield* times(tags, 4, fail)
      assert.strictEqual(yield* status(tags), "closed")
      yield* times(tags, 2, Effect.fail(new CommonErrors.StorageError({ operation: "w" })))
      assert.strictEqual(yield* status(tags), "open")

      const predicate = yield* CircuitBreaker.make("predicate", {
        trip: TripRule.consecutive(2),
        counts: (e) => e instanceof CommonErrors.NotFoundError
      })
      yield* times(predicate, 2, Effect.fail(new CommonErrors.NotFoundError({ resource: "item" })))
      assert.strictEqual(yield* status(predicate), "open")
    }).pipe(Effect.scoped))

  it.effect("failure rate over the last N calls waits for the minimum number of calls", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 10, minimumCalls: 6 }) })
      // 4 failures out of 5: above the rate, below the minimum
      yield* times(breaker, 4, fail)
      yield* times(breaker, 1, ok)
      assert.strictEqual(yield* status(breaker), "closed")
      // the 6th call is a success: 4/6 >= 0.5
      yield* times(breaker, 1, ok)
      assert.strictEqual(yield* status(breaker), "open")

      // only the last 10 calls count: 10 successes push the failures out
      const windowed = yield* CircuitBreaker.make("w", {
        trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 10, minimumCalls: 10 })
      })
      yield* times(windowed, 4, fail)
      yield* times(windowed, 10, ok)
      yield* times(windowed, 4, fail)
      assert.strictEqual(yield* status(windowed), "closed") // 4 of the last 10
      yield* times(windowed, 1, fail)
      assert.strictEqual(yield* status(windowed), "open") // 5 of the last 10
    }).pipe(Effect.scoped))

  it.effect("failure rate over the last T seconds forgets buckets that leave the window", () =>
    Effect.gen(function*() {
      const breaker = yield* make({
        trip: TripRule.failureRate({ threshold: 0.5, lastDuration: "10 seconds", buckets: 10, minimumCalls: 4 })
      })
      yield* times(breaker, 3, fail)
      yield* TestClock.adjust("11 seconds") // those 3 failures leave the window
      yield* times(breaker, 3, ok)
      yield* times(breaker, 2, fail) // 2 of 5: below the rate
      assert.strictEqual(yield* status(breaker), "closed")
      yield* TestClock.adjust("5 seconds")
      yield* times(breaker, 1, fail) // 3 of 6 within the last 10 seconds
      assert.strictEqual(yield* status(breaker), "open")
    }).pipe(Effect.scoped))

  it.effect("slow calls trip the breaker at their rate, even when they succeed", () =>
    Effect.gen(function*() {
      const breaker = yield* make({
        trip: TripRule.slowCallRate({ slowerThan: "1 second", threshold: 0.5, lastCalls: 4 })
      })
      const slow = Effect.as(Effect.sleep("2 seconds"), "late")
      const run = (effect: Effect.Effect<string>) => Effect.exit(advanceUntilDone(breaker.execute(effect)))
      yield* run(ok)
      yield* run(slow)
      yield* run(ok)
      assert.strictEqual(yield* status(breaker), "closed")
      const last = yield* run(slow) // 2 of 4 slow
      assert.isTrue(Exit.isSuccess(last), "the slow call itself still succeeds")
      const state = yield* breaker.state
      assert.strictEqual(state.status, "open")
      assert.deepStrictEqual(state.calls, { success: 4, failure: 0, ignored: 0, rejected: 0, slow: 2 })
    }).pipe(Effect.scoped))

  it.effect("half-open lets the configured number of probes run at once and rejects the rest", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.consecutive(1), openDuration: "5 seconds", halfOpenProbes: 2 })
      yield* times(breaker, 1, fail)
      yield* TestClock.adjust("5 seconds")
      let running = 0
      let peak = 0
      const probe = Effect.gen(function*() {
        running++
        peak = Math.max(peak, running)
        yield* Effect.sleep("1 second")
        running--
        return "ok"
      })
      const fibers = yield* Effect.forEach(repeat(5, () => probe), (p) => Effect.forkChild(Effect.exit(breaker.execute(p))))
      yield* Effect.yieldNow
      const state = yield* breaker.state
      assert.strictEqual(state.status, "half_open")
      assert.strictEqual(state.probes.running, 2)
      yield* TestClock.adjust("1 second")
      const exits = yield* Effect.forEach(fibers, Fiber.join)
      assert.strictEqual(peak, 2)
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 2)
      const rejected = exits.map(rejection).filter((e) => e !== undefined)
      assert.strictEqual(rejected.length, 3)
      assert.isTrue(rejected.every((e) => e.status === "half_open" && e.retryAfterMillis === 0))
      // closeAfter defaults to halfOpenProbes: two successes close it
      assert.strictEqual(yield* status(breaker), "closed")
    }).pipe(Effect.scoped))

  it.effect("a failed probe opens it again for the next open duration of the schedule, capped", () =>
    Effect.gen(function*() {
      const breaker = yield* make({
        trip: TripRule.consecutive(1),
        openDuration: Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("5 seconds")]),
        closeAfter: 1
      })
      const recorder = yield* recordTransitions(breaker)
      yield* times(breaker, 1, fail) // open 1 s
      for (const wait of [1, 2, 4, 5, 5]) {
        yield* TestClock.adjust(`${wait - 1} seconds`)
        assert.isDefined(rejection(yield* Effect.exit(breaker.execute(ok))), "still open before its duration")
        yield* TestClock.adjust("1 second")
        yield* times(breaker, 1, fail) // the probe fails: open again, longer
      }
      const seen = yield* recorder.transitions
      const opens = seen.filter((t) => t.to === "open")
      assert.deepStrictEqual(opens.map((t) => t.openMillis), [1000, 2000, 4000, 5000, 5000, 5000])
      assert.deepStrictEqual(opens.map((t) => t.openings), [1, 2, 3, 4, 5, 6])
      assert.deepStrictEqual(
        seen.slice(0, 3).map((t) => [t.from, t.to, t.reason]),
        [["closed", "open", "consecutive_failures"], ["open", "half_open", "open_elapsed"], [
          "half_open",
          "open",
          "probe_failed"
        ]]
      )
    }).pipe(Effect.scoped))

  it.effect("openings start again once the breaker stayed closed as long as it was last open", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.consecutive(1), openDuration: Schedule.exponential("1 second") })
      const cycle = (closedFor: Duration.Input) =>
        Effect.gen(function*() {
          yield* times(breaker, 1, fail)
          const open = (yield* breaker.state).retryAfterMillis!
          yield* TestClock.adjust(open)
          yield* times(breaker, 1, ok) // probe succeeds: closed
          yield* TestClock.adjust(closedFor)
          return open
        })
      // flapping: closed for less than it was open, so the open durations keep growing
      assert.deepStrictEqual([yield* cycle("100 millis"), yield* cycle("100 millis"), yield* cycle("4 seconds")], [
        1000,
        2000,
        4000
      ])
      // closed for 4 s after a 4 s opening: back to the first duration
      assert.strictEqual(yield* cycle("0 millis"), 1000)
    }).pipe(Effect.scoped))

  it.effect("manual states: isolate rejects, forced closed never trips, disabled records would-be trips, reset", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.consecutive(2), openDuration: "3 seconds" })
      const recorder = yield* recordTransitions(breaker)
      yield* breaker.isolate
      const error = rejection(yield* Effect.exit(breaker.execute(ok)))!
      assert.strictEqual(error.status, "forced_open")
      assert.strictEqual(error.retryAfterMillis, 3000)

      yield* breaker.forceClosed
      yield* times(breaker, 10, fail)
      assert.strictEqual(yield* status(breaker), "forced_closed")

      yield* breaker.disable
      yield* times(breaker, 5, fail)
      const disabled = yield* breaker.state
      assert.strictEqual(disabled.status, "disabled")
      assert.strictEqual(disabled.wouldOpen, 2) // 2 + 2 failures, each pair would have opened it

      yield* breaker.reset
      yield* times(breaker, 1, fail)
      assert.strictEqual(yield* status(breaker), "closed") // fresh counts: one failure is not two
      yield* times(breaker, 1, fail)
      assert.strictEqual(yield* status(breaker), "open")
      const seen = yield* recorder.transitions
      assert.deepStrictEqual(seen.map((t) => [t.to, t.reason]), [
        ["forced_open", "isolated"],
        ["forced_closed", "forced_closed"],
        ["disabled", "disabled"],
        ["closed", "reset"],
        ["open", "consecutive_failures"]
      ])
      assert.deepStrictEqual(seen.map((t) => t.generation), [1, 2, 3, 4, 5])
    }).pipe(Effect.scoped))

  it.effect("an isolated breaker's retryAfter is the first open duration of its schedule", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ openDuration: Schedule.exponential("750 millis") })
      yield* breaker.isolate
      assert.strictEqual(rejection(yield* Effect.exit(breaker.execute(ok)))!.retryAfterMillis, 750)
    }).pipe(Effect.scoped))

  it.effect("interrupting a probe frees its slot without deciding anything", () =>
    Effect.gen(function*() {
      const breaker = yield* make({ trip: TripRule.consecutive(1), openDuration: "1 second" })
      yield* times(breaker, 1, fail)
      yield* TestClock.adjust("1 second")
      const hanging = yield* Effect.forkChild(breaker.execute(Effect.never))
      yield* Effect.yieldNow
      assert.isDefined(rejection(yield* Effect.exit(breaker.execute(ok))), "the only slot is taken")
      yield* Fiber.interrupt(hanging)
      const state = yield* breaker.state
      assert.strictEqual(state.status, "half_open")
      assert.strictEqual(state.probes.running, 0)
      yield* times(breaker, 1, ok)
      assert.strictEqual(yield* status(breaker), "closed")
    }).pipe(Effect.scoped))

  it.effect("invalid options are reported together, each with its path from the options", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(CircuitBreaker.make("payments", {
        trip: [TripRule.consecutive(0), TripRule.failureRate({ threshold: 2, lastCalls: 5, minimumCalls: 6 })],
        halfOpenProbes: 0,
        openDuration: "soon" as any
      }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), [
        "trip.0.failures",
        "trip.1.threshold",
        "trip.1.minimumCalls",
        "openDuration",
        "halfOpenProbes"
      ])
      assert.include(error.message, "Invalid options: ")
      assert.include(error.message, "halfOpenProbes: Expected an integer of at least 1, got 0")
      assert.include(error.message, "openDuration: Expected a finite, non-negative duration or a Schedule, got \"soon\"")
    }).pipe(Effect.scoped))

  it.effect("validate reports each problem with its path from the options and its message", () =>
    Effect.gen(function*() {
      const issues = (options: unknown) =>
        Effect.map(Effect.flip(CircuitBreaker.validate(options as CircuitBreaker.Options)), (e) =>
          e.issues.map((i) => [i.path.join("."), i.message]))
      assert.deepStrictEqual(yield* issues(JSON.parse("null")), [["", "Expected an object, got null"]])
      assert.deepStrictEqual(yield* issues({ openDuraton: "1 second", trip: [] }), [
        ["openDuraton", "Unknown key \"openDuraton\", did you mean \"openDuration\"?"],
        ["trip", "Expected at least one trip rule"]
      ])
      assert.deepStrictEqual(yield* issues({ trip: [TripRule.consecutive(2), 3], counts: "NetworkError" }), [
        ["trip.1", "Expected a trip rule (TripRule.consecutive, failureRate, slowCallRate), got 3"],
        ["counts", "Expected a predicate or a list of error tags"]
      ])
      assert.deepStrictEqual(yield* issues({ openDuration: Schedule.recurs(0), closeAfter: 1.5 }), [
        ["openDuration", "Expected a Schedule that gives at least one duration"],
        ["closeAfter", "Expected an integer of at least 1, got 1.5"]
      ])
      // a caller that reads the options as part of its own roots the paths there
      const error = yield* Effect.flip(CircuitBreaker.validate({ halfOpenProbes: 0 }))
      assert.strictEqual(
        ConfigError.under(error, ["breakers", "payments"]).message,
        "Invalid options: breakers.payments.halfOpenProbes: Expected an integer of at least 1, got 0"
      )
      // the defaults, and the first open duration (an isolated breaker's hint)
      const config = yield* CircuitBreaker.validate()
      assert.deepStrictEqual(config.rules, [TripRule.consecutive(5)])
      assert.deepStrictEqual([config.halfOpenProbes, config.closeAfter, config.firstOpenMillis], [1, 1, 5000])
      assert.strictEqual((yield* CircuitBreaker.validate({ openDuration: "3 seconds" })).firstOpenMillis, 3000)
    }))

  it.effect("the changes stream ends when the breaker's scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const breaker = yield* CircuitBreaker.make("b").pipe(Scope.provide(scope))
      const fiber = yield* Effect.forkChild(Stream.runCollect(breaker.changes))
      yield* Effect.yieldNow
      yield* breaker.isolate
      yield* Scope.close(scope, Exit.void)
      const collected = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Array.from(collected).map((t) => t.to), ["forced_open"])
    }))

  it.effect("a rate exactly at the threshold trips", () =>
    Effect.gen(function*() {
      // 0.56 * 25 is 14.000000000000002 in floating point: 14 of 25 must still trip
      const breaker = yield* make({ trip: TripRule.failureRate({ threshold: 0.56, lastCalls: 25 }) })
      yield* times(breaker, 11, ok)
      yield* times(breaker, 14, fail)
      assert.strictEqual(yield* status(breaker), "open")
    }).pipe(Effect.scoped))

  it.effect("a wall clock stepped back neither stretches an opening nor blinds a time window", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(10 * 3_600_000)
      const timed = yield* make({
        trip: TripRule.failureRate({ threshold: 0.5, lastDuration: "10 seconds", minimumCalls: 4 }),
        openDuration: "10 seconds"
      })
      yield* TestClock.setTime(9 * 3_600_000) // one hour back
      yield* times(timed, 4, fail)
      const state = yield* timed.state
      assert.strictEqual(state.status, "open", "failures after the step must still count")
      assert.strictEqual(state.retryAfterMillis, 10_000)
      yield* TestClock.setTime(8 * 3_600_000) // another hour back, while open
      yield* TestClock.adjust("10 seconds")
      yield* times(timed, 1, ok)
      assert.strictEqual(yield* status(timed), "closed", "the probe is let through after 10 s of monotonic time")
    }).pipe(Effect.scoped))

  it.effect("entering a manual state it is already in changes nothing; reset always starts afresh", () =>
    Effect.gen(function*() {
      const breaker = yield* make()
      const recorder = yield* recordTransitions(breaker)
      yield* breaker.isolate
      yield* breaker.isolate
      yield* breaker.disable
      yield* breaker.disable
      yield* breaker.reset
      yield* breaker.reset
      assert.deepStrictEqual((yield* recorder.transitions).map((t) => `${t.from}>${t.to}`), [
        "closed>forced_open",
        "forced_open>disabled",
        "disabled>closed",
        "closed>closed"
      ])
    }).pipe(Effect.scoped))

  it.effect("a counts predicate that throws counts the failure, and never leaves a probe slot taken", () =>
    Effect.gen(function*() {
      const breaker = yield* make({
        trip: TripRule.consecutive(1),
        openDuration: "1 second",
        counts: (e) => (e as { response: { status: number } }).response.status >= 500
      })
      const exit = yield* Effect.exit(breaker.execute(fail))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasFails(exit.cause) && !Cause.hasDies(exit.cause))
      assert.strictEqual(yield* status(breaker), "open")
      yield* TestClock.adjust("1 second")
      yield* times(breaker, 1, fail) // the probe: its predicate throws again, so it failed
      const state = yield* breaker.state
      assert.strictEqual(state.status, "open")
      assert.strictEqual(state.probes.running, 0)
    }).pipe(Effect.scoped))

  it.effect("options that would misbehave are rejected up front", () =>
    Effect.gen(function*() {
      const issues = (options: CircuitBreaker.Options) =>
        Effect.map(Effect.flip(CircuitBreaker.make("x", options)), (e) => e.issues.map((i) => i.path.join(".")))
      assert.deepStrictEqual(yield* issues({ openDuration: "-5 seconds" as Duration.Input }), ["openDuration"])
      assert.deepStrictEqual(yield* issues({ openDuration: Number.NaN }), ["openDuration"])
      assert.deepStrictEqual(yield* issues({ openDuration: Schedule.recurs(0) as any }), ["openDuration"])
      assert.deepStrictEqual(
        yield* issues({ trip: TripRule.slowCallRate({ slowerThan: "-1 second" as Duration.Input, threshold: 0.5, lastCalls: 10 }) }),
        ["trip.slowerThan"]
      )
      assert.deepStrictEqual(yield* issues({ trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 2 ** 32 }) }), [
        "trip.lastCalls"
      ])
      assert.deepStrictEqual(
        yield* issues({ trip: TripRule.failureRate({ threshold: 0.5, lastDuration: "1 second", buckets: 5000 }) }),
        ["trip.buckets"]
      )
      assert.deepStrictEqual(yield* issues({ trip: null as any }), ["trip"])
      // a rule written as plain JSON, with a string where a Duration belongs
      assert.deepStrictEqual(
        yield* issues({
          trip: { _tag: "SlowCallRate", slowerThan: "2 seconds", threshold: 0.5, minimumCalls: 5, window: { _tag: "Calls", size: 10 } } as any
        }),
        ["trip.slowerThan"]
      )
    }).pipe(Effect.scoped))
})

describe("CircuitBreaker under interruption at every point", () => {
  // lets a forked fiber run up to its next yield to the scheduler (a macrotask turn, not a sleep)
  const tick = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

  it.live("a probe interrupted at any point gives its slot back", () =>
    Effect.gen(function*() {
      const leaks: Array<number> = []
      for (let k = 0; k < 20; k++) {
        const breaker = yield* CircuitBreaker.make("leak", { trip: TripRule.consecutive(1), openDuration: "0 millis" })
        yield* times(breaker, 1, fail)
        // a tiny op budget makes the fiber yield inside the breaker's own steps, where the interrupt lands
        const fiber = yield* Effect.forkChild(
          breaker.execute(Effect.never).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, 3))
        )
        for (let i = 0; i < k; i++) yield* tick
        yield* Fiber.interrupt(fiber)
        const state = yield* breaker.state
        if (state.probes.running > 0) leaks.push(k)
      }
      assert.deepStrictEqual(leaks, [])
    }).pipe(Effect.scoped))

  // `pad` void steps before the transition put the fiber's yield (every 2 048 steps by default) at each point of
  // the transition in turn
  const padded = (pad: number, effect: Effect.Effect<void>) =>
    Effect.andThen(Effect.forEach(repeat(pad, () => Effect.void), (e) => e, { discard: true }), effect)

  it.live("a committed transition is always published, however its fiber is interrupted", () =>
    Effect.gen(function*() {
      const lost: Array<number> = []
      for (let pad = 2000; pad < 2060; pad++) {
        const breaker = yield* CircuitBreaker.make("pub", { trip: TripRule.consecutive(1) })
        const seen: Array<number> = []
        const watcher = yield* Effect.forkChild(Stream.runForEach(breaker.changes, (t) => Effect.sync(() => seen.push(t.generation))))
        yield* tick
        const fiber = yield* Effect.forkChild(padded(pad, breaker.isolate))
        yield* tick
        yield* Fiber.interrupt(fiber)
        for (let i = 0; i < 5; i++) yield* tick
        const state = yield* breaker.state
        yield* Fiber.interrupt(watcher)
        if (seen.length !== state.generation) lost.push(pad)
      }
      assert.deepStrictEqual(lost, [])
    }).pipe(Effect.scoped))

  it.live("transitions are published in generation order when their fibers pause in between", () =>
    Effect.gen(function*() {
      const disorder: Array<string> = []
      for (let pad = 1990; pad < 2040; pad++) {
        const breaker = yield* CircuitBreaker.make("order", { trip: TripRule.consecutive(1) })
        const seen: Array<number> = []
        const watcher = yield* Effect.forkChild(Stream.runForEach(breaker.changes, (t) => Effect.sync(() => seen.push(t.generation))))
        yield* tick
        const first = yield* Effect.forkChild(padded(pad, breaker.isolate))
        const second = yield* Effect.forkChild(Effect.gen(function*() {
          while ((yield* breaker.state).generation === 0) yield* Effect.yieldNow
          yield* breaker.forceClosed
        }))
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        for (let i = 0; i < 5; i++) yield* tick
        yield* Fiber.interrupt(watcher)
        if (seen.join() !== "1,2") disorder.push(`pad ${pad}: ${seen.join()}`)
      }
      assert.deepStrictEqual(disorder, [])
    }).pipe(Effect.scoped))
})
