import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, type Duration, Effect, Exit, Fiber, Metric } from "effect"
import { TestClock } from "effect/testing"
import {
  CommonErrors,
  ConfigError,
  ErrorLayer,
  Policy,
  protect,
  ResilienceMetrics,
  RetryBudgetRegistry
} from "../src/index.js"

const { NetworkError, StorageError } = CommonErrors
type Failure = CommonErrors.NetworkError | CommonErrors.StorageError

const Errors = ErrorLayer.layer({
  logFormat: false,
  policies: [
    // not retried: the hedge stage alone decides
    Policy.forFamily(NetworkError, Policy.noRetry()),
    Policy.forFamily(StorageError, { maxAttempts: 2, baseDelay: "1 second" })
  ],
  budgets: {
    budgets: {
      empty: { percent: 0, minPerSecond: 0 },
      one: { percent: 0, minPerSecond: 0.1 } // one hedge (or retry) per 10 s
    }
  }
})

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

/** One invocation of the dependency: how long it takes, then its value or its error. */
interface Step {
  readonly millis: number
  readonly fail?: Failure | undefined
  /** How long its interruption's finalizer takes. */
  readonly cleanup?: number | undefined
}

/**
 * A dependency whose `i`-th invocation follows `steps[i]` (the last repeats), succeeding with `"#i"`. It logs each
 * start, end and finalizer with the Clock's time, and the start times of its invocations.
 */
const dependency = (steps: ReadonlyArray<Step>) => {
  const log: Array<string> = []
  const starts: Array<number> = []
  let n = 0
  const effect: Effect.Effect<string, Failure> = Effect.suspend(() => {
    const i = n++
    const step = steps[Math.min(i, steps.length - 1)]!
    return Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      starts.push(at)
      log.push(`start #${i} @${at}`)
      yield* Effect.sleep(`${step.millis} millis`)
      if (step.fail !== undefined) {
        log.push(`fail #${i} @${yield* Clock.currentTimeMillis}`)
        return yield* Effect.fail(step.fail)
      }
      log.push(`end #${i} @${yield* Clock.currentTimeMillis}`)
      return `#${i}`
    }).pipe(Effect.onInterrupt(() =>
      Effect.gen(function*() {
        if (step.cleanup !== undefined) yield* Effect.sleep(`${step.cleanup} millis`)
        log.push(`finalized #${i} @${yield* Clock.currentTimeMillis}`)
      })
    ))
  })
  return { effect, log, starts, calls: () => n }
}

/**
 * Runs `effect` in a fiber, logging when it returns, moves the clock `by`, and returns its exit and the time
 * it returned at.
 */
const within = <A, E, R>(by: Duration.Input, effect: Effect.Effect<A, E, R>, log?: Array<string>) =>
  Effect.gen(function*() {
    let returnedAt = -1
    const fiber = yield* Effect.forkChild(Effect.exit(effect).pipe(
      Effect.tap(() =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            returnedAt = now
            log?.push(`returned @${now}`)
          }))
      )
    ))
    yield* TestClock.adjust(by)
    const exit = yield* Fiber.join(fiber)
    return { exit, returnedAt }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const found = Cause.findErrorOption(exit.cause)
  return found._tag === "Some" ? found.value : undefined
}

const hedgesOf = (operation: string) =>
  Effect.map(ResilienceMetrics.snapshot, (s) => s.hedges.find((h) => h.operation === operation))

const network = (target: string) => new NetworkError({ target })

