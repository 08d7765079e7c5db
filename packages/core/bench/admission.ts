/**
 * The admission-control scenarios (issue 16), in process (the Redis one, `ratelimit.shared`, is in `fleet.ts`):
 *
 * - `bulkhead.success`: a call through a bulkhead with room (limit 1000, nothing queued): ours, cockatiel's
 *   `bulkhead(1000)` and a bare `Semaphore.withPermits(1)` of effect's over a semaphore of 1000 permits, each
 *   against the bare call of its kind (a synchronous counting effect in a fiber, `await op()` for cockatiel).
 * - `ratelimit.acquire`: one permit of a local limiter that never runs out (1e9 per second): ours (`acquire` then
 *   the call, and `execute`), against effect 4.1's `effect/persistence/RateLimiter` on its memory store
 *   (`consume`, its default fixed window, then the call).
 * - `adaptive.goodput`: not a timing. The congestion simulation (`congestion.ts`, under TestClock: a dependency of
 *   8 servers behind a FIFO queue, 200 closed-loop clients with a 100 ms timeout inside the bulkhead) for each
 *   adaptive algorithm and for fixed limits; `goodput_ratio` is the best algorithm's goodput over the better of a
 *   fixed limit too low (2) and one too high (200), as the issue states it; `ratio_to_best_sweep` is the same over
 *   the best of a sweep of fixed limits around the knee (4 to 64): a limit tuned by someone who knew the knee.
 *
 * The effect cases run the call as `Effect.sync` (it counts its runs, so the suite checks that every call ran):
 * the cheapest effect there is, so the figure is the limiter's or the bulkhead's own cost, not a promise's.
 */
import { AdaptiveLimit, Bulkhead, RateLimiter } from "@effect-resilience/core"
import { bulkhead as cockatielBulkhead } from "cockatiel"
import { Duration, Effect, Semaphore } from "effect"
import { RateLimiter as EffectRateLimiter } from "effect/persistence"
import { TestClock } from "effect/testing"
import type { Contender, Scenario } from "./scenarios.js"

/** What the admission scenarios need of the suite's: the batch size and its counting operations. */
export interface Counting {
  readonly batch: number
  /** `() => Promise.resolve(1)`, counted. */
  readonly op: () => Promise<number>
  /** `Effect.sync(() => 1)`, counted. */
  readonly syncCall: Effect.Effect<number>
}

/** The window of every limiter here, and a limit no batch comes near. */
export const limiterWindow = "1 second"
export const limiterLimit = 1e9

const loop = <A, E, R>(effect: Effect.Effect<A, E, R>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* effect
    return n
  })
// the effect of each call made as the call is made, as a program does with a key it has only then
const loopWith = <A, E, R>(f: () => Effect.Effect<A, E, R>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* f()
    return n
  })
const promiseLoop = async (f: () => Promise<unknown>, n: number) => {
  for (let i = 0; i < n; i++) await f()
  return n
}

