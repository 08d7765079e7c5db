/**
 * A testing kit for the resilience of your own code: a scripted or seeded flaky dependency that records every
 * call and when it was made, recorders and assertions for what a circuit breaker did, and a driver that advances
 * effect's `TestClock` until an effect is done, so a test of retries, breakers or bulkheads needs no
 * `TestClock.adjust` bookkeeping.
 *
 * Import it from `@effect-resilience/core/testing`; it is not part of the main entry point.
 *
 * - {@link Flaky}: `Flaky.script([...])` replays successes, typed failures, defects, interruptions and latencies in
 *   order; `Flaky.seeded({ seed, ... })` draws them from a seeded distribution, the same on every run.
 * - {@link delaysOf}: the delays between the recorded calls (under `TestClock`, exact to the millisecond).
 * - {@link recordTransitions}, {@link expectStatuses}, {@link expectState}: a breaker's transitions, in order, and
 *   its state and call counts.
 * - {@link advanceUntilDone}: runs an effect and moves the `TestClock` from one of its sleeps to the next until it
 *   is done, or dies with a {@link TestingError} saying why it never finished.
 *
 * **Details**
 *
 * Everything here reads time through `Clock` and sleeps through `Effect.sleep`, so under `TestClock` (which
 * `it.effect` of `@effect/vitest` provides) a 30-second latency or open duration takes no real time. The
 * assertions die with a {@link TestingError} whose message says what was expected and what happened: like a failed
 * `assert`, it is a defect, so it fails the test without entering the error channel under test (an effect run by
 * {@link advanceUntilDone} keeps exactly its own error type).
 *
 * @since 0.6.0
 */
import type { Scope } from "effect"
import { Clock, Data, Duration, Effect, Fiber, Random, Stream } from "effect"
import * as BreakerRegistry from "./BreakerRegistry.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"

// ---------------------------------------------------------------------------------------------------------------
// a flaky dependency
// ---------------------------------------------------------------------------------------------------------------