describe("protect with a hedge", () => {
  it.effect("a hedge starts exactly at its delay; the winner's value is returned, the loser finalized first", () =>
    Effect.gen(function*() {
      // the primary takes 1 s; the hedge 10 ms; the primary's interruption takes 50 ms to clean up
      const dep = dependency([{ millis: 1_000, cleanup: 50 }, { millis: 10 }])
      const { exit, returnedAt } = yield* within(
        "2 seconds",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } })),
        dep.log
      )
      assert.deepStrictEqual(exit, Exit.succeed("#1"), "the hedge's value")
      assert.deepStrictEqual(dep.starts, [0, 100])
      assert.deepStrictEqual(dep.log, [
        "start #0 @0",
        "start #1 @100",
        "end #1 @110",
        "finalized #0 @160", // awaited: the call returns once its finalizer has run
        "returned @160"
      ])
      assert.strictEqual(returnedAt, 160)
      assert.strictEqual(dep.calls(), 2)
      assert.deepStrictEqual(yield* hedgesOf("search"), { operation: "search", started: 1, won: 1, lost: 0, suppressed: 0 })
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("no hedge is started before its delay: a primary done in time is the call", () =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 99 }])
      const { exit, returnedAt } = yield* within(
        "1 second",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } }))
      )
      assert.deepStrictEqual(exit, Exit.succeed("#0"))
      assert.strictEqual(returnedAt, 99)
      assert.strictEqual(dep.calls(), 1)
      assert.isUndefined(yield* hedgesOf("search"), "no hedge figures for a call that never hedged")
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("the primary can still win: then the hedge is the loser, interrupted and finalized", () =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 150 }, { millis: 1_000 }])
      const { exit, returnedAt } = yield* within(
        "2 seconds",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } })),
        dep.log
      )
      assert.deepStrictEqual(exit, Exit.succeed("#0"))
      assert.strictEqual(returnedAt, 150)
      assert.deepStrictEqual(dep.log, [
        "start #0 @0",
        "start #1 @100",
        "end #0 @150",
        "finalized #1 @150",
        "returned @150"
      ])
      assert.deepStrictEqual(yield* hedgesOf("search"), { operation: "search", started: 1, won: 0, lost: 1, suppressed: 0 })
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("when every attempt fails, the primary's error is returned (not the hedge's), once all have ended", () =>
    Effect.gen(function*() {
      const primary = network("primary")
      const hedge = network("hedge")
      // the hedge fails first, at 150; the primary at 300
      const dep = dependency([{ millis: 300, fail: primary }, { millis: 50, fail: hedge }])
      const { exit, returnedAt } = yield* within(
        "2 seconds",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } }))
      )
      assert.strictEqual(failureOf(exit), primary)
      assert.notStrictEqual(failureOf(exit), hedge)
      assert.strictEqual(returnedAt, 300, "it waited for the primary")
      // and the primary failing first: the call waits for the hedge, then returns the primary's error
      const first = network("first")
      const later = dependency([{ millis: 150, fail: first }, { millis: 200, fail: network("second") }])
      const second = yield* within(
        "2 seconds",
        later.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } }))
      )
      assert.strictEqual(failureOf(second.exit), first)
      assert.strictEqual(second.returnedAt - 2_000, 300)
      assert.deepStrictEqual((yield* hedgesOf("search"))?.lost, 2)
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a hedge that succeeds after the primary failed is the call's value", () =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 150, fail: network("primary") }, { millis: 100 }])
      const { exit, returnedAt } = yield* within(
        "2 seconds",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } }))
      )
      assert.deepStrictEqual(exit, Exit.succeed("#1"))
      assert.strictEqual(returnedAt, 200)
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a primary failing before the delay returns at once, and no hedge is started", () =>
    Effect.gen(function*() {
      const primary = network("primary")
      const dep = dependency([{ millis: 40, fail: primary }, { millis: 10 }])
      const { exit, returnedAt } = yield* within(
        "2 seconds",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } }))
      )
      assert.strictEqual(failureOf(exit), primary)
      assert.strictEqual(returnedAt, 40)
      assert.strictEqual(dep.calls(), 1)
      // failing at once, without any time passing
      const instant = dependency([{ millis: 0, fail: primary }])
      const again = yield* within(
        "2 seconds",
        instant.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } }))
      )
      assert.strictEqual(again.returnedAt, 2_000)
      assert.strictEqual(instant.calls(), 1)
      assert.isUndefined(yield* hedgesOf("search"))
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("maxHedges 2 starts two hedges, at the delay and twice the delay", () =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 1_000 }, { millis: 1_000 }, { millis: 50 }, { millis: 1 }])
      const { exit, returnedAt } = yield* within(
        "2 seconds",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis", maxHedges: 2 } })),
        dep.log
      )
      assert.deepStrictEqual(exit, Exit.succeed("#2"))
      assert.deepStrictEqual(dep.starts, [0, 100, 200])
      assert.strictEqual(returnedAt, 250)
      assert.strictEqual(dep.calls(), 3, "no third hedge")
      assert.includeMembers(dep.log, ["finalized #0 @250", "finalized #1 @250"])
      assert.deepStrictEqual(yield* hedgesOf("search"), { operation: "search", started: 2, won: 1, lost: 1, suppressed: 0 })
      // with 4 allowed and none finishing in time: all four at 100 ms intervals
      const slow = dependency([{ millis: 10_000 }])
      yield* within(
        "20 seconds",
        slow.effect.pipe(protect({ operation: "slow", hedge: { idempotent: true, delay: "100 millis", maxHedges: 4 } }))
      )
      assert.deepStrictEqual(slow.starts.map((t) => t - 2_000), [0, 100, 200, 300, 400])
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("hedges spend the call's budget, and one due when it is empty is suppressed", () =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 1_000 }, { millis: 10 }])
      const { exit, returnedAt } = yield* within(
        "2 seconds",
        dep.effect.pipe(protect({
          operation: "search",
          budget: "empty",
          hedge: { idempotent: true, delay: "100 millis" }
        }))
      )
      assert.deepStrictEqual(exit, Exit.succeed("#0"), "the primary alone")
      assert.strictEqual(returnedAt, 1_000)
      assert.strictEqual(dep.calls(), 1)
      assert.deepStrictEqual(yield* hedgesOf("search"), { operation: "search", started: 0, won: 0, lost: 0, suppressed: 1 })
      const empty = yield* Effect.flatMap(RetryBudgetRegistry.budget("empty"), (b) => b.state)
      assert.deepStrictEqual([empty.requests, empty.granted, empty.refused], [1, 0, 1])

      // a budget of one: the first hedge is paid for, the second suppressed
      const two = dependency([{ millis: 1_000 }, { millis: 1_000 }, { millis: 10 }])
      yield* within(
        "2 seconds",
        two.effect.pipe(protect({
          operation: "two",
          budget: "one",
          hedge: { idempotent: true, delay: "100 millis", maxHedges: 2 }
        }))
      )
      assert.deepStrictEqual(two.starts.map((t) => t - 2_000), [0, 100])
      const one = yield* Effect.flatMap(RetryBudgetRegistry.budget("one"), (b) => b.state)
      assert.deepStrictEqual([one.granted, one.refused, one.available], [1, 1, 0])
      assert.deepStrictEqual(yield* hedgesOf("two"), { operation: "two", started: 1, won: 0, lost: 1, suppressed: 1 })
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a hedged attempt is one attempt for the retry: both failing, the retry hedges again", () =>
    Effect.gen(function*() {
      const dep = dependency([
        { millis: 200, fail: new StorageError({ operation: "primary" }) },
        { millis: 200, fail: new StorageError({ operation: "hedge" }) },
        { millis: 500 },
        { millis: 10 }
      ])
      const { exit, returnedAt } = yield* within(
        "5 seconds",
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis" } }))
      )
      assert.deepStrictEqual(exit, Exit.succeed("#3"))
      // first attempt: 0 and 100, all failed at 300; retry after 1 s: 1300 and 1400, the hedge won at 1410
      assert.deepStrictEqual(dep.starts, [0, 100, 1_300, 1_400])
      assert.strictEqual(returnedAt, 1_410)
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("interrupting the call interrupts every attempt and runs their finalizers", () =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 10_000, cleanup: 5 }])
      const fiber = yield* Effect.forkChild(
        dep.effect.pipe(protect({ operation: "search", hedge: { idempotent: true, delay: "100 millis", maxHedges: 2 } }))
      )
      yield* TestClock.adjust("250 millis")
      assert.strictEqual(dep.calls(), 3)
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
      yield* TestClock.adjust("5 millis")
      yield* Fiber.join(interrupting)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
      assert.sameMembers(dep.log.filter((l) => l.startsWith("finalized")), [
        "finalized #0 @255",
        "finalized #1 @255",
        "finalized #2 @255"
      ])
      // nothing left running: no attempt ends later
      yield* TestClock.adjust("20 seconds")
      assert.isFalse(dep.log.some((l) => l.startsWith("end")))
    }).pipe(Effect.provide(Errors), isolated))
})

