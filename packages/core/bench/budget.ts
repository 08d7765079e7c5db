/**
 * The scenarios of issue 17 (retry budgets and hedged requests), tagged `budget`:
 *
 * - `budget.check` (timed): the added cost of a retry budget on `protect`'s success path. Its floor
 *   (`floor-effect`) is the same `protect` without a budget, so `effect-resilience` (`budget: "b"`) minus the floor
 *   is the budget's own cost (its deposit), next to `effect-sync-step`: the floor plus one empty `Effect.sync` step
 *   in the same loop, the unit the budget is stated in so that it does not depend on the machine. All three run on
 *   one ManagedRuntime of the full `ErrorLayer` (metrics and tracker over the observation seam, as a program has
 *   them), the call a synchronous counting effect, so that the figures are protect's and the budget's.
 * - `budget.storm` (a count, under TestClock): a dependency failing 50 % of calls for 30 s, then 100 % for 30 s, at
 *   a steady rate, called through `protect` with 3 attempts; `load_amplification` = calls reaching the dependency
 *   over calls made, without a budget (`no-budget`) and with the default one (`effect-resilience`).
 * - `hedge.tail` (a count, under TestClock): a dependency whose latency is 10 ms for 98 % of calls and 500 ms for
 *   2 %, called through `protect` without a hedge (`no-hedge`), with a fixed hedge delay
 *   (`effect-resilience-fixed`) and with the adaptive p95 delay (`effect-resilience`); `p99_ms`, `p999_ms` of the
 *   calls' durations (from the Clock at each call's start and end, exact over every call) and `extra_load_pct`.
 */
import { CommonErrors, ErrorLayer, protect, RetryBudgetRegistry } from "@effect-resilience/core"
import { Clock, Context, Effect, Exit, Fiber, Layer, Logger, ManagedRuntime } from "effect"
import { TestClock } from "effect/testing"
import type { Contender, Scenario } from "./scenarios.js"

/** What the budget scenarios need of the suite's: the batch size and its counting call. */
export interface Counting {
  readonly batch: number
  /** `Effect.sync(() => 1)`, counted. */
  readonly syncCall: Effect.Effect<number>
}

const silent = Logger.layer([])
const round3 = (x: number) => Math.round(x * 1000) / 1000

/** `n` runs of `effect` in one fiber (also the chaos scenarios' loop). */
export const loop = <A, E, R>(effect: Effect.Effect<A, E, R>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* effect
    return n
  })
// one more step before each call, in the same loop: what one empty Effect.sync costs there
export const loopWithStep = <A, E, R>(step: Effect.Effect<void>, effect: Effect.Effect<A, E, R>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      yield* step
      yield* effect
    }
    return n
  })

/** `budget.check`'s budget name and operation. */
export const checkBudget = "b"
const checkOperation = "bench.budget"