/**
 * What one call of a {@link Flaky} dependency does: succeed with a value, fail with a typed error, die with a
 * defect, or interrupt itself, each after an optional `latency` (slept with `Effect.sleep`, so `TestClock` drives
 * it). Build steps with `Flaky.succeed`, `Flaky.fail`, `Flaky.die`, `Flaky.interrupt` and `Flaky.slow`.
 *
 * **Example**
 *
 * ```ts
 * import { Data } from "effect"
 * import { Flaky, type Step } from "@effect-resilience/core/testing"
 *
 * class Timeout extends Data.TaggedError("Timeout")<{}> {}
 *
 * const steps: ReadonlyArray<Step<string, Timeout>> = [
 *   Flaky.fail(new Timeout()),
 *   Flaky.slow("2 seconds", Flaky.succeed("ok"))
 * ]
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export type Step<A, E> =
  | { readonly _tag: "Succeed"; readonly value: A; readonly latency?: Duration.Duration }
  | { readonly _tag: "Fail"; readonly error: E; readonly latency?: Duration.Duration }
  | { readonly _tag: "Die"; readonly defect: unknown; readonly latency?: Duration.Duration }
  | { readonly _tag: "Interrupt"; readonly latency?: Duration.Duration }

/**
 * One recorded call of a {@link Flaky} dependency: its number (`index`, from 0), the `Clock` time it started at
 * (`at`, in milliseconds) and the {@link Step} it got. Under `TestClock`, `at` is exact, so the delays a retry
 * policy put between attempts can be compared with `===` (see {@link delaysOf}).
 *
 * **Example**
 *
 * ```ts
 * import type { Call } from "@effect-resilience/core/testing"
 *
 * const failedAt = (calls: ReadonlyArray<Call<unknown, unknown>>) =>
 *   calls.filter((call) => call.step._tag === "Fail").map((call) => call.at)
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Call<A, E> {
  readonly index: number
  readonly at: number
  readonly step: Step<A, E>
}

/**
 * A fake dependency: `effect` is one call (run it once per attempt, as you would run the real dependency), and
 * `calls` lists every call made so far, in order (a copy, read at any time).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Flaky } from "@effect-resilience/core/testing"
 *
 * const flaky = Flaky.script([Flaky.fail("busy"), Flaky.succeed(42)])
 *
 * const program = Effect.gen(function*() {
 *   const value = yield* flaky.effect.pipe(Effect.retry(Schedule.recurs(1)))
 *   return [value, flaky.calls.length] // [42, 2]
 * })
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Flaky<A, E> {
  readonly effect: Effect.Effect<A, E>
  readonly calls: ReadonlyArray<Call<A, E>>
}

/**
 * Options of `Flaky.script`: once every step has been used, `cycle: true` starts the script again from its first
 * step; by default the last step is repeated for every further call.
 *
 * **Example**
 *
 * ```ts
 * import { Flaky } from "@effect-resilience/core/testing"
 *
 * // fails every third call, forever
 * const everyThird = Flaky.script([Flaky.succeed(1), Flaky.succeed(2), Flaky.fail("third")], { cycle: true })
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface ScriptOptions {
  readonly cycle?: boolean | undefined
}

/**
 * Options of `Flaky.seeded`: each call fails with a typed error (one of `failure`, each at its own rate), dies
 * (`defect`), interrupts itself (`interrupt`), or succeeds with `success`; independently, `latency` delays it (at
 * `rate`, 1 by default) by a fixed `duration` or by a whole number of milliseconds drawn between `min` and `max`,
 * both included.
 *
 * The rates are probabilities from 0 to 1; those of the outcomes must add up to 1 at most (the rest is the rate of
 * success).
 *
 * **Example**
 *
 * ```ts
 * import { Data } from "effect"
 * import { type SeededOptions, Flaky } from "@effect-resilience/core/testing"
 *
 * class Refused extends Data.TaggedError("Refused")<{}> {}
 *
 * const options: SeededOptions<string, Refused> = {
 *   seed: "checkout",
 *   success: "paid",
 *   failure: { rate: 0.1, error: new Refused() },
 *   latency: { duration: "200 millis" } // every call
 * }
 * const payments = Flaky.seeded(options)
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface SeededOptions<A, E> {
  readonly seed: string | number
  readonly success: A
  readonly failure?: SeededFailure<E> | ReadonlyArray<SeededFailure<E>> | undefined
  readonly defect?: { readonly rate: number; readonly defect?: unknown } | undefined
  readonly interrupt?: { readonly rate: number } | undefined
  readonly latency?:
    | { readonly rate?: number | undefined; readonly duration: Duration.Input }
    | { readonly rate?: number | undefined; readonly min: Duration.Input; readonly max: Duration.Input }
    | undefined
}

/**
 * One kind of typed failure of `Flaky.seeded`: the error, and the probability that a call fails with it.
 *
 * **Example**
 *
 * ```ts
 * import { Data } from "effect"
 * import { type SeededFailure, Flaky } from "@effect-resilience/core/testing"
 *
 * class Timeout extends Data.TaggedError("Timeout")<{}> {}
 * class Refused extends Data.TaggedError("Refused")<{}> {}
 *
 * const failures: ReadonlyArray<SeededFailure<Timeout | Refused>> = [
 *   { rate: 0.05, error: new Timeout() },
 *   { rate: 0.1, error: new Refused() }
 * ]
 * // Flaky<string, Timeout | Refused>
 * const flaky = Flaky.seeded({ seed: 1, success: "ok", failure: failures })
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface SeededFailure<E> {
  readonly rate: number
  readonly error: E
}

/** The success type of a script's steps. */
type SuccessOf<S> = S extends { readonly _tag: "Succeed"; readonly value: infer A } ? A : never

/** The error type of a script's steps. */
type ErrorOf<S> = S extends { readonly _tag: "Fail"; readonly error: infer E } ? E : never

const succeed = <A>(value: A): Step<A, never> => ({ _tag: "Succeed", value })

const fail = <E>(error: E): Step<never, E> => ({ _tag: "Fail", error })

const die = (defect: unknown): Step<never, never> => ({ _tag: "Die", defect })

const interrupt: Step<never, never> = { _tag: "Interrupt" }

const slow = <A, E>(latency: Duration.Input, step: Step<A, E>): Step<A, E> => ({
  ...step,
  latency: Duration.fromInputUnsafe(latency)
})

