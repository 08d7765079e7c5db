// The simulation of the issue, under TestClock: a dependency failing 50 % of its calls (seeded) for 30 s, then
// every call for 30 s, called at a steady 200 calls per second with a policy of 3 attempts, without a retry budget
// and with the default one. The load amplification is the number of calls reaching the dependency over the number
// of calls made.
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLayer, Policy, protect, RetryBudgetRegistry } from "../src/index.js"
import { prng } from "./utils.js"

const rate = 200 // calls per second
const tickMillis = 1_000 / rate
const phaseMillis = 30_000
const defaultMinPerSecond = 10

const Errors = ErrorLayer.layer({
  logFormat: false,
  policies: [
    Policy.forFamily(CommonErrors.UnavailableError, { maxAttempts: 3, baseDelay: "10 millis", factor: 1 })
  ],
  // the default budget: 20 %, 10 per second, over 10 seconds
  budgets: {}
})

interface Phase {
  calls: number
  reached: number
}

interface Result {
  readonly phases: readonly [Phase, Phase]
  readonly overall: number
  readonly amplification: readonly [number, number]
}

/** Runs the 60 s of calls, with `budget` named or not, and counts per phase (by the Clock's time). */
const simulate = (budget: string | undefined) =>
  Effect.gen(function*() {
    const random = prng(17)
    const phases: [Phase, Phase] = [{ calls: 0, reached: 0 }, { calls: 0, reached: 0 }]
    const start = yield* Clock.currentTimeMillis
    const phaseOf = (now: number) => (now - start < phaseMillis ? 0 : 1)
    const dependency = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const phase = phaseOf(now)
      phases[phase].reached++
      const fails = phase === 1 || random() < 0.5
      return fails ? Effect.fail(new CommonErrors.UnavailableError({ service: "dep" })) : Effect.succeed(now)
    })
    const call = budget === undefined
      ? dependency.pipe(protect({ operation: "dep.call" }))
      : dependency.pipe(protect({ operation: "dep.call", budget }))
    const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
    for (let t = start; t < start + 2 * phaseMillis; t += tickMillis) {
      phases[phaseOf(t)].calls++
      fibers.push(yield* Effect.forkChild(Effect.exit(call)))
      yield* TestClock.adjust(`${tickMillis} millis`)
    }
    // the last calls' retries
    yield* TestClock.adjust("1 second")
    for (const fiber of fibers) yield* Fiber.await(fiber)
    const amplification = [phases[0].reached / phases[0].calls, phases[1].reached / phases[1].calls] as const
    const overall = (phases[0].reached + phases[1].reached) / (phases[0].calls + phases[1].calls)
    return { phases, overall, amplification } satisfies Result
  })

const fixed = (n: number) => n.toFixed(3)

describe("retry budget simulation", () => {
  it.effect("3 attempts against a failing dependency: load amplification with and without the default budget", () =>
    Effect.gen(function*() {
      const none = yield* simulate(undefined)
      const budgeted = yield* simulate("dep")
      const states = yield* RetryBudgetRegistry.states
      console.log(
        `load_amplification no-budget=${fixed(none.overall)} budget=${fixed(budgeted.overall)}` +
          ` no-budget.50%=${fixed(none.amplification[0])} no-budget.100%=${fixed(none.amplification[1])}` +
          ` budget.50%=${fixed(budgeted.amplification[0])} budget.100%=${fixed(budgeted.amplification[1])}` +
          ` calls=${none.phases[0].calls + none.phases[1].calls} rate=${rate}/s`
      )
      assert.strictEqual(none.phases[0].calls, rate * 30)
      assert.strictEqual(none.phases[1].calls, rate * 30)

      // without a budget: 1 + 0.5 + 0.25 = 1.75 in the 50 % phase, every attempt in the 100 % phase
      assert.isAtLeast(none.amplification[0], 1.6)
      assert.isAtMost(none.amplification[0], 1.9)
      assert.isAtLeast(none.amplification[1], 2.99)
      assert.isAtMost(none.amplification[1], 3.01)

      // with the default budget: at most 20 % more, plus the floor of 10 per second (here 10 / 200 = 5 %), plus
      // the slack of the window's slots (an entry may leave up to a tenth of the ttl early)
      const bound = 1.2 + defaultMinPerSecond / rate + 0.03
      assert.isAtMost(budgeted.overall, bound)
      assert.isAtMost(budgeted.amplification[0], bound)
      assert.isAtMost(budgeted.amplification[1], bound)
      // and the budget is what cut it: retries were still made, and many were refused
      assert.isAbove(budgeted.amplification[0], 1.1)
      assert.isAbove(budgeted.amplification[1], 1.1)
      const dep = states.find((s) => s.name === "dep")!
      assert.isAbove(dep.refused, 5_000)
      // retries granted: the budget's quarter of the calls, less what the 50 % phase's successes did not ask for
      assert.isAtMost(dep.granted, budgeted.phases[0].calls * 2 * (bound - 1))
      assert.isAtLeast(dep.granted, budgeted.phases[0].calls * 2 * 0.2)
    }).pipe(Effect.provide(Errors)), { timeout: 30_000 })
})