/** `budget.check`. */
export const make = async ({ batch, syncCall }: Counting) => {
  const runtime = ManagedRuntime.make(Layer.merge(ErrorLayer.layer({ logFormat: false, budgets: {} }), silent))
  await runtime.runPromise(Effect.void)
  const plain = syncCall.pipe(protect({ operation: checkOperation }))
  const budgeted = syncCall.pipe(protect({ operation: checkOperation, budget: checkBudget }))
  // built once, as the protected effects are
  const step = Effect.sync(() => {})
  const state = RetryBudgetRegistry.budget(checkBudget).pipe(Effect.flatMap((budget) => budget.state))

  // The budget's own count of the calls deposited into it: one batch must move it by exactly its calls. It counts
  // over a window of wall time in slices of a second; a batch that crossed a slice's end could see deposits made
  // ten seconds earlier leave the count, so the read before a batch (the suite reads before and after each checked
  // batch) waits until the batch cannot cross one (a checked batch takes well under 100 ms).
  let reads = 0
  const deposited = async () => {
    if (reads++ % 2 === 0) {
      while (Date.now() % 1000 > 850) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return (await runtime.runPromise(state)).requests
  }
  // a call that succeeds retries nothing, so the budget gave and refused nothing
  const spentNothing = async () => {
    const now = await runtime.runPromise(state)
    if (now.retries !== 0 || now.granted !== 0 || now.refused !== 0) {
      throw new Error(`budget.check: the budget was spent on the success path (${JSON.stringify(now)})`)
    }
  }

  const scenarios: Array<Scenario> = [
    {
      id: "budget.check",
      description: "the retry budget's cost on protect's success path (floor: the same protect without a budget), "
        + "next to one empty Effect.sync step",
      calls: batch,
      tags: ["budget"],
      cases: [
        { contender: "floor-effect", opCalls: batch, run: () => runtime.runPromise(loop(plain, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: () => runtime.runPromise(loop(budgeted, batch)),
          counted: deposited,
          after: spentNothing
        },
        {
          contender: "effect-sync-step",
          opCalls: batch,
          run: () => runtime.runPromise(loopWithStep(step, plain, batch))
        }
      ]
    }
  ]

  const notes: Record<string, Partial<Record<Contender, string>>> = {
    "budget.check": {
      "floor-effect": `Effect.sync(() => 1).pipe(protect({ operation: "${checkOperation}" })) built once, on a `
        + "ManagedRuntime of ErrorLayer.layer({ logFormat: false, budgets: {} }): the floor of this scenario is "
        + "protect without a budget, so the added figure is the budget's own cost",
      "effect-resilience": `the same with budget: "${checkBudget}" (the default budget: Finagle's ratio, 20 %, `
        + "10 per second, 10 seconds), built once; the suite checks that every call deposited into it (its "
        + "requests grow by the batch) and that nothing was withdrawn",
      "effect-sync-step": "the floor's loop with one empty Effect.sync(() => {}) (built once, as the protected "
        + "effects are) yielded before each call: the step the budget's target is stated in (ours ≤ the step)"
    }
  }

  return {
    scenarios,
    fields: (scenario: string, contender: Contender) => {
      const note = notes[scenario]?.[contender]
      return note === undefined ? {} : { note }
    },
    dispose: () => runtime.dispose()
  }
}

// --- simulations under TestClock --------------------------------------------------------------------------------

/** A seeded generator of numbers in [0, 1) (mulberry32): the same draws on every run. */
export const seeded = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** What one simulated call knows of itself: read by the dependency (and by a hedge, forked from the call). */
interface CallInfo {
  readonly start: number
  readonly phase: number
  attempts: number
  /** When each attempt after the first started, from the call's start (a hedge's delay). */
  readonly laterStarts: Array<number>
}
const CurrentCall = Context.Reference<CallInfo | undefined>("bench/budget/CurrentCall", {
  defaultValue: () => undefined
})

/**
 * Calls `call` once every `intervalMillis` of virtual time, `calls` times, each in a fiber of its own forked at its
 * time (so slow calls and retries overlap as at a steady rate), then lets the last ones end; `onEnd` sees each
 * call's info, exit and duration.
 */
const steadyRate = <A, E, R>(options: {
  readonly calls: number
  readonly intervalMillis: number
  readonly phaseOf: (at: number) => number
  readonly call: Effect.Effect<A, E, R>
  readonly drainMillis: number
  readonly onEnd: (info: CallInfo, exit: Exit.Exit<A, E>, millis: number) => void
}) =>
  Effect.gen(function*() {
    const origin = yield* Clock.currentTimeMillis
    const fibers: Array<Fiber.Fiber<void>> = []
    for (let i = 0; i < options.calls; i++) {
      const start = yield* Clock.currentTimeMillis
      const info: CallInfo = { start, phase: options.phaseOf(start - origin), attempts: 0, laterStarts: [] }
      const one = Effect.exit(options.call).pipe(
        Effect.provideService(CurrentCall, info),
        Effect.flatMap((exit) =>
          Effect.map(Clock.currentTimeMillis, (end) => options.onEnd(info, exit, end - info.start))
        )
      )
      fibers.push(yield* Effect.forkChild(one, { startImmediately: true }))
      yield* TestClock.adjust(options.intervalMillis)
    }
    for (let waited = 0; waited < options.drainMillis; waited += 100) yield* TestClock.adjust(100)
    const open = fibers.filter((fiber) => fiber.pollUnsafe() === undefined).length
    if (open > 0) throw new Error(`${open} simulated calls still running after the drain`)
  })

const inTestClock = <A, E>(effect: Effect.Effect<A, E, ErrorLayer.Services>, layer: ErrorLayer.Options) =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(Layer.merge(ErrorLayer.layer(layer), silent)),
      Effect.provide(TestClock.layer())
    )
  )

// --- budget.storm -----------------------------------------------------------------------------------------------

/** A `budget.storm` row: a count, not a timing. */
export interface StormRow {
  readonly scenario: "budget.storm"
  readonly contender: "no-budget" | "effect-resilience"
  /** Calls reaching the dependency (attempts) over calls made, over the whole run. */
  readonly load_amplification: number
  /** The same for the calls made while the dependency failed half its calls, then all of them. */
  readonly load_amplification_50pct: number
  readonly load_amplification_100pct: number
  readonly calls: number
  readonly dependency_calls: number
  readonly succeeded: number
  /** Calls that succeeded, of those made in each phase. */
  readonly succeeded_50pct: number
  readonly succeeded_100pct: number
  /** Retries the budget refused (0 without one). */
  readonly retries_suppressed: number
  readonly rate_per_second: number
  readonly phase_seconds: number
  readonly note: string
}

/** The storm's settings; the defaults are the bench's. */
export interface StormOptions {
  /** Calls per virtual second (500). */
  readonly ratePerSecond?: number | undefined
  /** The length of each phase in virtual seconds (30): 50 % of calls failing, then 100 %. */
  readonly phaseSeconds?: number | undefined
  readonly seed?: number | undefined
}

const stormOperation = "dep.call"
const stormBudget = "dep"
const stormPolicies = { StorageError: { maxAttempts: 3, baseDelay: "10 millis" } }

/** One run of the storm: without a budget, or with the default one. */
export const storm = async (
  contender: StormRow["contender"],
  options: StormOptions = {}
): Promise<StormRow> => {
  const rate = options.ratePerSecond ?? 500
  const phaseSeconds = options.phaseSeconds ?? 30
  const random = seeded(options.seed ?? 17)
  const failure = new CommonErrors.StorageError({ operation: stormOperation })
  const phaseMillis = phaseSeconds * 1000
  const calls = Math.round(2 * phaseSeconds * rate)
  const attempts = [0, 0]
  const made = [0, 0]
  const succeeded = [0, 0]

  const program = Effect.gen(function*() {
    const origin = yield* Clock.currentTimeMillis
    // fails half its calls during the first phase, all of them after (by the time of each attempt)
    const dependency = Effect.withFiber((fiber) => {
      const info = fiber.getRef(CurrentCall)!
      info.attempts++
      const at = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() - origin
      const failing = at < phaseMillis ? random() < 0.5 : true
      return failing ? Effect.fail(failure) : Effect.succeed(1)
    })
    const call = contender === "no-budget"
      ? dependency.pipe(protect({ operation: stormOperation }))
      : dependency.pipe(protect({ operation: stormOperation, budget: stormBudget }))
    yield* steadyRate({
      calls,
      intervalMillis: 1000 / rate,
      phaseOf: (at) => (at < phaseMillis ? 0 : 1),
      call,
      drainMillis: 2000,
      onEnd: (info, exit) => {
        made[info.phase]!++
        attempts[info.phase]! += info.attempts
        if (Exit.isSuccess(exit)) succeeded[info.phase]!++
      }
    })
    const budget = yield* RetryBudgetRegistry.budget(stormBudget)
    return (yield* budget.state).refused
  })
  const suppressed = await inTestClock(program, { logFormat: false, policies: stormPolicies, budgets: {} })

  const total = made[0]! + made[1]!
  const reached = attempts[0]! + attempts[1]!
  if (total !== calls) throw new Error(`budget.storm ${contender}: ${total} of ${calls} calls ended`)
  const floorShare = 10 / rate
  return {
    scenario: "budget.storm",
    contender,
    load_amplification: round3(reached / total),
    load_amplification_50pct: round3(attempts[0]! / made[0]!),
    load_amplification_100pct: round3(attempts[1]! / made[1]!),
    calls: total,
    dependency_calls: reached,
    succeeded: succeeded[0]! + succeeded[1]!,
    succeeded_50pct: succeeded[0]!,
    succeeded_100pct: succeeded[1]!,
    retries_suppressed: suppressed,
    rate_per_second: rate,
    phase_seconds: phaseSeconds,
    note: `TestClock, deterministic (seeded draws): ${rate} calls per virtual second, each in a fiber of its own `
      + `forked at its time, for ${phaseSeconds} s while the dependency fails 50 % of calls (each attempt draws), `
      + `then ${phaseSeconds} s while it fails all of them; protect({ operation${
        contender === "no-budget" ? "" : `, budget: "${stormBudget}"`
      } }) on ErrorLayer({ budgets: {} }), policy maxAttempts 3, baseDelay 10 ms (then 20 ms), no jitter. `
      + "load_amplification: calls reaching the dependency (attempts) over calls made; per phase, of the calls made "
      + "in it. Without a budget, 3 attempts give 1 + 0.5 + 0.25 = 1.75 at 50 % and 3 at 100 %. The default budget "
      + "(20 % of the calls in its 10 s window, plus 10 retries per second) caps retries near 20 % of calls plus "
      + `10/rate: its floor of 10 per second adds ${round3(floorShare)} at ${rate} calls per second, so the bound `
      + `is ${round3(1.2 + floorShare)}, not 1.2 (at 50 calls per second the floor alone would add 0.2). `
      + "succeeded_50pct: calls of the first phase that succeeded (1 - 0.5^3 of them without a budget; a refused "
      + "retry gives up with the error, so fewer with one)"
  }
}

// --- hedge.tail -------------------------------------------------------------------------------------------------

/** A `hedge.tail` row: a count, not a timing. */
export interface TailRow {
  readonly scenario: "hedge.tail"
  readonly contender: "no-hedge" | "effect-resilience-fixed" | "effect-resilience"
  readonly p50_ms: number
  readonly p99_ms: number
  readonly p999_ms: number
  readonly max_ms: number
  /** Hedges started over calls, in percent (the dependency's own count of calls beyond one per call). */
  readonly extra_load_pct: number
  readonly calls: number
  readonly hedges: number
  /** The delay the hedges were started after (from the dependency's clock): median and range, all calls. */
  readonly hedge_delay_ms?: { readonly median: number; readonly min: number; readonly max: number } | undefined
  /** The same over the last quarter of the calls: what the adaptive delay converged to. */
  readonly hedge_delay_final_ms?: { readonly median: number; readonly min: number; readonly max: number } | undefined
  readonly hedge: string
  readonly note: string
}

/** The tail's settings; the defaults are the bench's. */
export interface TailOptions {
  /** Calls (20 000), one every `intervalMillis` (1: 1 000 per second). */
  readonly calls?: number | undefined
  readonly intervalMillis?: number | undefined
  readonly seed?: number | undefined
  /** The fast and the slow latency in milliseconds (10, 500), and the share of slow attempts (0.02). */
  readonly fastMillis?: number | undefined
  readonly slowMillis?: number | undefined
  readonly slowShare?: number | undefined
}

const tailOperation = "tail.call"
export const tailFixedDelay = "20 millis"


/** Nearest rank: the smallest value with at least `q` of the values at or below it. */
const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
const spread = (values: ReadonlyArray<number>) => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return { median: round3(quantile(sorted, 0.5)), min: round3(sorted[0]!), max: round3(sorted.at(-1)!) }
}

