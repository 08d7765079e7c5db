import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, References, Schedule, Tracer } from "effect"
import { TestClock } from "effect/testing"
import { Bulkhead, CircuitBreaker, CommonErrors, RateLimiter, TripRule } from "../src/index.js"
import { prng, repeat } from "./utils.js"

const network = () => new CommonErrors.NetworkError({ target: "dependency" })
const business = () => new CommonErrors.NotFoundError({ resource: "item" })

describe("CircuitBreaker outcomes", () => {
  // Calls interrupted from outside (a timeout or a race around the breaker, a caller going away) count as
  // `ignored`, like a call that interrupts itself, whatever the trip rules: the counts add up to the calls made.
  const cases: ReadonlyArray<readonly [string, CircuitBreaker.Options]> = [
    ["count-based rules (the default)", {}],
    ["a count-based failure rate", { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 20, minimumCalls: 5 }) }],
    ["a time-window rule", {
      trip: TripRule.failureRate({ threshold: 0.5, lastDuration: "1 second", minimumCalls: 10 })
    }],
    ["a slow-call rule", {
      trip: [
        TripRule.consecutive(4),
        TripRule.slowCallRate({ slowerThan: "300 millis", threshold: 0.8, lastCalls: 10 })
      ]
    }]
  ]
  for (const [label, options] of cases) {
    for (const seed of [1, 2, 3]) {
      it.effect(`with ${label} (seed ${seed}), interrupted calls are counted and the counts add up`, () =>
        Effect.gen(function*() {
          const random = prng(seed)
          const breaker = yield* CircuitBreaker.make("outcomes", {
            ...options,
            openDuration: Schedule.min([Schedule.exponential("50 millis"), Schedule.spaced("500 millis")]),
            halfOpenProbes: 2
          })
          // what the calls saw, by the outcome the breaker should record
          const seen = { success: 0, failure: 0, ignored: 0, rejected: 0, interrupted: 0 }
          let made = 0

          // latencies are even and interruptions land on odd milliseconds, so no call ends as it is interrupted;
          // during two outages every call that completes fails
          type Failure = CommonErrors.NetworkError | CommonErrors.NotFoundError
          const body = (outcome: number, latency: number) =>
            Effect.andThen(
              Effect.sleep(latency),
              Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<string, Failure> =>
                (now >= 2000 && now < 3000) || (now >= 6000 && now < 7000) || (outcome >= 0.7 && outcome < 0.82)
                  ? Effect.fail(network())
                  : outcome < 0.7
                  ? Effect.succeed("ok")
                  : outcome < 0.87
                  ? Effect.die("defect")
                  : Effect.fail(business()))
            )

          // what the breaker should record for a call, read from its exit
          const outcomeOf = (exit: Exit.Exit<unknown, unknown>): keyof typeof seen => {
            if (Exit.isSuccess(exit)) return "success"
            if (Cause.hasInterruptsOnly(exit.cause)) return "interrupted"
            if (Cause.hasDies(exit.cause)) return "failure"
            const error = Cause.findErrorOption(exit.cause)
            if (error._tag === "None") return "failure"
            if (Cause.isTimeoutError(error.value)) return "interrupted"
            if (error.value instanceof CircuitBreaker.BreakerOpenError) return "rejected"
            return error.value instanceof CommonErrors.NotFoundError ? "ignored" : "failure"
          }

          const call = (step: { outcome: number; latency: number; cut: number; how: number }) =>
            Effect.gen(function*() {
              made++
              const guarded = breaker.execute(body(step.outcome, step.latency))
              let exit: Exit.Exit<unknown, unknown>
              if (step.how < 0.3) {
                // a timeout around the breaker
                exit = yield* Effect.exit(Effect.timeout(guarded, step.cut))
              } else if (step.how < 0.6) {
                // a caller that goes away
                const fiber = yield* Effect.forkChild(guarded)
                yield* Effect.sleep(step.cut)
                yield* Fiber.interrupt(fiber)
                exit = yield* Fiber.await(fiber)
              } else {
                exit = yield* Effect.exit(guarded)
              }
              seen[outcomeOf(exit)]++
            })

          const plans = repeat(100, () =>
            repeat(20, () => ({
              gap: Math.floor(random() * 400),
              outcome: random(),
              latency: 2 * Math.floor(random() * 300),
              cut: 1 + 2 * Math.floor(random() * 300),
              how: random()
            })))
          const workers = yield* Effect.forEach(plans, (plan) =>
            Effect.forkChild(Effect.forEach(plan, (step) =>
              Effect.andThen(Effect.sleep(step.gap), call(step)), { discard: true })))
          while (workers.some((fiber) => fiber.pollUnsafe() === undefined)) yield* TestClock.adjust("25 millis")

          const state = yield* breaker.state
          const { slow: _, ...calls } = state.calls
          assert.isAbove(seen.interrupted, 100, "the scenario must interrupt calls")
          assert.isAbove(seen.rejected, 0, "the scenario must open the breaker")
          assert.strictEqual(calls.success + calls.failure + calls.ignored + calls.rejected, made)
          assert.deepStrictEqual(calls, {
            success: seen.success,
            failure: seen.failure,
            ignored: seen.ignored + seen.interrupted,
            rejected: seen.rejected
          })
          assert.strictEqual(state.probes.running, 0)
        }).pipe(Effect.scoped))
    }
  }

  it.effect("calls interrupted from outside are ignored: they leave the trip counts as they were", () =>
    Effect.gen(function*() {
      const rules = [
        TripRule.consecutive(2),
        TripRule.failureRate({ threshold: 0.5, lastCalls: 10, minimumCalls: 4 }),
        TripRule.failureRate({ threshold: 0.5, lastDuration: "1 minute", minimumCalls: 4 })
      ]
      for (const trip of rules) {
        const breaker = yield* CircuitBreaker.make("interrupted", { trip })
        const interrupted = Effect.gen(function*() {
          const hanging = yield* Effect.forEach(
            repeat(5, () => Effect.forkChild(Effect.timeout(breaker.execute(Effect.never), "1 second"))),
            (fork) => fork
          )
          yield* TestClock.adjust("1 second")
          yield* Effect.forEach(hanging, Fiber.await)
        })
        // success, failure, five interrupted, success, failure: two failures in a row for the consecutive rule,
        // and a rate of 2 in 4 for the others, unless the interrupted calls counted
        yield* Effect.exit(breaker.execute(Effect.fail(network())))
        yield* interrupted
        yield* Effect.exit(breaker.execute(Effect.fail(network())))
        const consecutive = yield* breaker.state
        if (trip._tag === "Consecutive") assert.strictEqual(consecutive.status, "open")
        else {
          assert.strictEqual(consecutive.status, "closed")
          yield* breaker.execute(Effect.succeed("ok"))
          yield* breaker.execute(Effect.succeed("ok"))
          assert.strictEqual((yield* breaker.state).status, "open")
        }
        const { calls } = yield* breaker.state
        assert.strictEqual(calls.ignored, 5)
      }
    }).pipe(Effect.scoped))

  // A defect always counts, even when the cause also holds an error the breaker ignores.
  const mixed = [
    ["a business error and a defect", Cause.combine(Cause.fail(business()), Cause.die("bug"))],
    ["a defect and a business error", Cause.combine(Cause.die("bug"), Cause.fail(business()))],
    [
      "a business error, an interruption and a defect",
      Cause.combine(Cause.combine(Cause.fail(business()), Cause.interrupt(1)), Cause.die("bug"))
    ],
    ["an ignored error and one that counts", Cause.combine(Cause.fail(business()), Cause.fail(network()))]
  ] as const
  for (const [label, cause] of mixed) {
    for (const [rules, trip] of [
      ["count-based", TripRule.consecutive(2)],
      ["time-window", TripRule.failureRate({ threshold: 0.5, lastDuration: "10 seconds", minimumCalls: 2 })]
    ] as const) {
      it.effect(`a cause of ${label} is a failure (${rules} rule), and passes through unchanged`, () =>
        Effect.gen(function*() {
          const breaker = yield* CircuitBreaker.make("mixed", { trip })
          const exit = yield* Effect.exit(breaker.execute(Effect.failCause(cause)))
          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isFailure(exit)) {
            assert.deepStrictEqual(exit.cause.reasons.map((r) => r._tag), cause.reasons.map((r) => r._tag))
          }
          yield* Effect.exit(breaker.execute(Effect.failCause(cause)))
          const state = yield* breaker.state
          assert.deepStrictEqual(state.calls, { success: 0, failure: 2, ignored: 0, rejected: 0, slow: 0 })
          assert.strictEqual(state.status, "open")
        }).pipe(Effect.scoped))
    }
  }

  it.effect("a defect alongside an ignored error fails a probe", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make("probe", { trip: TripRule.consecutive(1), openDuration: "1 second" })
      yield* Effect.exit(breaker.execute(Effect.fail(network())))
      yield* TestClock.adjust("1 second")
      yield* Effect.exit(breaker.execute(Effect.failCause(Cause.combine(Cause.fail(business()), Cause.die("bug")))))
      const state = yield* breaker.state
      assert.strictEqual(state.status, "open")
      assert.strictEqual(state.openings, 2)
    }).pipe(Effect.scoped))

  it.effect("with counts listing tags, a defect alongside an unlisted error counts", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make("predicate", {
        trip: TripRule.consecutive(1),
        counts: ["NetworkError"]
      })
      yield* Effect.exit(breaker.execute(Effect.failCause(Cause.combine(Cause.fail(business()), Cause.die("bug")))))
      assert.strictEqual((yield* breaker.state).status, "open")
    }).pipe(Effect.scoped))

  // lets forked fibers run up to their next yield to the scheduler (a macrotask turn, not a sleep)
  const tick = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

  // `pad` void steps before the call put the fiber's yield (every 2 048 steps by default) at each point of the
  // breaker's steps in turn, among them the claim of a probe slot that another fiber's claim beats
  const padded = (pad: number, effect: Effect.Effect<unknown, unknown>) =>
    Effect.andThen(Effect.forEach(repeat(pad, () => Effect.void), (e) => e, { discard: true }), effect)

  it.live("a call interrupted while it loses the race for a probe slot is counted", () =>
    Effect.gen(function*() {
      const lost: Array<string> = []
      for (let pad = 1980; pad < 2100; pad++) {
        const breaker = yield* CircuitBreaker.make("race", { trip: TripRule.consecutive(1), openDuration: "0 millis" })
        yield* Effect.exit(breaker.execute(Effect.fail(network())))
        // a call is in the breaker's hands once the breaker has rejected it or tried to claim a probe slot for
        // it; a claim is a transaction, and transactions read the wall clock (for `since`)
        const claimed = [false, false]
        const spy = (i: number, clock: Clock.Clock): Clock.Clock =>
          Object.assign(Object.create(clock) as Clock.Clock, {
            currentTimeMillisUnsafe: () => {
              claimed[i] = true
              return clock.currentTimeMillisUnsafe()
            }
          })
        const clock = yield* Clock.Clock
        const first = yield* Effect.forkChild(
          padded(pad, breaker.execute(Effect.never)).pipe(Effect.provideService(Clock.Clock, spy(0, clock)))
        )
        const second = yield* Effect.forkChild(
          breaker.execute(Effect.never).pipe(Effect.provideService(Clock.Clock, spy(1, clock)))
        )
        yield* tick
        yield* Fiber.interruptAll([first, second])
        const { calls, probes } = yield* breaker.state
        const made = 1 + [first, second].filter((fiber, i) => {
          const exit = fiber.pollUnsafe()
          return claimed[i] || (exit !== undefined && Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause))
        }).length
        const total = calls.success + calls.failure + calls.ignored + calls.rejected
        if (total !== made || probes.running !== 0) {
          lost.push(`pad ${pad}: ${made} calls made, ${JSON.stringify(calls)}, ${probes.running} probes running`)
        }
      }
      assert.deepStrictEqual(lost, [])
    }).pipe(Effect.scoped))

  // A fiber yields to the scheduler once it has used its op budget (`References.MaxOpsBeforeYield`), at any step,
  // so also between the breaker's decision to run a call and the registration of the handler that counts it. An
  // interruption arriving in that yield must still leave the call counted (and its probe slot given back). Which
  // calls entered the breaker is read by a tracer that sees every step a fiber evaluates: a call has entered once
  // its fiber evaluated the effect `execute` returned.
  const evaluate = "~effect/Effect/evaluate" as const
  const entries = Effect.map(Effect.tracer, (base) => {
    const watched = new Set<unknown>()
    const counter = { entered: 0 }
    const tracer = Tracer.make({
      span: (options) => base.span(options),
      context: (primitive, fiber) => {
        if (watched.has(primitive)) counter.entered++
        return base.context !== undefined ? base.context(primitive, fiber) : primitive[evaluate](fiber)
      }
    })
    const watch = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
      watched.add(effect)
      return effect
    }
    return { counter, tracer, watch }
  })
  const total = (calls: CircuitBreaker.Calls) => calls.success + calls.failure + calls.ignored + calls.rejected
  // (a budget of one op livelocks a fiber: it yields again before each step)
  const budgeted = (budget: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provideService(effect, References.MaxOpsBeforeYield, budget)
  // one round: a few calls at once, so they race for the breaker (and its probe slots), each under a random op
  // budget and started at once or scheduled, then all interrupted after a random number of yields
  const interruptedRound = <A, E>(
    random: () => number,
    call: (outcome: number) => Effect.Effect<A, E>,
    tracer: Tracer.Tracer
  ) =>
    Effect.gen(function*() {
      const fibers = yield* Effect.forEach(repeat(1 + Math.floor(random() * 4), () => random()), (outcome) =>
        Effect.forkChild(call(outcome).pipe(budgeted(2 + Math.floor(random() * 6)), Effect.withTracer(tracer)), {
          startImmediately: random() < 0.5
        }))
      for (let yields = Math.floor(random() * 4); yields > 0; yields--) yield* Effect.yieldNow
      yield* Fiber.interruptAll(fibers)
    })

  const ruleCases: ReadonlyArray<readonly [string, CircuitBreaker.Options]> = [
    ["count-based rules (the default)", {}],
    ["a time-window rule", { trip: TripRule.failureRate({ threshold: 0.5, lastDuration: "1 second", minimumCalls: 10 }) }]
  ]
  for (const [label, options] of ruleCases) {
    it.effect(`with ${label}, a call interrupted at once under any op budget is counted once it entered`, () =>
      Effect.gen(function*() {
        const { counter, tracer, watch } = yield* entries
        const breaker = yield* CircuitBreaker.make("budget", options)
        const lost: Array<string> = []
        for (let budget = 2; budget <= 16; budget++) {
          for (const startImmediately of [true, false]) {
            const before = counter.entered
            const counted = total((yield* breaker.state).calls)
            const fiber = yield* Effect.forkChild(
              watch(breaker.execute(Effect.never)).pipe(budgeted(budget), Effect.withTracer(tracer)),
              { startImmediately }
            )
            yield* Fiber.interrupt(fiber)
            const entered = counter.entered - before
            const added = total((yield* breaker.state).calls) - counted
            if (added !== entered) lost.push(`budget ${budget}${startImmediately ? ", started at once" : ""}`)
          }
        }
        assert.deepStrictEqual(lost, [])
        assert.isAbove(counter.entered, 0, "some calls must enter the breaker")
      }).pipe(Effect.scoped))

    for (const seed of [1, 2, 3]) {
      it.effect(`with ${label} (seed ${seed}), calls interrupted at random under a tiny op budget add up`, () =>
        Effect.gen(function*() {
          const random = prng(seed)
          const { counter, tracer, watch } = yield* entries
          const breaker = yield* CircuitBreaker.make("budget", {
            ...options,
            openDuration: "0 millis",
            halfOpenProbes: 2
          })
          const body = (outcome: number): Effect.Effect<string, CommonErrors.NetworkError> =>
            outcome < 0.3
              ? Effect.never
              : Effect.andThen(Effect.yieldNow, outcome < 0.4 ? Effect.succeed("ok") : Effect.fail(network()))
          for (let round = 0; round < 150; round++) {
            yield* interruptedRound(random, (outcome) => watch(breaker.execute(body(outcome))), tracer)
          }
          const state = yield* breaker.state
          assert.strictEqual(total(state.calls), counter.entered, "a call was counted nowhere")
          assert.strictEqual(state.probes.running, 0, "a probe slot leaked")
          assert.isAbove(counter.entered, 100, "calls must enter the breaker")
          assert.isAbove(state.calls.rejected, 0, "the scenario must open the breaker")
        }).pipe(Effect.scoped))
    }
  }

  for (const seed of [1, 2, 3]) {
    it.effect(`half-open probes interrupted at random under a tiny op budget (seed ${seed}) leak no slot`, () =>
      Effect.gen(function*() {
        const random = prng(seed)
        const { counter, tracer, watch } = yield* entries
        // every call after a failure is a probe, and a failed probe opens the breaker again
        const breaker = yield* CircuitBreaker.make("probes", {
          trip: TripRule.consecutive(1),
          openDuration: "0 millis",
          halfOpenProbes: 2,
          closeAfter: 2
        })
        yield* Effect.exit(breaker.execute(Effect.fail(network())))
        const body = (outcome: number): Effect.Effect<string, CommonErrors.NetworkError> =>
          outcome < 0.4
            ? Effect.never
            : Effect.andThen(Effect.yieldNow, outcome < 0.6 ? Effect.succeed("ok") : Effect.fail(network()))
        let probed = 0
        for (let round = 0; round < 80; round++) {
          if ((yield* breaker.state).status !== "closed") probed++
          yield* interruptedRound(random, (outcome) => watch(breaker.execute(body(outcome))), tracer)
          const state = yield* breaker.state
          assert.strictEqual(state.probes.running, 0, `round ${round}: a probe slot leaked`)
          assert.strictEqual(total(state.calls), 1 + counter.entered, `round ${round}: a call was counted nowhere`)
        }
        assert.isAbove(probed, 20, "the scenario must probe")
      }).pipe(Effect.scoped))
  }

  for (const [label, options] of ruleCases) {
    it.effect(`with ${label}, a call made in an uninterruptible region still runs uninterruptibly`, () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make("uninterruptible", options)
        let finished = false
        const fiber = yield* Effect.forkChild(
          Effect.uninterruptible(breaker.execute(Effect.andThen(
            Effect.sleep("1 second"),
            Effect.sync(() => {
              finished = true
            })
          ))),
          { startImmediately: true }
        )
        const interrupted = yield* Effect.forkChild(Fiber.interrupt(fiber))
        yield* TestClock.adjust("1 second")
        yield* Fiber.await(interrupted)
        assert.isTrue(finished)
        assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
        assert.strictEqual((yield* breaker.state).calls.success, 1)
      }).pipe(Effect.scoped))
  }
})

