import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, Metric } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLayer, Policy, protect, ResilienceMetrics } from "../src/index.js"

const { NetworkError } = CommonErrors

const Errors = ErrorLayer.layer({ logFormat: false, policies: [Policy.forFamily(NetworkError, Policy.noRetry())] })

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

interface Step {
  readonly millis: number
  readonly fail?: string
  readonly die?: boolean
}

const dependency = (steps: ReadonlyArray<Step>) => {
  const log: Array<string> = []
  let n = 0
  const effect: Effect.Effect<string, CommonErrors.NetworkError> = Effect.suspend(() => {
    const i = n++
    const step = steps[Math.min(i, steps.length - 1)]!
    return Effect.gen(function*() {
      yield* Effect.sleep(`${step.millis} millis`)
      if (step.die === true) return yield* Effect.die(`defect #${i}`)
      if (step.fail !== undefined) return yield* Effect.fail(new NetworkError({ target: step.fail }))
      return `#${i}`
    }).pipe(Effect.onInterrupt(() =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => log.push(`finalized #${i} @${now}`)))
    ))
  })
  return { effect, log, calls: () => n }
}

const run = (operation: string, steps: ReadonlyArray<Step>, maxHedges = 1) =>
  Effect.gen(function*() {
    const dep = dependency(steps)
    const fiber = yield* Effect.forkChild(Effect.exit(
      dep.effect.pipe(protect({ operation, hedge: { idempotent: true, delay: "100 millis", maxHedges } }))
    ))
    yield* TestClock.adjust("10 seconds")
    const exit = yield* Fiber.join(fiber)
    const snapshot = yield* ResilienceMetrics.snapshot
    const h = snapshot.hedges.find((x) => x.operation === operation)
    return {
      exit,
      dep,
      hedges: h === undefined ? undefined : { started: h.started, won: h.won, lost: h.lost, suppressed: h.suppressed }
    }
  })

describe("hedge outcomes and figures", () => {
  it.effect("primary wins after a hedge started: the hedge lost, interrupted", () =>
    Effect.gen(function*() {
      const r = yield* run("o1", [{ millis: 150 }, { millis: 1_000 }])
      assert.deepStrictEqual(r.exit, Exit.succeed("#0"))
      assert.deepStrictEqual(r.hedges, { started: 1, won: 0, lost: 1, suppressed: 0 })
      assert.deepStrictEqual(r.dep.log, ["finalized #1 @150"])
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("the second hedge wins: one won, one lost, both others interrupted", () =>
    Effect.gen(function*() {
      const r = yield* run("o2", [{ millis: 1_000 }, { millis: 1_000 }, { millis: 10 }], 2)
      assert.deepStrictEqual(r.exit, Exit.succeed("#2"))
      assert.deepStrictEqual(r.hedges, { started: 2, won: 1, lost: 1, suppressed: 0 })
      assert.sameMembers(r.dep.log, ["finalized #0 @210", "finalized #1 @210"])
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("all fail: the primary's error, though the hedge failed last", () =>
    Effect.gen(function*() {
      const r = yield* run("o3", [{ millis: 150, fail: "primary" }, { millis: 200, fail: "hedge" }])
      assert.isTrue(Exit.isFailure(r.exit))
      const error = Exit.isFailure(r.exit) ? Cause.findErrorOption(r.exit.cause) : undefined
      assert.strictEqual((error as any)?.value?.target, "primary")
      assert.deepStrictEqual(r.hedges, { started: 1, won: 0, lost: 1, suppressed: 0 })
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a hedge dying with a defect, the primary winning later: the primary's value", () =>
    Effect.gen(function*() {
      const r = yield* run("o4", [{ millis: 500 }, { millis: 10, die: true }])
      assert.deepStrictEqual(r.exit, Exit.succeed("#0"))
    }).pipe(Effect.provide(Errors), isolated))

  // the project's own rule (run.ts electDefects): "the defect is never dropped". Here a hedge's defect vanishes
  // behind the primary's typed error when every attempt fails.
  it.effect("a hedge's defect is not dropped when every attempt fails", () =>
    Effect.gen(function*() {
      const r = yield* run("o5", [{ millis: 500, fail: "primary" }, { millis: 10, die: true }])
      assert.isTrue(Exit.isFailure(r.exit))
      assert.isTrue(Exit.isFailure(r.exit) && Cause.hasDies(r.exit.cause), "the hedge's defect is in the cause")
    }).pipe(Effect.provide(Errors), isolated))
})