// what the adaptive delay ended at, and what that did: with 2 % of slow attempts the p95 is the fast latency
const converged = (delay: { readonly median: number }, fastMillis: number) =>
  `. The adaptive delay converged to ${delay.median} ms (median over the last quarter of the calls): with 2 % of `
  + `slow attempts the p95 is the fast latency (${fastMillis} ms)`
  + (delay.median < fastMillis
    ? `, and the delay is below it: the window reports a percentile as the midpoint of its histogram bucket (16 per `
      + `power of two), here under the ${fastMillis} ms every fast attempt takes, so nearly every call is hedged`
    : ", and at or above it, so only the slow attempts are hedged")

/** One run of the tail: without a hedge, with a fixed delay, or with the adaptive p95 one. */
export const tail = async (contender: TailRow["contender"], options: TailOptions = {}): Promise<TailRow> => {
  const calls = options.calls ?? 20_000
  const interval = options.intervalMillis ?? 1
  const random = seeded(options.seed ?? 17)
  const fastMillis = options.fastMillis ?? 10
  const slowMillis = options.slowMillis ?? 500
  const slowShare = options.slowShare ?? 0.02
  const durations: Array<number> = []
  const delays: Array<number> = []
  const finalDelays: Array<number> = []
  let reached = 0
  let ended = 0

  const program = Effect.gen(function*() {
    // each attempt (a hedge too) draws its own latency
    const dependency = Effect.withFiber((fiber) => {
      const info = fiber.getRef(CurrentCall)!
      reached++
      if (info.attempts++ > 0) info.laterStarts.push(fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() - info.start)
      return Effect.as(Effect.sleep(random() < slowShare ? slowMillis : fastMillis), 1)
    })
    const call = contender === "no-hedge"
      ? dependency.pipe(protect({ operation: tailOperation }))
      : contender === "effect-resilience-fixed"
      ? dependency.pipe(protect({ operation: tailOperation, hedge: { idempotent: true, delay: tailFixedDelay } }))
      : dependency.pipe(protect({ operation: tailOperation, hedge: { idempotent: true, delay: "p95" } }))
    yield* steadyRate({
      calls,
      intervalMillis: interval,
      phaseOf: () => 0,
      call,
      drainMillis: 2000,
      onEnd: (info, exit, millis) => {
        if (!Exit.isSuccess(exit)) throw new Error(`hedge.tail ${contender}: a call failed`)
        ended++
        durations.push(millis)
        const delay = info.laterStarts[0]
        if (delay !== undefined) {
          delays.push(delay)
          if (ended > calls * 0.75) finalDelays.push(delay)
        }
      }
    })
  })
  await inTestClock(program, { logFormat: false })

  if (ended !== calls) throw new Error(`hedge.tail ${contender}: ${ended} of ${calls} calls ended`)
  const sorted = [...durations].sort((a, b) => a - b)
  const hedges = reached - calls
  const finalDelay = spread(finalDelays)
  const hedge = contender === "no-hedge"
    ? "none"
    : contender === "effect-resilience-fixed"
    ? `{ idempotent: true, delay: "${tailFixedDelay}" }`
    : "{ idempotent: true, delay: \"p95\" } (defaults: maxHedges 1, minDelay 1 ms, maxDelay 1 s, minSamples 20)"
  return {
    scenario: "hedge.tail",
    contender,
    p50_ms: round3(quantile(sorted, 0.5)),
    p99_ms: round3(quantile(sorted, 0.99)),
    p999_ms: round3(quantile(sorted, 0.999)),
    max_ms: round3(sorted.at(-1)!),
    extra_load_pct: round3((hedges / calls) * 100),
    calls,
    hedges,
    hedge_delay_ms: spread(delays),
    hedge_delay_final_ms: finalDelay,
    hedge,
    note: `TestClock, deterministic (seeded draws): ${calls} calls, one every ${interval} ms of virtual time, each in `
      + `a fiber of its own forked at its time, through protect({ operation, hedge }) on ErrorLayer (no budget, no `
      + `retry: the dependency never fails); the dependency takes ${fastMillis} ms for ${100 - slowShare * 100} % `
      + `of attempts and ${slowMillis} ms for ${slowShare * 100} %, each attempt (a hedge too) drawing its own. `
      + "p50/p99/p999/max: nearest-rank percentiles of every call's duration (the Clock at its start and end), "
      + "exact, not the library's window; the adaptive delay's warm-up (maxDelay, 1 s, until 20 primary durations "
      + "are known) is included, with the default minSamples. extra_load_pct: attempts beyond one per call (hedges "
      + "started), over calls. hedge_delay_ms: the time from a call's start to its hedge's, as the dependency saw "
      + "it; hedge_delay_final_ms the same over the last quarter of the calls"
      + (contender !== "effect-resilience" || finalDelay === undefined ? "" : converged(finalDelay, fastMillis))
  }
}