const script = <Steps extends ReadonlyArray<Step<unknown, unknown>>>(
  steps: Steps,
  options: ScriptOptions = {}
): Flaky<SuccessOf<Steps[number]>, ErrorOf<Steps[number]>> => {
  if (steps.length === 0) throw new RangeError("Flaky.script: the script needs at least one step")
  const all = steps.slice() as ReadonlyArray<Step<SuccessOf<Steps[number]>, ErrorOf<Steps[number]>>>
  const last = all.length - 1
  return makeFlaky((index) => all[options.cycle === true ? index % all.length : Math.min(index, last)]!)
}

const seeded = <A, E = never>(options: SeededOptions<A, E>): Flaky<A, E> => {
  const failures = options.failure === undefined
    ? []
    : Array.isArray(options.failure)
    ? options.failure as ReadonlyArray<SeededFailure<E>>
    : [options.failure as SeededFailure<E>]
  // the outcomes as bands of [0, 1): each failure in order, then the defect, then the interruption
  const bands: Array<{ readonly upTo: number; readonly step: Step<A, E> }> = []
  let total = 0
  const band = (what: string, rate: number, step: Step<A, E>) => {
    checkRate(what, rate)
    total += rate
    bands.push({ upTo: total, step })
  }
  failures.forEach((failure, i) => band(`failure[${i}].rate`, failure.rate, fail(failure.error)))
  if (options.defect !== undefined) {
    band(
      "defect.rate",
      options.defect.rate,
      die("defect" in options.defect ? options.defect.defect : new Error("Flaky.seeded: injected defect"))
    )
  }
  if (options.interrupt !== undefined) band("interrupt.rate", options.interrupt.rate, interrupt)
  if (total > 1 + 1e-9) throw new RangeError(`Flaky.seeded: the outcome rates add up to ${total}, more than 1`)
  const ok = succeed(options.success)

  const latency = options.latency
  const latencyRate = latency?.rate ?? 1
  if (latency !== undefined) checkRate("latency.rate", latencyRate)
  const [minMillis, maxMillis] = latency === undefined
    ? [0, 0]
    : "duration" in latency
    ? [millisOf(latency.duration), millisOf(latency.duration)]
    : [millisOf(latency.min), millisOf(latency.max)]
  if (maxMillis < minMillis) throw new RangeError("Flaky.seeded: latency.max is shorter than latency.min")

  const random = Effect.runSync(Random.withSeed(Effect.gen(function*() {
    return yield* Random.Random
  }), options.seed))
  return makeFlaky((): Step<A, E> => {
    // three draws per call whatever the options, so call n's step depends only on the seed and n
    const outcome = random.nextDoubleUnsafe()
    const delayed = random.nextDoubleUnsafe() < latencyRate
    const length = minMillis + Math.floor(random.nextDoubleUnsafe() * (maxMillis - minMillis + 1))
    const step = bands.find((b) => outcome < b.upTo)?.step ?? ok
    return latency !== undefined && delayed && length > 0 ? slow(Duration.millis(length), step) : step
  })
}

const checkRate = (what: string, rate: number) => {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`Flaky.seeded: ${what} must be from 0 to 1, got ${rate}`)
}

const millisOf = (input: Duration.Input) => {
  const millis = Duration.toMillis(Duration.fromInputUnsafe(input))
  if (!Number.isFinite(millis)) throw new RangeError("Flaky.seeded: a latency must be finite")
  return Math.round(millis)
}

const makeFlaky = <A, E>(next: (index: number) => Step<A, E>): Flaky<A, E> => {
  const calls: Array<Call<A, E>> = []
  const effect = Effect.flatMap(Clock.currentTimeMillis, (at) => {
    const index = calls.length
    const step = next(index)
    calls.push({ index, at, step })
    const outcome: Effect.Effect<A, E> = step._tag === "Succeed"
      ? Effect.succeed(step.value)
      : step._tag === "Fail"
      ? Effect.fail(step.error)
      : step._tag === "Die"
      ? Effect.die(step.defect)
      : Effect.interrupt
    return step.latency === undefined ? outcome : Effect.andThen(Effect.sleep(step.latency), outcome)
  })
  return {
    effect,
    get calls() {
      return calls.slice()
    }
  }
}

