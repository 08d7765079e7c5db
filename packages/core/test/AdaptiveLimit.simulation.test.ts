import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { AdaptiveLimit } from "../src/index.js"
import { type Figures, simulate } from "../bench/congestion.js"

// The dependency of support/congestion.ts with its defaults: 8 servers of 10 ms behind a FIFO queue (capacity
// 800 calls per second, the knee at 8 calls at once), 200 closed-loop clients, a 100 ms client timeout inside the
// bulkhead, abandoned requests still served; 10 virtual seconds, counted after 3. Every run is deterministic
// (TestClock, and the bulkhead's jitter is seeded by its name).
const servers = 8
const capacity = servers * (1000 / 10)

// A limit of L calls at once makes each call wait about 10 ms × L / 8. The band [S, 4S] for the mean limit: never
// below the knee on average (no server left idle), never so far above it that latency nears the timeout (4S is
// 40 ms, 40% of it; at 10S = 80 every call times out and goodput collapses, as at the fixed 200).
const kneeBand = [servers, 4 * servers] as const

const show = (name: string, figures: Figures) =>
  console.log(
    `${name.padEnd(28)} goodput ${figures.goodput.toFixed(1).padStart(6)}/s  limit: final ${figures.finalLimit}, ` +
      `mean ${figures.meanLimit.toFixed(1)}, range ${figures.limitRange.join("–")}  latency ` +
      `${figures.meanLatencyMs.toFixed(1)} ms  timeouts ${figures.timeouts}  rejections ${figures.rejections}  ` +
      `wasted ${figures.wasted}`
  )

// the fixed limits every algorithm is compared with, measured once (each test has its own TestClock)
let fixed: { readonly high: Figures; readonly low: Figures } | undefined
const fixedLimits = Effect.suspend(() =>
  fixed !== undefined ? Effect.succeed(fixed) : Effect.gen(function*() {
    const high = yield* simulate({ limit: 200 })
    const low = yield* simulate({ limit: 2 })
    show("fixed 200 (too high)", high)
    show("fixed 2 (too low)", low)
    return fixed = { high, low }
  })
)

const adaptive = (name: string, limit: AdaptiveLimit.AdaptiveLimit) =>
  Effect.gen(function*() {
    const { high, low } = yield* fixedLimits
    const figures = yield* simulate({ limit })
    show(name, figures)
    assert.isTrue(figures.goodput > low.goodput && figures.goodput > high.goodput, `goodput ${figures.goodput}`)
    assert.isTrue(figures.goodput <= capacity * 1.01)
    return figures
  })

const within = (value: number, [low, high]: readonly [number, number]) =>
  assert.isTrue(value >= low && value <= high, `${value} not in [${low}, ${high}]`)

describe("AdaptiveLimit under congestion", () => {
  it.effect("a fixed limit too high collapses (calls time out behind abandoned ones); too low wastes capacity", () =>
    Effect.gen(function*() {
      const { high, low } = yield* fixedLimits
      assert.isTrue(high.goodput < capacity * 0.05, `goodput ${high.goodput}`)
      assert.isTrue(high.timeouts > 0 && high.wasted > 0)
      // 2 calls at once of 10 ms each
      within(low.goodput, [195, 205])
      assert.strictEqual(low.timeouts, 0)
    }), 30_000)

  it.effect("Vegas settles near the knee, at nearly all the capacity", () =>
    Effect.gen(function*() {
      const figures = yield* adaptive("vegas (defaults)", AdaptiveLimit.vegas())
      assert.isTrue(figures.goodput >= capacity * 0.9, `goodput ${figures.goodput}`)
      within(figures.meanLimit, kneeBand)
      assert.isTrue(figures.limitRange[1] < 8 * servers)
      assert.strictEqual(figures.timeouts, 0)
    }), 30_000)

  it.effect("Gradient2 settles near the knee, at nearly all the capacity", () =>
    Effect.gen(function*() {
      // Netflix's minimum of 20 is above this dependency's knee: lowered, as its documentation advises
      const figures = yield* adaptive("gradient2 (min 1)", AdaptiveLimit.gradient2({ min: 1 }))
      assert.isTrue(figures.goodput >= capacity * 0.9, `goodput ${figures.goodput}`)
      within(figures.meanLimit, kneeBand)
      assert.isTrue(figures.limitRange[1] < 8 * servers)
      assert.strictEqual(figures.timeouts, 0)
    }), 30_000)

  it.effect("Gradient2 with Netflix's defaults (minimum 20) still beats both fixed limits", () =>
    Effect.gen(function*() {
      const figures = yield* adaptive("gradient2 (defaults)", AdaptiveLimit.gradient2())
      assert.isTrue(figures.goodput >= capacity * 0.75, `goodput ${figures.goodput}`)
      assert.isTrue(figures.limitRange[0] >= 20)
    }), 30_000)

  it.effect("AIMD with its defaults beats both fixed limits, in a sawtooth driven by the timeouts", () =>
    Effect.gen(function*() {
      // it learns of overload only from drops, 100 ms late, when a whole cohort of calls times out together
      const figures = yield* adaptive("aimd (defaults)", AdaptiveLimit.aimd())
      assert.isTrue(figures.goodput >= capacity * 0.5, `goodput ${figures.goodput}`)
      assert.isTrue(figures.timeouts > 0)
    }), 30_000)

  it.effect("AIMD with a latency budget as its timeout settles near the knee", () =>
    Effect.gen(function*() {
      // a call slower than 25 ms (2.5 × the service time) is a drop: it backs off before the client times out
      const figures = yield* adaptive("aimd (timeout 25 ms)", AdaptiveLimit.aimd({ timeout: "25 millis" }))
      assert.isTrue(figures.goodput >= capacity * 0.7, `goodput ${figures.goodput}`)
      within(figures.meanLimit, [servers / 2, 3 * servers])
      assert.strictEqual(figures.timeouts, 0)
    }), 30_000)
})