describe("CircuitBreaker: refusals of admission inside it", () => {
  it.effect("a bulkhead's or a rate limiter's refusal inside the breaker is this service's overload: it never counts by default", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make("inner", { trip: TripRule.consecutive(2) })
      const bulkhead = yield* Bulkhead.make("inner", { limit: 1 })
      const limiter = yield* RateLimiter.make("inner", { limit: 1, window: "1 minute" })
      yield* limiter.acquire()
      // the bulkhead is full while this runs: each call through it inside the breaker is refused
      const holding = yield* Effect.forkChild(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow
      for (let i = 0; i < 3; i++) {
        const refused = yield* Effect.flip(breaker.execute(bulkhead.execute(Effect.void)))
        assert.strictEqual(refused._tag, "BulkheadFullError")
        const limited = yield* Effect.flip(breaker.execute(limiter.execute(Effect.void)))
        assert.strictEqual(limited._tag, "RateLimitedError")
      }
      const state = yield* breaker.state
      assert.deepStrictEqual([state.status, state.calls.failure], ["closed", 0])
      // a real failure still counts
      yield* Effect.exit(breaker.execute(Effect.fail(network())))
      assert.strictEqual((yield* breaker.state).calls.failure, 1)
      yield* Fiber.interrupt(holding)
    }).pipe(Effect.scoped))
})