/**
 * The rows of `budget.storm` and `hedge.tail`, each run on a TestClock of its own (`false`: that scenario is not
 * run).
 */
export const simulations = async (
  log: (line: string) => void,
  options: { readonly storm?: StormOptions | false | undefined; readonly tail?: TailOptions | false | undefined } = {}
): Promise<Array<StormRow | TailRow>> => {
  const rows: Array<StormRow | TailRow> = []
  for (const contender of options.storm === false ? [] : ["no-budget", "effect-resilience"] as const) {
    const row = await storm(contender, options.storm || undefined)
    log(`  budget.storm ${contender.padEnd(24)} load amplification ${row.load_amplification.toFixed(3)} `
      + `(50 %: ${row.load_amplification_50pct.toFixed(3)}, 100 %: ${row.load_amplification_100pct.toFixed(3)})`)
    rows.push(row)
  }
  const tails = ["no-hedge", "effect-resilience-fixed", "effect-resilience"] as const
  for (const contender of options.tail === false ? [] : tails) {
    const row = await tail(contender, options.tail || undefined)
    log(`  hedge.tail   ${contender.padEnd(24)} p99 ${row.p99_ms} ms, p99.9 ${row.p999_ms} ms, `
      + `extra load ${row.extra_load_pct} %`)
    rows.push(row)
  }
  return rows
}