/**
 * Fake dependencies, and the steps they are made of.
 *
 * - `Flaky.script(steps, options?)` replays `steps` call after call, then repeats the last step (or, with
 *   `{ cycle: true }`, starts again). Its error type is the union of the errors of its `Flaky.fail` steps, and its
 *   success type that of its `Flaky.succeed` steps.
 * - `Flaky.seeded(options)` draws each call's step from a distribution (see {@link SeededOptions}) with effect's
 *   `Random` seeded by `options.seed`: the same seed gives the same steps in the same order on every run, whatever
 *   else in the program uses `Random`. For errors of different types, give the types:
 *   `Flaky.seeded<string, Timeout | Refused>({ ... })`.
 * - `Flaky.succeed(value)`, `Flaky.fail(error)`, `Flaky.die(defect)` and `Flaky.interrupt` are the steps;
 *   `Flaky.slow(duration, step)` delays one (an infinite duration makes a call that never ends).
 *
 * **Gotchas**
 *
 * - A `Flaky` keeps its calls: build a fresh one for each test.
 * - `Flaky.script([])` throws a `RangeError`, as do `Flaky.seeded` rates outside 0 to 1 or adding up to more
 *   than 1: these are mistakes in the test, reported where it builds the dependency.
 * - `Flaky.seeded` makes three draws per call whatever the options, so adding a latency does not change which
 *   calls fail.
 *
 * **Example** (A script)
 *
 * ```ts
 * import { Data, Effect, Schedule } from "effect"
 * import { Flaky, advanceUntilDone, delaysOf } from "@effect-resilience/core/testing"
 *
 * class Unavailable extends Data.TaggedError("Unavailable")<{}> {}
 *
 * // Flaky<string, Unavailable>
 * const inventory = Flaky.script([
 *   Flaky.fail(new Unavailable()),
 *   Flaky.slow("300 millis", Flaky.fail(new Unavailable())),
 *   Flaky.succeed("in stock")
 * ])
 *
 * const test = Effect.gen(function*() {
 *   const answer = yield* advanceUntilDone(inventory.effect.pipe(Effect.retry(Schedule.spaced("1 second"))))
 *   // answer === "in stock"; the second attempt came 1 s after the first, the third 1.3 s after the second
 *   return [answer, delaysOf(inventory.calls)] // ["in stock", [1000, 1300]]
 * })
 * ```
 *
 * **Example** (A seeded distribution)
 *
 * ```ts
 * import { Data } from "effect"
 * import { Flaky } from "@effect-resilience/core/testing"
 *
 * class Refused extends Data.TaggedError("Refused")<{}> {}
 *
 * // 20% refused, 1% defects, 10% of the calls 50 to 250 ms slower: the same calls on every run of seed 7
 * const payments = Flaky.seeded({
 *   seed: 7,
 *   success: "paid",
 *   failure: { rate: 0.2, error: new Refused() },
 *   defect: { rate: 0.01 },
 *   latency: { rate: 0.1, min: "50 millis", max: "250 millis" }
 * })
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const Flaky: {
  readonly script: <Steps extends ReadonlyArray<Step<unknown, unknown>>>(
    steps: Steps,
    options?: ScriptOptions
  ) => Flaky<SuccessOf<Steps[number]>, ErrorOf<Steps[number]>>
  readonly seeded: <A, E = never>(options: SeededOptions<A, E>) => Flaky<A, E>
  readonly succeed: <A>(value: A) => Step<A, never>
  readonly fail: <E>(error: E) => Step<never, E>
  readonly die: (defect: unknown) => Step<never, never>
  readonly interrupt: Step<never, never>
  readonly slow: <A, E>(latency: Duration.Input, step: Step<A, E>) => Step<A, E>
} = { script, seeded, succeed, fail, die, interrupt, slow }

/**
 * The delays between consecutive calls: `calls[i + 1].at - calls[i].at`, so one fewer than the calls. With a
 * {@link Flaky} behind a retry policy, under `TestClock`, these are the policy's delays exactly (plus the latency
 * of each failed attempt).
 *
 * **Example**
 *
 * ```ts
 * import { delaysOf } from "@effect-resilience/core/testing"
 *
 * delaysOf([{ at: 0 }, { at: 100 }, { at: 300 }]) // [100, 200]
 * ```
 *
 * @since 0.6.0
 * @category utils
 */
export const delaysOf = (calls: ReadonlyArray<{ readonly at: number }>): ReadonlyArray<number> =>
  calls.slice(1).map((call, i) => call.at - calls[i]!.at)