describe("invalid hedge options", () => {
  const invalid = (hedge: unknown) =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 1 }])
      const exit = yield* Effect.exit(dep.effect.pipe(protect({ operation: "search", hedge: hedge as never })))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), "the effect dies")
      const defect = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isDieReason)?.defect : undefined
      assert.instanceOf(defect, ConfigError.ConfigError)
      assert.strictEqual(dep.calls(), 0, "the call is not made")
      return (defect as ConfigError.ConfigError).issues.map((i) => i.path.join("."))
    })

  it.effect("each invalid field is named under hedge", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* invalid({ idempotent: false, delay: "10 millis" }), ["hedge.idempotent"])
      assert.deepStrictEqual(yield* invalid({ delay: "10 millis" }), ["hedge.idempotent"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "10 millis", maxHedges: 9 }), ["hedge.maxHedges"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "10 millis", maxHedges: 0 }), ["hedge.maxHedges"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "10 millis", maxHedges: 1.5 }), ["hedge.maxHedges"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "p150" }), ["hedge.delay"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "p0" }), ["hedge.delay"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "soon" }), ["hedge.delay"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true }), ["hedge.delay"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "p95", minSamples: 0 }), ["hedge.minSamples"])
      assert.deepStrictEqual(yield* invalid({ idempotent: true, delay: "p95", maxDelay: 0 }), ["hedge.maxDelay"])
      assert.deepStrictEqual(
        yield* invalid({ idempotent: true, delay: "p95", minDelay: "2 seconds", maxDelay: "1 second" }),
        ["hedge.maxDelay"]
      )
      assert.deepStrictEqual(yield* invalid("p95"), ["hedge"])
    }).pipe(Effect.provide(Errors)))

  it.effect("every problem at once, an unknown key with the nearest name", () =>
    Effect.gen(function*() {
      const dep = dependency([{ millis: 1 }])
      const exit = yield* Effect.exit(dep.effect.pipe(protect({
        operation: "search",
        hedge: { idempotent: false, delay: "p150", maxHedges: 9, maxHedge: 2 } as never
      })))
      const defect = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isDieReason)?.defect : undefined
      assert.instanceOf(defect, ConfigError.ConfigError)
      const issues = (defect as ConfigError.ConfigError).issues
      assert.sameMembers(issues.map((i) => i.path.join(".")), [
        "hedge.idempotent",
        "hedge.delay",
        "hedge.maxHedges",
        "hedge.maxHedge"
      ])
      assert.isTrue(issues.every((i) => i.path[0] === "hedge"))
      assert.include(issues.find((i) => i.path[1] === "maxHedge")!.message, "did you mean \"maxHedges\"")
      // valid percentiles and durations are accepted
      for (const delay of ["p50", "p95", "p99.9", "0 millis", 25, "1 second"] as const) {
        const ok = dependency([{ millis: 1 }])
        const result = yield* Effect.exit(ok.effect.pipe(protect({ operation: "ok", hedge: { idempotent: true, delay } })).pipe(
          Effect.forkChild,
          Effect.tap(() => TestClock.adjust("10 millis")),
          Effect.flatMap(Fiber.join)
        ))
        assert.deepStrictEqual(result, Exit.succeed("#0"), `delay ${delay}`)
      }
    }).pipe(Effect.provide(Errors)))
})