/** `bulkhead.success` and `ratelimit.acquire`. */
export const make = async ({ batch, op, syncCall }: Counting) => {
  const ours = await Effect.runPromise(Bulkhead.make("b", { limit: 1000 }))
  const cockatiel = cockatielBulkhead(1000)
  const semaphore = Semaphore.makeUnsafe(1000)
  const oursCall = ours.execute(syncCall)
  const semaphoreCall = Semaphore.withPermits(semaphore, 1, syncCall)
  const admitted = async () => (await Effect.runPromise(ours.state)).admitted
  // a bulkhead that kept a place, or a semaphore that kept a permit, would be timing something else
  const idle = async () => {
    const state = await Effect.runPromise(ours.state)
    // every permit of the semaphore free: taken at once, and given back
    const free = await Effect.runPromise(Effect.tap(
      Semaphore.takeIfAvailable(semaphore, 1000),
      (taken) => taken ? Semaphore.release(semaphore, 1000) : Effect.void
    ))
    if (state.inFlight !== 0 || state.queued !== 0 || cockatiel.executionSlots !== 1000 || !free) {
      throw new Error(
        `bulkhead.success: places still held (ours ${state.inFlight} in flight, ${state.queued} queued; cockatiel `
          + `${cockatiel.executionSlots} of 1000 free; the semaphore's 1000 permits ${free ? "" : "not "}all free)`
      )
    }
  }

  const limiter = await Effect.runPromise(RateLimiter.make("r", { limit: limiterLimit, window: limiterWindow }))
  const effectLimiter = await Effect.runPromise(
    EffectRateLimiter.make.pipe(Effect.provide(EffectRateLimiter.layerStoreMemory))
  )
  // built once, as a program holds its window: effect's `consume` would otherwise parse "1 second" on every call
  const window = Duration.seconds(1)
  const granted = async () => (await Effect.runPromise(limiter.state)).granted

  const scenarios: Array<Scenario> = [
    {
      id: "bulkhead.success",
      description: "a call through a bulkhead with room (limit 1000; semaphore: Semaphore.withPermits(1) of 1000)",
      calls: batch,
      tags: ["admission"],
      cases: [
        { contender: "floor-promise", opCalls: batch, run: () => promiseLoop(op, batch) },
        { contender: "floor-effect", opCalls: batch, run: () => Effect.runPromise(loop(syncCall, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: () => Effect.runPromise(loop(oursCall, batch)),
          counted: admitted,
          after: idle
        },
        {
          contender: "cockatiel",
          opCalls: batch,
          run: () => promiseLoop(() => cockatiel.execute(op), batch),
          after: idle
        },
        {
          contender: "semaphore",
          opCalls: batch,
          run: () => Effect.runPromise(loop(semaphoreCall, batch)),
          after: idle
        }
      ]
    },
    {
      id: "ratelimit.acquire",
      description: "one permit of a local rate limiter with permits to spare (1e9 per second, one key), then the call",
      calls: batch,
      tags: ["admission"],
      cases: [
        { contender: "floor-effect", opCalls: batch, run: () => Effect.runPromise(loop(syncCall, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: () => Effect.runPromise(loopWith(() => Effect.andThen(limiter.acquire("k"), syncCall), batch)),
          counted: granted
        },
        {
          contender: "effect-resilience-execute",
          opCalls: batch,
          run: () => Effect.runPromise(loopWith(() => limiter.execute(syncCall, "k"), batch)),
          counted: granted
        },
        {
          contender: "effect-rate-limiter",
          opCalls: batch,
          run: () =>
            Effect.runPromise(loopWith(
              () => Effect.andThen(effectLimiter.consume({ key: "k", limit: limiterLimit, window }), syncCall),
              batch
            ))
        }
      ]
    }
  ]

  const notes: Record<string, Partial<Record<Contender, string>>> = {
    "bulkhead.success": {
      "floor-promise": "await op() (op: () => Promise.resolve(1)), the floor of cockatiel",
      "floor-effect": "Effect.sync(() => 1) in a fiber, the floor of the effect cases",
      "effect-resilience": "Bulkhead.make(\"b\", { limit: 1000 }) (queue 0), bulkhead.execute(Effect.sync(() => 1)) "
        + "built once",
      "cockatiel": "cockatiel's bulkhead(1000) (queue 0), execute(op), one call after another",
      "semaphore": "Semaphore.withPermits(Semaphore.makeUnsafe(1000), 1, Effect.sync(() => 1)) built once: "
        + "the bare permit, no queue bound, no rejection, no figures"
    },
    "ratelimit.acquire": {
      "floor-effect": "Effect.sync(() => 1) in a fiber",
      "effect-resilience": "RateLimiter.make(\"r\", { limit: 1e9, window: \"1 second\" }) (token bucket, local): "
        + "limiter.acquire(\"k\") then the call, the effect made per call",
      "effect-resilience-execute": "the same limiter: limiter.execute(call, \"k\"), made per call",
      "effect-rate-limiter": "effect 4.1's RateLimiter.make on layerStoreMemory: consume({ key: \"k\", limit: 1e9, "
        + "window }) (its default fixed window, onExceeded \"fail\"; window a Duration built once) then the call, "
        + "made per call"
    }
  }

  return {
    scenarios,
    fields: (scenario: string, contender: Contender) => {
      const note = notes[scenario]?.[contender]
      return note === undefined ? {} : { note }
    }
  }
}

// --- adaptive.goodput -------------------------------------------------------------------------------------------

/** What `adaptive.goodput` needs of a simulation's figures (`congestion.ts`'s `Figures`). */
export interface SimulationFigures {
  readonly goodput: number
  readonly finalLimit: number
  readonly meanLimit: number
  readonly limitRange: readonly [number, number]
  readonly meanLatencyMs: number
  readonly timeouts: number
  readonly rejections: number
  readonly wasted: number
}

/** `congestion.ts`'s `simulate`, as `adaptive.goodput` calls it (under TestClock). */
export type Simulate = (options: {
  readonly limit: number | AdaptiveLimit.AdaptiveLimit
  readonly durationMillis?: number | undefined
  readonly warmUpMillis?: number | undefined
}) => Effect.Effect<SimulationFigures>

/** The row of `adaptive.goodput` in `bench/results.json`: a count, not a timing. */
export interface GoodputRow {
  readonly scenario: "adaptive.goodput"
  readonly contender: "effect-resilience"
  /** The best algorithm's goodput over the best fixed limit's. */
  readonly goodput_ratio: number
  readonly goodput: number
  readonly best_algorithm: string
  readonly best_fixed_limit: number
  readonly capacity: number
  /** Each algorithm's figures. */
  readonly algorithms: Readonly<Record<string, GoodputFigures>>
  /** Each fixed limit's. */
  readonly fixed: Readonly<Record<string, GoodputFigures>>
  /** The best algorithm's goodput over the best of the sweep of fixed limits around the knee, and that limit. */
  readonly ratio_to_best_sweep: number
  readonly best_sweep_limit: number
  readonly fixed_sweep: Readonly<Record<string, GoodputFigures>>
  readonly note: string
}

export interface GoodputFigures {
  readonly goodput: number
  readonly mean_limit: number
  readonly limit_range: readonly [number, number]
  readonly mean_latency_ms: number
  readonly timeouts: number
  readonly rejections: number
  readonly wasted: number
}

/** The algorithms `adaptive.goodput` runs, as the simulation test does. */
export const goodputAlgorithms: ReadonlyArray<readonly [string, AdaptiveLimit.AdaptiveLimit]> = [
  ["vegas", AdaptiveLimit.vegas()],
  ["gradient2 (min 1)", AdaptiveLimit.gradient2({ min: 1 })],
  ["gradient2", AdaptiveLimit.gradient2()],
  ["aimd", AdaptiveLimit.aimd()],
  ["aimd (timeout 25 ms)", AdaptiveLimit.aimd({ timeout: "25 millis" })]
]

/** The fixed limits it compares them with: one too low (2) and one too high (200) for the dependency's knee (8). */
export const goodputFixedLimits: ReadonlyArray<number> = [2, 200]

/** The sweep of fixed limits around the knee, for `ratio_to_best_sweep`. */
export const goodputSweep: ReadonlyArray<number> = [4, 8, 16, 32, 64]

const round1 = (x: number) => Math.round(x * 10) / 10
const round3 = (x: number) => Math.round(x * 1000) / 1000

/**
 * `adaptive.goodput`: every algorithm and every fixed limit through `simulate` (each on a TestClock of its own),
 * and the ratio of the best of each. The options shorten the runs and narrow the lists (the unit test's).
 */
export const goodput = async (
  simulate: Simulate,
  options: {
    readonly durationMillis?: number | undefined
    readonly warmUpMillis?: number | undefined
    readonly algorithms?: ReadonlyArray<readonly [string, AdaptiveLimit.AdaptiveLimit]> | undefined
    readonly fixedLimits?: ReadonlyArray<number> | undefined
    readonly sweep?: ReadonlyArray<number> | undefined
    readonly log?: ((line: string) => void) | undefined
  } = {}
): Promise<GoodputRow> => {
  const algorithmList = options.algorithms ?? goodputAlgorithms
  const fixedLimits = options.fixedLimits ?? goodputFixedLimits
  const sweepLimits = options.sweep ?? goodputSweep
  const run = async (name: string, limit: number | AdaptiveLimit.AdaptiveLimit): Promise<GoodputFigures> => {
    const figures = await Effect.runPromise(
      simulate({ limit, durationMillis: options.durationMillis, warmUpMillis: options.warmUpMillis }).pipe(
        Effect.provide(TestClock.layer())
      )
    )
    options.log?.(`  ${name.padEnd(22)} goodput ${figures.goodput.toFixed(1).padStart(6)}/s, mean limit `
      + `${figures.meanLimit.toFixed(1)}, timeouts ${figures.timeouts}, rejections ${figures.rejections}`)
    return {
      goodput: round1(figures.goodput),
      mean_limit: round1(figures.meanLimit),
      limit_range: figures.limitRange,
      mean_latency_ms: round1(figures.meanLatencyMs),
      timeouts: figures.timeouts,
      rejections: figures.rejections,
      wasted: figures.wasted
    }
  }
  const fixed: Record<string, GoodputFigures> = {}
  for (const limit of fixedLimits) fixed[String(limit)] = await run(`fixed ${limit}`, limit)
  const algorithms: Record<string, GoodputFigures> = {}
  for (const [name, limit] of algorithmList) algorithms[name] = await run(name, limit)
  const sweep: Record<string, GoodputFigures> = {}
  for (const limit of sweepLimits) sweep[String(limit)] = await run(`fixed ${limit} (sweep)`, limit)
  const best = (figures: Record<string, GoodputFigures>) =>
    Object.keys(figures).reduce((a, b) => (figures[b]!.goodput > figures[a]!.goodput ? b : a))
  const bestAlgorithm = best(algorithms)
  const bestFixed = best(fixed)
  const top = algorithms[bestAlgorithm]!.goodput
  const bestSweep = sweepLimits.length === 0 ? undefined : best(sweep)
  return {
    scenario: "adaptive.goodput",
    contender: "effect-resilience",
    goodput_ratio: round3(top / Math.max(fixed[bestFixed]!.goodput, 1e-9)),
    goodput: top,
    best_algorithm: bestAlgorithm,
    best_fixed_limit: Number(bestFixed),
    capacity: 800,
    algorithms,
    fixed,
    ratio_to_best_sweep: bestSweep === undefined ? NaN : round3(top / Math.max(sweep[bestSweep]!.goodput, 1e-9)),
    best_sweep_limit: bestSweep === undefined ? NaN : Number(bestSweep),
    fixed_sweep: sweep,
    note: "The congestion simulation (congestion.ts, TestClock, deterministic): a dependency of 8 servers of 10 ms "
      + "behind one FIFO queue (capacity 800 calls/s, knee at 8 calls at once; an abandoned request is still "
      + "served), 200 closed-loop clients through a Bulkhead (queue 0) with a 100 ms timeout inside it, a refused "
      + "client thinking 20 ms; 10 virtual seconds counted after 3. goodput: successful calls per virtual second. "
      + `goodput_ratio: the best adaptive algorithm's (${goodputAlgorithms.map(([n]) => n).join(", ")}) over the `
      + `better of the fixed limits ${fixedLimits.join(" (too low) and ")} (too high), as the issue states it; `
      + `ratio_to_best_sweep: over the best of the fixed limits ${sweepLimits.join(", ")} (a limit tuned by someone `
      + "who knew the knee in advance)"
  }
}

/**
 * `congestion.ts`'s `simulate`, loaded from beside this module (`bench/congestion.ts`, compiled with the bench),
 * or why it is not there.
 */
export const loadSimulate = async (): Promise<Simulate | string> => {
  const url = new URL("./congestion.js", import.meta.url)
  try {
    const module = (await import(url.href)) as { readonly simulate?: Simulate }
    return typeof module.simulate === "function" ? module.simulate : `${url.pathname} exports no simulate`
  } catch (error) {
    return `the congestion simulation is not beside the bench (${url.pathname}: `
      + `${error instanceof Error ? error.message.split("\n")[0] : String(error)})`
  }
}