// ---------------------------------------------------------------------------------------------------------------
// breakers
// ---------------------------------------------------------------------------------------------------------------

/**
 * What {@link recordTransitions} records for one breaker.
 *
 * - `transitions`: the breaker's transitions since the recorder was made, in order.
 * - `statuses`: the path they took: the status the breaker was in when recording began, then the `to` of each
 *   transition (`["closed", "open", "half_open", "closed"]`).
 *
 * Both wait (by yielding, never by sleeping) until the recorder has caught up with the breaker's latest
 * transition, so they can be read right after the call that caused one.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import type { TransitionRecorder } from "@effect-resilience/core/testing"
 *
 * const reasons = (recorder: TransitionRecorder) =>
 *   Effect.map(recorder.transitions, (transitions) => transitions.map((t) => t.reason))
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface TransitionRecorder {
  readonly breaker: string
  readonly transitions: Effect.Effect<ReadonlyArray<CircuitBreaker.Transition>>
  readonly statuses: Effect.Effect<ReadonlyArray<CircuitBreaker.Status>>
}

/**
 * Starts recording the transitions of a breaker: given a name, the breaker of that name in the `BreakerRegistry`
 * (its `changes` stream, filtered by name), or a breaker itself. Recording begins before this returns and lasts
 * until the scope closes (in `it.effect`, the end of the test).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry, TripRule } from "@effect-resilience/core"
 * import { expectStatuses, recordTransitions } from "@effect-resilience/core/testing"
 *
 * const test = Effect.gen(function*() {
 *   const recorder = yield* recordTransitions("payments")
 *   const payments = yield* BreakerRegistry.breaker("payments")
 *   yield* Effect.exit(payments.execute(Effect.fail("refused")))
 *   yield* expectStatuses(recorder, ["closed", "open"])
 * }).pipe(
 *   Effect.scoped,
 *   Effect.provide(BreakerRegistry.layer({ default: { trip: TripRule.consecutive(1) } }))
 * )
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export function recordTransitions(
  breaker: CircuitBreaker.CircuitBreaker
): Effect.Effect<TransitionRecorder, never, Scope.Scope>
export function recordTransitions(
  name: string
): Effect.Effect<TransitionRecorder, never, Scope.Scope | BreakerRegistry.BreakerRegistry>
export function recordTransitions(
  breakerOrName: CircuitBreaker.CircuitBreaker | string
): Effect.Effect<TransitionRecorder, never, Scope.Scope | BreakerRegistry.BreakerRegistry> {
  return Effect.gen(function*() {
    const breaker = typeof breakerOrName === "string"
      ? yield* BreakerRegistry.breaker(breakerOrName)
      : breakerOrName
    const seen: Array<CircuitBreaker.Transition> = []
    // started at once, the recording fiber subscribes before this returns: no later transition is missed
    yield* Effect.forkScoped(
      Stream.runForEach(breaker.changes, (transition) => Effect.sync(() => seen.push(transition))),
      { startImmediately: true }
    )
    const initial = yield* breaker.state
    // the breaker's generation counts its transitions: wait until the recorder has seen the latest one
    const caughtUp = Effect.gen(function*() {
      for (let i = 0; i < 1_000; i++) {
        const { generation } = yield* breaker.state
        if ((seen.at(-1)?.generation ?? initial.generation) >= generation) return
        yield* Effect.yieldNow
      }
    })
    return {
      breaker: breaker.name,
      transitions: Effect.map(caughtUp, () => seen.slice()),
      statuses: Effect.map(caughtUp, () => [seen[0]?.from ?? initial.status, ...seen.map((t) => t.to)])
    } satisfies TransitionRecorder
  })
}

/**
 * Checks that a breaker went through these statuses, in this order and no others, since its recorder was made:
 * `["closed", "open", "half_open", "closed"]` for a breaker that opened, let a probe through and closed again.
 * Dies with a {@link TestingError} naming the breaker, the path expected and the path taken.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import type { TransitionRecorder } from "@effect-resilience/core/testing"
 * import { expectStatuses } from "@effect-resilience/core/testing"
 *
 * declare const recorder: TransitionRecorder
 *
 * // dies with: breaker "payments" went closed → open, expected closed → open → half_open → closed
 * const check: Effect.Effect<void> = expectStatuses(recorder, ["closed", "open", "half_open", "closed"])
 * ```
 *
 * @since 0.6.0
 * @category assertions
 */
