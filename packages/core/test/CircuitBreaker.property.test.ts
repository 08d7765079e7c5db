import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import { CircuitBreaker, CommonErrors, TripRule } from "../src/index.js"
import { prng } from "./utils.js"

const legal = new Set(["closed>open", "open>half_open", "half_open>closed", "half_open>open"])
const openMillis = (opening: number) => Math.min(1000 * 2 ** (opening - 1), 8000)

interface Scenario {
  readonly seed: number
  readonly options: CircuitBreaker.Options
  readonly slowerThan?: number
}

const rules = (random: () => number): Scenario["options"]["trip"] => {
  const pick = Math.floor(random() * 4)
  if (pick === 0) return TripRule.consecutive(1 + Math.floor(random() * 5))
  if (pick === 1) return TripRule.failureRate({ threshold: 0.5, lastCalls: 20, minimumCalls: 5 })
  if (pick === 2) return TripRule.failureRate({ threshold: 0.4, lastDuration: "10 seconds", minimumCalls: 8 })
  return [
    TripRule.consecutive(4),
    TripRule.slowCallRate({ slowerThan: "1500 millis", threshold: 0.5, lastCalls: 10, minimumCalls: 5 })
  ]
}

const scenarios: Array<Scenario> = Array.from({ length: 12 }, (_, i) => {
  const random = prng(1000 + i)
  const halfOpenProbes = 1 + Math.floor(random() * 4)
  return {
    seed: 1000 + i,
    options: {
      trip: rules(random),
      openDuration: Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("8 seconds")]),
      halfOpenProbes,
      closeAfter: 1 + Math.floor(random() * 3)
    }
  }
})

describe("CircuitBreaker under concurrency (property-style, seeded)", () => {
  for (const scenario of scenarios) {
    it.effect(`seed ${scenario.seed}: probes bounded, counts exact, transitions legal, open durations scheduled`, () =>
      Effect.gen(function*() {
        const random = prng(scenario.seed)
        const limit = scenario.options.halfOpenProbes!
        const breaker = yield* CircuitBreaker.make("property", scenario.options)
        const transitions: Array<CircuitBreaker.Transition> = []
        const watcher = yield* Effect.forkChild(
          Stream.runForEach(breaker.changes, (t) => Effect.sync(() => transitions.push(t)))
        )
        yield* Effect.yieldNow

        // what the calls saw: bodies run per outcome, and probes running per half-open generation
        const ran = { success: 0, failure: 0, ignored: 0 }
        let rejected = 0
        const probesRunning = new Map<number, number>()
        let peakProbes = 0
        let halfOpenBodies = 0

        const call = (outcome: number, latency: number) =>
          Effect.gen(function*() {
            const state = yield* breaker.state
            const probe = state.status === "half_open"
            if (probe) {
              halfOpenBodies++
              const running = (probesRunning.get(state.generation) ?? 0) + 1
              probesRunning.set(state.generation, running)
              peakProbes = Math.max(peakProbes, running)
            }
            yield* Effect.sleep(latency)
            if (probe) probesRunning.set(state.generation, probesRunning.get(state.generation)! - 1)
            if (outcome < 0.55) return ran.success++
            if (outcome < 0.8) {
              ran.failure++
              return yield* Effect.fail(new CommonErrors.NetworkError({ target: "dependency" }))
            }
            if (outcome < 0.9) {
              ran.failure++
              return yield* Effect.die("defect")
            }
            ran.ignored++
            return yield* Effect.fail(new CommonErrors.NotFoundError({ resource: "item" }))
          })

        const fibers = 200
        const callsPerFiber = 25
        const plans = Array.from({ length: fibers }, () =>
          Array.from({ length: callsPerFiber }, () => ({
            gap: Math.floor(random() * 1500),
            outcome: random(),
            latency: random() < 0.2 ? 1000 + Math.floor(random() * 2000) : Math.floor(random() * 300)
          })))
        const workers = yield* Effect.forEach(plans, (plan) =>
          Effect.forkChild(Effect.forEach(plan, (step) =>
            Effect.gen(function*() {
              yield* Effect.sleep(step.gap)
              const exit = yield* Effect.exit(breaker.execute(call(step.outcome, step.latency)))
              if (Exit.isFailure(exit)) {
                const error = Cause.findErrorOption(exit.cause)
                if (error._tag === "Some" && error.value instanceof CircuitBreaker.BreakerOpenError) rejected++
              }
            }), { discard: true })))
        // drive the clock until every worker is done
        while (workers.some((fiber) => fiber.pollUnsafe() === undefined)) yield* TestClock.adjust("50 millis")
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow
        yield* Fiber.interrupt(watcher)

        // never more probes at once than configured
        assert.isAtMost(peakProbes, limit)

        // the breaker's counts equal the calls made
        const state = yield* breaker.state
        assert.strictEqual(rejected + ran.success + ran.failure + ran.ignored, fibers * callsPerFiber)
        assert.deepStrictEqual(
          { ...state.calls, slow: 0 },
          { success: ran.success, failure: ran.failure, ignored: ran.ignored, rejected, slow: 0 }
        )

        // every transition legal, in order, each from the state the previous one entered
        assert.isAbove(transitions.length, 3, "the scenario must exercise the state machine")
        let previous: CircuitBreaker.Status = "closed"
        transitions.forEach((t, i) => {
          assert.isTrue(legal.has(`${t.from}>${t.to}`), `illegal transition ${t.from} -> ${t.to}`)
          assert.strictEqual(t.from, previous)
          assert.strictEqual(t.generation, i + 1)
          previous = t.to
        })
        assert.strictEqual(state.generation, transitions.length)
        assert.isTrue(transitions.some((t) => t.to === "half_open"), "half-open must be reached")
        assert.isAbove(halfOpenBodies, 0)

        // each opening lasts what the schedule says for its number, and no probe comes before it ends
        transitions.forEach((t, i) => {
          if (t.to !== "open") return
          assert.strictEqual(t.openMillis, openMillis(t.openings), `opening ${t.openings}`)
          const next = transitions[i + 1]
          if (next !== undefined) assert.isAtLeast(next.at - t.at, t.openMillis!)
        })
      }).pipe(Effect.scoped))
  }
})