describe("adaptive hedge delay", () => {
  /**
   * A dependency whose primaries take `primary` (set per call by the test) and whose hedges take `hedge`; it
   * logs each call's start times.
   */
  const adaptive = () => {
    let primary = 0
    let hedge = 1
    let invocation = 0
    let starts: Array<number> = []
    const effect = Effect.suspend(() => {
      const millis = invocation++ === 0 ? primary : hedge
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        starts.push(now)
        return Effect.as(Effect.sleep(`${millis} millis`), millis)
      })
    }).pipe(protect({ operation: "adaptive", hedge: { idempotent: true, delay: "p95" } }))
    /** One call: the primary takes `millis`, a hedge `hedgeMillis`; returns its attempts' start times. */
    const call = (millis: number, hedgeMillis: number) =>
      Effect.gen(function*() {
        primary = millis
        hedge = hedgeMillis
        invocation = 0
        starts = []
        const fiber = yield* Effect.forkChild(effect)
        yield* TestClock.adjust(`${millis} millis`)
        yield* Fiber.join(fiber)
        return starts
      })
    /** The delay a call slow enough to be hedged waits before its hedge. */
    const delay = Effect.map(call(5_000, 1), (s) => {
      assert.strictEqual(s.length, 2, "the probe was hedged")
      return s[1]! - s[0]!
    })
    return { call, delay }
  }

  /**
   * `n` calls of the distribution: `fast` ms, every 25th one (4 %) 200 ms; hedges take `fast` too. (With exactly
   * 5 % slow the nearest-rank p95 would sit on the boundary between the two, and the probes' own durations tip
   * it over.)
   */
  const feed = (dep: ReturnType<typeof adaptive>, n: number, fast: number) =>
    Effect.gen(function*() {
      for (let i = 1; i <= n; i++) yield* dep.call(i % 25 === 0 ? 200 : fast, fast)
    })

  const near = (actual: number, expected: number, label: string) =>
    assert.isAtMost(Math.abs(actual - expected), expected / 32 + 1e-9, `${label}: ${actual} vs ${expected}`)

  it.effect("starts at maxDelay until minSamples, then follows the p95, and follows it when it shifts", () =>
    Effect.gen(function*() {
      const dep = adaptive()
      // fewer than 20 durations known: the delay is maxDelay (1 s)
      assert.strictEqual(yield* dep.delay, 1_000)
      yield* feed(dep, 18, 10)
      assert.strictEqual(yield* dep.delay, 1_000, "20 durations, the probes' included: the 20th is this one's")
      // ~200 calls, 96 % at 10 ms and 4 % at 200 ms: the p95 is 10 ms
      yield* feed(dep, 200, 10)
      near(yield* dep.delay, 10, "p95 of mostly 10 ms")
      // mostly 50 ms: the 50 ms calls soon make more than 5 % of the window, and the p95 follows them up
      yield* feed(dep, 200, 50)
      near(yield* dep.delay, 50, "p95 after the shift to 50 ms")
      // back to 10 ms: within the minute, the 50 ms durations still make the p95
      yield* feed(dep, 400, 10)
      near(yield* dep.delay, 50, "the 50 ms durations are still in the window")
      // more than a minute of 10 ms calls later, they have left the window: the delay follows down
      const before = yield* Clock.currentTimeMillis
      while ((yield* Clock.currentTimeMillis) - before < 61_000) yield* feed(dep, 100, 10)
      near(yield* dep.delay, 10, "p95 after the window rolled")
    }).pipe(Effect.provide(Errors)), { timeout: 20_000 })

  it.effect("the adaptive delay is kept within minDelay and maxDelay", () =>
    Effect.gen(function*() {
      const calls = (hedge: Record<string, unknown>) => {
        let invocation = 0
        let primary = 0
        let hedgeMillis = 1
        let starts: Array<number> = []
        const effect = Effect.suspend(() => {
          const millis = invocation++ === 0 ? primary : hedgeMillis
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            starts.push(now)
            return Effect.sleep(`${millis} millis`)
          })
        }).pipe(protect({ operation: "bounded", hedge: { idempotent: true, delay: "p50", minSamples: 5, ...hedge } }))
        return (millis: number, hedge = 1) =>
          Effect.gen(function*() {
            primary = millis
            hedgeMillis = hedge
            invocation = 0
            starts = []
            const fiber = yield* Effect.forkChild(effect)
            yield* TestClock.adjust(`${Math.max(millis, hedge)} millis`)
            yield* Fiber.join(fiber)
            return starts.length > 1 ? starts[1]! - starts[0]! : undefined
          })
      }
      // durations of 2 ms with a floor of 30 ms: the delay is 30 ms
      const floored = calls({ minDelay: "30 millis" })
      for (let i = 0; i < 10; i++) yield* floored(2)
      assert.strictEqual(yield* floored(1_000), 30)
      // a ceiling of 50 ms: the delay before minSamples, and the bound of a p50 above it
      const capped = calls({ maxDelay: "50 millis" })
      assert.strictEqual(yield* capped(1_000), 50)
      for (let i = 0; i < 9; i++) assert.isUndefined(yield* capped(40), "40 ms calls are not hedged")
      const p50 = (yield* capped(1_000))!
      assert.isAtMost(Math.abs(p50 - 40), 40 / 32, `the p50 of 40 ms calls: ${p50}`)
      // 400 ms primaries whose hedges are slower still: the primaries win, and their 400 ms make the p50
      for (let i = 0; i < 30; i++) yield* capped(400, 2_000)
      assert.strictEqual(yield* capped(1_000), 50)
    }).pipe(Effect.provide(Errors)))
})