export const expectStatuses = (
  recorder: TransitionRecorder,
  expected: ReadonlyArray<CircuitBreaker.Status>
): Effect.Effect<void> =>
  Effect.flatMap(recorder.statuses, (actual) =>
    actual.length === expected.length && actual.every((status, i) => status === expected[i])
      ? Effect.void
      : Effect.die(
        new TestingError({
          reason: "Mismatch",
          message: `breaker ${JSON.stringify(recorder.breaker)} went ${path(actual)}, expected ${path(expected)}`,
          expected,
          actual
        })
      ))

const path = (statuses: ReadonlyArray<string>) => statuses.length === 0 ? "nowhere" : statuses.join(" → ")

/**
 * The parts of a breaker's state that {@link expectState} checks: each one given is compared, the others are
 * not. `calls` may give only some of the counts.
 *
 * **Example**
 *
 * ```ts
 * import type { ExpectedState } from "@effect-resilience/core/testing"
 *
 * const trippedOnce: ExpectedState = { status: "open", openings: 1, calls: { failure: 5 } }
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface ExpectedState {
  readonly status?: CircuitBreaker.Status | undefined
  readonly openings?: number | undefined
  readonly calls?: Partial<CircuitBreaker.Calls> | undefined
}

/**
 * Checks a breaker's current state (given by name, from the `BreakerRegistry`, or the breaker itself): its
 * status, consecutive openings and call counts, those given. Dies with a {@link TestingError} listing every
 * difference (`breaker "payments": status is open, expected closed; calls.failure is 3, expected 2`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry, TripRule } from "@effect-resilience/core"
 * import { expectState } from "@effect-resilience/core/testing"
 *
 * const test = Effect.gen(function*() {
 *   const payments = yield* BreakerRegistry.breaker("payments")
 *   yield* Effect.exit(payments.execute(Effect.fail("refused")))
 *   yield* Effect.exit(payments.execute(Effect.succeed("paid"))) // rejected: the breaker is open
 *   yield* expectState("payments", { status: "open", openings: 1, calls: { failure: 1, rejected: 1 } })
 * }).pipe(Effect.provide(BreakerRegistry.layer({ default: { trip: TripRule.consecutive(1) } })))
 * ```
 *
 * @since 0.6.0
 * @category assertions
 */
