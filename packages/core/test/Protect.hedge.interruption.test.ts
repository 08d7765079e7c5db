import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Metric, Option } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLayer, Policy, protect, ResilienceMetrics } from "../src/index.js"

const { NetworkError } = CommonErrors

const Errors = ErrorLayer.layer({
  logFormat: false,
  policies: [Policy.forFamily(NetworkError, Policy.noRetry())],
  budgets: { budgets: { plenty: { percent: 10, minPerSecond: 1000 } } }
})

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

/** A dependency: invocation i sleeps millis[i] (the last repeats), logging starts, ends and finalizers. */
const dependency = (millis: ReadonlyArray<number>) => {
  const log: Array<string> = []
  let n = 0
  const effect: Effect.Effect<string, CommonErrors.NetworkError> = Effect.suspend(() => {
    const i = n++
    return Effect.gen(function*() {
      log.push(`start #${i} @${yield* Clock.currentTimeMillis}`)
      yield* Effect.sleep(`${millis[Math.min(i, millis.length - 1)]!} millis`)
      log.push(`end #${i} @${yield* Clock.currentTimeMillis}`)
      return `#${i}`
    }).pipe(Effect.onInterrupt(() =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => log.push(`finalized #${i} @${now}`)))
    ))
  })
  return { effect, log, calls: () => n }
}

const settle = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

describe("hedge and interruption", () => {
  it.effect("an outer interruption during the hedge delay ends the call at once and starts no hedge", () =>
    Effect.gen(function*() {
      const dep = dependency([10_000])
      const fiber = yield* Effect.forkChild(
        dep.effect.pipe(protect({ operation: "h1", budget: "plenty", hedge: { idempotent: true, delay: "1 second" } }))
      )
      yield* TestClock.adjust("100 millis")
      let interruptedAt = -1
      const interrupting = yield* Effect.forkChild(Effect.andThen(
        Fiber.interrupt(fiber),
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => (interruptedAt = now)))
      ))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(interrupting)
      // the interruption should be delivered at 100 ms (the call is waiting for nothing but a timer), and no hedge
      // started for a call already interrupted
      const snapshot = yield* ResilienceMetrics.snapshot
      const hedges = snapshot.hedges.find((h) => h.operation === "h1")
      assert.deepStrictEqual(
        { interruptedAt, calls: dep.calls(), started: hedges?.started ?? 0 },
        { interruptedAt: 100, calls: 1, started: 0 }
      )
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a timeout around a hedged call is honoured at its own time, not at the hedge delay", () =>
    Effect.gen(function*() {
      const dep = dependency([10_000])
      let returnedAt = -1
      const fiber = yield* Effect.forkChild(
        dep.effect.pipe(
          protect({ operation: "h2", hedge: { idempotent: true, delay: "1 second", maxHedges: 3 } }),
          Effect.timeoutOption("50 millis"),
          Effect.tap(() => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => (returnedAt = now))))
        )
      )
      yield* TestClock.adjust("5 seconds")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result, Option.none())
      // the outer timeout should return at 50 ms, with no hedge launched for a call already timed out
      assert.deepStrictEqual({ returnedAt, calls: dep.calls() }, { returnedAt: 50, calls: 1 })
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("called in an uninterruptible region, the hedge's loser is still interrupted (the winner returns at once)", () =>
    Effect.gen(function*() {
      // the primary takes 10 s; the hedge, started at 100 ms, 10 ms
      const dep = dependency([10_000, 10])
      let returnedAt = -1
      const fiber = yield* Effect.forkChild(
        dep.effect.pipe(
          protect({ operation: "h3", hedge: { idempotent: true, delay: "100 millis" } }),
          Effect.uninterruptible,
          Effect.tap(() => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => (returnedAt = now))))
        )
      )
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.succeed("#1"))
      assert.strictEqual(returnedAt, 110, "the hedge won at 110 ms; the call waited for the loser instead")
      assert.include(dep.log, "finalized #0 @110")
    }).pipe(Effect.provide(Errors), isolated))
})