export function expectState(
  breaker: CircuitBreaker.CircuitBreaker,
  expected: ExpectedState
): Effect.Effect<void>
export function expectState(
  name: string,
  expected: ExpectedState
): Effect.Effect<void, never, BreakerRegistry.BreakerRegistry>
export function expectState(
  breakerOrName: CircuitBreaker.CircuitBreaker | string,
  expected: ExpectedState
): Effect.Effect<void, never, BreakerRegistry.BreakerRegistry> {
  return Effect.gen(function*() {
    const breaker = typeof breakerOrName === "string"
      ? yield* BreakerRegistry.breaker(breakerOrName)
      : breakerOrName
    const state = yield* breaker.state
    const differences: Array<string> = []
    const compare = (what: string, actual: unknown, wanted: unknown) => {
      if (wanted !== undefined && actual !== wanted) differences.push(`${what} is ${actual}, expected ${wanted}`)
    }
    compare("status", state.status, expected.status)
    compare("openings", state.openings, expected.openings)
    for (const [key, wanted] of Object.entries(expected.calls ?? {})) {
      compare(`calls.${key}`, state.calls[key as keyof CircuitBreaker.Calls], wanted)
    }
    if (differences.length > 0) {
      return yield* Effect.die(new TestingError({
        reason: "Mismatch",
        message: `breaker ${JSON.stringify(breaker.name)}: ${differences.join("; ")}`,
        expected,
        actual: { status: state.status, openings: state.openings, calls: state.calls }
      }))
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// TestClock
// ---------------------------------------------------------------------------------------------------------------

/**
 * Bounds of {@link advanceUntilDone}:
 *
 * - `maxTime`: the most test time it lets pass (1 hour by default).
 * - `maxSteps`: the most times it moves the clock (10 000 by default).
 * - `step`: how far it moves the clock when the effect waits on no sleep of its own (on a fiber it did not fork,
 *   say): 1 second by default.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { type AdvanceOptions, advanceUntilDone } from "@effect-resilience/core/testing"
 *
 * const bounds: AdvanceOptions = { maxTime: "10 minutes", maxSteps: 500, step: "100 millis" }
 * const waited = advanceUntilDone(Effect.sleep("5 minutes"), bounds)
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface AdvanceOptions {
  readonly maxTime?: Duration.Input | undefined
  readonly maxSteps?: number | undefined
  readonly step?: Duration.Input | undefined
}

/**
 * Runs an effect in a child fiber and advances the `TestClock` until it is done, then gives its result (its
 * success, its failure or its defect, as if it had been run directly). The clock is moved straight to the end of
 * the effect's next sleep (its own, and those of the fibers it forks), so the clock reads, when it returns, the
 * time the effect finished, and every delay in between is exact.
 *
 * **When to use**
 *
 * Testing anything that waits: retries with backoff, a breaker's open duration, a timeout, calls queued at a
 * bulkhead (run them together: `advanceUntilDone(Effect.all(calls, { concurrency: "unbounded" }))`).
 *
 * **Details**
 *
 * When the effect waits on no sleep of its own (on a `Deferred`, a queue, or a fiber it did not fork), the clock
 * is moved on by `step`, for fibers outside it that sleep. If the effect is still running after `maxTime` of
 * test time or `maxSteps` moves of the clock, it is interrupted and `advanceUntilDone` dies with a
 * {@link TestingError} (`reason: "StillRunning"`) that says how long it waited and on what. Without a `TestClock`
 * (under `it.live`, or in production), it dies at once with `reason: "NoTestClock"`. Its error type is the
 * effect's own: these are defects, as a failed `assert` would be. It is interrupted in the background, so a
 * finalizer of its that sleeps does not hang the test.
 *
 * **Gotchas**
 *
 * Before each move of the clock the effect's fibers run until they wait, and one turn of the event loop passes;
 * but an effect waiting on real I/O (a promise that resolves later, a file, the network) cannot be told from one
 * that waits on the clock, so the clock moves on meanwhile: a timeout around real I/O can then fire in test time.
 * Use it for effects that wait only on the `Clock` (fakes such as `Flaky`), as TestClock itself asks.
 *
 * **Example**
 *
 * ```ts
 * import { Data, Effect, Schedule } from "effect"
 * import { Flaky, advanceUntilDone, delaysOf } from "@effect-resilience/core/testing"
 *
 * class Busy extends Data.TaggedError("Busy")<{}> {}
 *
 * const test = Effect.gen(function*() {
 *   const flaky = Flaky.script([Flaky.fail(new Busy()), Flaky.fail(new Busy()), Flaky.succeed("ok")])
 *   const policy = Schedule.exponential("100 millis").pipe(Schedule.upTo({ times: 5 }))
 *   const result = yield* advanceUntilDone(flaky.effect.pipe(Effect.retry(policy)))
 *   return [result, delaysOf(flaky.calls)] // ["ok", [100, 200]]
 * })
 * ```
 *
 * @since 0.6.0
 * @category testing
 */
export const advanceUntilDone = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: AdvanceOptions = {}
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    if (!isTestClock(clock)) {
      return yield* Effect.die(
        new TestingError({
          reason: "NoTestClock",
          message: "advanceUntilDone needs a TestClock (it.effect provides one; it.live does not)"
        })
      )
    }
    const maxMillis = Duration.toMillis(Duration.fromInputUnsafe(options.maxTime ?? "1 hour"))
    const maxSteps = options.maxSteps ?? 10_000
    const stepMillis = Math.max(1, Duration.toMillis(Duration.fromInputUnsafe(options.step ?? "1 second")))

    // the ends of the sleeps the effect (and the fibers it forks) is in, so the clock can jump to the next one
    const ends: Array<number> = []
    const tracked: Clock.Clock = Object.assign(Object.create(clock) as TestClockLike, {
      sleep: (duration: Duration.Duration) =>
        Effect.suspend(() => {
          const millis = Duration.toMillis(duration)
          if (!(millis > 0 && Number.isFinite(millis))) return clock.sleep(duration)
          const end = clock.currentTimeMillisUnsafe() + millis
          ends.push(end)
          return Effect.ensuring(
            clock.sleep(duration),
            Effect.sync(() => ends.splice(ends.indexOf(end), 1))
          )
        })
    })
    const fiber = yield* Effect.forkChild(Effect.provideService(effect, Clock.Clock, tracked))
    const start = clock.currentTimeMillisUnsafe()
    const limit = start + maxMillis

    // the effect's fibers run until they wait: a few scheduler turns, then a turn of the event loop (a 1 ms sleep
    // on the live Clock: promises already resolved, pending callbacks), then a few more
    const turns = Effect.gen(function*() {
      for (let i = 0; i < 10 && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    })
    const settle = Effect.andThen(
      turns,
      Effect.suspend(() =>
        fiber.pollUnsafe() !== undefined
          ? Effect.void
          : Effect.andThen((clock as TestClockLike).withLive(Effect.sleep(1)), turns)
      )
    )
    // the effect is interrupted in the background: a finalizer of its that sleeps must not hang the test (nothing
    // moves the clock any more), so the error is raised at once
    const giveUp = (why: string) =>
      Effect.andThen(
        Effect.sync(() => fiber.interruptUnsafe()),
        Effect.die(
          new TestingError({
            reason: "StillRunning",
            message: `advanceUntilDone: the effect was still running after ${
              Duration.format(Duration.millis(clock.currentTimeMillisUnsafe() - start))
            } of test time and ${moves} moves of the clock: ${why}`
          })
        )
      )

    let moves = 0
    while (true) {
      yield* settle
      if (fiber.pollUnsafe() !== undefined) return yield* Fiber.join(fiber)
      const now = clock.currentTimeMillisUnsafe()
      let next: number | undefined
      for (const end of ends) if (next === undefined || end < next) next = end
      if (moves >= maxSteps) {
        return yield* giveUp(`maxSteps (${maxSteps}) reached`)
      }
      if (next !== undefined && next <= limit) {
        yield* clock.setTime(Math.max(next, now))
      } else if (next !== undefined && now < limit) {
        // its next sleep ends past maxTime: to the limit at once, where it gives up
        yield* clock.setTime(limit)
      } else if (now >= limit) {
        return yield* giveUp(
          next !== undefined
            ? `its next sleep ends ${Duration.format(Duration.millis(next - start))} in, past maxTime`
            : "it waits on no sleep of its own (a Deferred, a queue, Effect.never, or a fiber it did not fork?)"
        )
      } else {
        yield* clock.adjust(Math.min(stepMillis, limit - now))
      }
      moves++
    }
  })

interface TestClockLike extends Clock.Clock {
  readonly adjust: (duration: Duration.Input) => Effect.Effect<void>
  readonly setTime: (timestamp: number) => Effect.Effect<void>
  readonly withLive: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

const isTestClock = (clock: Clock.Clock): clock is TestClockLike =>
  typeof (clock as Partial<TestClockLike>).adjust === "function" &&
  typeof (clock as Partial<TestClockLike>).setTime === "function"

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The kit's one error, raised as a defect (as a failed `assert` is): an assertion that did not hold
 * (`reason: "Mismatch"`, with the `expected` and `actual` values, which vitest shows as a diff), an effect
 * {@link advanceUntilDone} gave up on (`"StillRunning"`), or {@link advanceUntilDone} run without a `TestClock`
 * (`"NoTestClock"`). Its `message` says what happened.
 *
 * **Example**
 *
 * ```ts
 * import { Cause, Effect, Exit } from "effect"
 * import { TestingError, advanceUntilDone } from "@effect-resilience/core/testing"
 *
 * // a test that an effect never finishes: it dies with reason "StillRunning" after a minute of test time
 * const hangs = Effect.exit(advanceUntilDone(Effect.never, { maxTime: "1 minute" })).pipe(
 *   Effect.map((exit) => {
 *     const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
 *     return error instanceof TestingError && error.reason === "StillRunning"
 *   })
 * )
 * ```
 *
 * @since 0.6.0
 * @category errors
 */
export class TestingError extends Data.TaggedError("TestingError")<{
  readonly reason: "Mismatch" | "StillRunning" | "NoTestClock"
  readonly message: string
  readonly expected?: unknown
  readonly actual?: unknown
}> {}
