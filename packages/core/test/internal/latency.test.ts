import { assert, describe, it } from "@effect/vitest"
import { bucketCount, bucketOf, CachedQuantile, LatencyWindow, upperOf, valueOf } from "../../src/internal/latency.js"

// within the documented error: 1/32 of the value (and exact to the microsecond below 16 µs)
const near = (actual: number | undefined, expected: number, label = "") => {
  assert.isDefined(actual, label)
  assert.isAtMost(Math.abs(actual! - expected), expected / 32 + 1e-12, `${label}: ${actual} vs ${expected}`)
}

// a small seeded PRNG (mulberry32), in [0, 1)
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("latency window", () => {
  it("buckets: exact below 16 µs, 16 per power of two above, monotone, the last one from 2^32 µs on", () => {
    for (let u = 0; u < 16; u++) {
      assert.strictEqual(bucketOf(u / 1000), u)
      assert.strictEqual(valueOf(u), u / 1000)
    }
    assert.strictEqual(bucketCount, 464)
    assert.strictEqual(bucketOf(0.016), 16)
    assert.strictEqual(bucketOf(0.031), 31)
    assert.strictEqual(bucketOf(0.032), 32)
    assert.strictEqual(bucketOf(0.033), 32, "from 32 µs on a bucket is 2 µs wide")
    assert.strictEqual(bucketOf(-5), 0)
    assert.strictEqual(bucketOf(Number.NaN), 0)
    assert.strictEqual(bucketOf((2 ** 32 - 1) / 1000), bucketCount - 1)
    assert.strictEqual(bucketOf(1e12), bucketCount - 1)
    assert.strictEqual(bucketOf(Infinity), bucketCount - 1)
    // every microsecond up to 2^20, then a geometric sweep past the cap: never decreasing, every bucket reached
    // (plain comparisons in the loops, one assertion after: a million assertions take seconds)
    let previous = 0
    let decrease: string | undefined
    const reached = new Set<number>()
    const sweep = (millis: number) => {
      const bucket = bucketOf(millis)
      if (bucket < previous || bucket >= bucketCount) decrease ??= `bucket ${bucket} of ${millis} ms after ${previous}`
      previous = bucket
      reached.add(bucket)
    }
    for (let u = 0; u < 2 ** 20; u++) sweep(u / 1000)
    for (let micros = 2 ** 20; micros < 2 ** 33; micros *= 1.001) sweep(micros / 1000)
    assert.isUndefined(decrease)
    assert.strictEqual(reached.size, bucketCount)
    // the values reported are strictly increasing with the bucket
    for (let b = 1; b < bucketCount; b++) assert.isAbove(valueOf(b), valueOf(b - 1))
  })

  it("reports every duration within 1/32 of it from 16 µs to the cap, and below to the microsecond", () => {
    const random = prng(42)
    let worst = 0
    for (let i = 0; i < 100_000; i++) {
      // log-uniform from 16 µs to ~71 minutes
      const millis = 0.016 * Math.pow(2, random() * 28)
      worst = Math.max(worst, Math.abs(valueOf(bucketOf(millis)) - millis) / millis)
    }
    assert.isAtMost(worst, 1 / 32)
    assert.isAbove(worst, 1 / 40, "the bound is nearly reached: buckets are not finer than documented")
    let below = 0
    let above = 0
    for (let i = 0; i < 10_000; i++) {
      const millis = random() * 0.016
      below = Math.max(below, millis - valueOf(bucketOf(millis)))
      above = Math.max(above, valueOf(bucketOf(millis)) - millis)
    }
    assert.isBelow(below, 0.001, "below 16 µs: the microsecond, rounded down")
    assert.strictEqual(above, 0)
  })

  it("nearest-rank percentiles of 1..1000 ms, and quantile agrees with them", () => {
    const w = new LatencyWindow()
    // shuffled, so order does not matter
    const random = prng(7)
    const values = Array.from({ length: 1000 }, (_, i) => i + 1)
    for (let i = values.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[values[i], values[j]] = [values[j]!, values[i]!]
    }
    for (const v of values) w.record(v, 1_000)
    const p = w.percentiles(1_000)
    assert.strictEqual(p.count, 1000)
    assert.strictEqual(w.count(1_000), 1000)
    near(p.p50, 500, "p50")
    near(p.p90, 900, "p90")
    near(p.p99, 990, "p99")
    near(p.max, 1000, "max")
    assert.strictEqual(w.quantile(0.5, 1_000), p.p50)
    assert.strictEqual(w.quantile(0.9, 1_000), p.p90)
    assert.strictEqual(w.quantile(0.99, 1_000), p.p99)
    assert.strictEqual(w.quantile(1, 1_000), p.max)
    near(w.quantile(0.001, 1_000), 1, "p0.1")
    near(w.quantile(0.25, 1_000), 250, "p25")
    near(w.quantile(0.95, 1_000), 950, "p95")
    // out-of-range quantiles clamp to the minimum and the maximum
    assert.strictEqual(w.quantile(0, 1_000), w.quantile(0.001, 1_000))
    assert.strictEqual(w.quantile(2, 1_000), p.max)
  })

  it("nearest rank is the smallest value with at least ceil(q × count) at or below it", () => {
    const w = new LatencyWindow()
    for (let u = 1; u <= 15; u++) w.record(u / 1000, 0)
    assert.strictEqual(w.quantile(0.1, 0), 0.002, "ceil(0.1 × 15) = 2: the 2nd smallest")
    assert.strictEqual(w.quantile(1 / 15, 0), 0.001)
    assert.strictEqual(w.quantile(0.5, 0), 0.008)
    // 0.07 × 100 is 7.000000000000001 in floating point, and still rank 7
    const hundred = new LatencyWindow()
    for (let i = 0; i < 93; i++) hundred.record(0.005, 0)
    for (let i = 0; i < 7; i++) hundred.record(0.003, 0)
    assert.strictEqual(hundred.quantile(0.07, 0), 0.003, "the 7th of 100 is the last 3 µs one")
    assert.strictEqual(hundred.quantile(0.08, 0), 0.005)
    // two values: the median is the lower, p90 the higher
    const two = new LatencyWindow()
    two.record(0.004, 0)
    two.record(0.009, 0)
    assert.deepStrictEqual(two.percentiles(0), { count: 2, p50: 0.004, p90: 0.009, p99: 0.009, max: 0.009 })
  })

  it("small durations are exact, one value is every percentile, and an empty window has none", () => {
    const w = new LatencyWindow()
    assert.strictEqual(w.count(0), 0)
    assert.isUndefined(w.quantile(0.5, 0))
    assert.deepStrictEqual(w.percentiles(0), { count: 0, p50: 0, p90: 0, p99: 0, max: 0 })
    w.record(0.005, 0)
    assert.deepStrictEqual(w.percentiles(0), { count: 1, p50: 0.005, p90: 0.005, p99: 0.005, max: 0.005 })
    const one = new LatencyWindow()
    one.record(123.456, 0)
    const p = one.percentiles(0)
    for (const value of [p.p50, p.p90, p.p99, p.max, one.quantile(0.95, 0)]) near(value, 123.456)
    assert.strictEqual(p.p50, p.max)
    // negative and NaN durations count as 0
    const odd = new LatencyWindow()
    odd.record(-3, 0)
    odd.record(Number.NaN, 0)
    assert.deepStrictEqual(odd.percentiles(0), { count: 2, p50: 0, p90: 0, p99: 0, max: 0 })
  })

  it("forgets a slot once it falls out of the window, slot by slot", () => {
    // 60 s in 6 slots of 10 s
    const w = new LatencyWindow({ windowMillis: 60_000, slots: 6 })
    w.record(10, 0)
    assert.strictEqual(w.count(59_999), 1, "still in the window")
    near(w.quantile(0.5, 59_999), 10)
    assert.strictEqual(w.count(70_000), 0, "gone after window + slot")
    assert.isUndefined(w.quantile(0.5, 70_000))

    const partial = new LatencyWindow({ windowMillis: 60_000, slots: 6 })
    for (let slot = 0; slot < 6; slot++) {
      for (let i = 0; i <= slot; i++) partial.record(100 * (slot + 1), slot * 10_000 + 5_000)
    }
    assert.strictEqual(partial.count(55_000), 21)
    near(partial.percentiles(55_000).max, 600)
    near(partial.quantile(0.01, 55_000), 100)
    // each new slot drops the oldest: its recordings leave the count and the percentiles
    const expected = [20, 18, 15, 11, 6, 0]
    for (let k = 0; k < 6; k++) {
      const now = (6 + k) * 10_000
      assert.strictEqual(partial.count(now), expected[k], `at ${now}`)
      if (expected[k]! > 0) {
        near(partial.quantile(0.01, now), 100 * (k + 2), `min at ${now}`)
        near(partial.percentiles(now).max, 600, `max at ${now}`)
      }
    }
    assert.deepStrictEqual(partial.percentiles(110_000), { count: 0, p50: 0, p90: 0, p99: 0, max: 0 })
    // the totals went back to zero, not below
    assert.isTrue(((partial as any).totals as Float64Array).every((n) => n === 0))
  })

  it("a jump of many windows clears everything, and time going backwards is counted in the newest slot", () => {
    const w = new LatencyWindow({ windowMillis: 6_000, slots: 6 })
    for (let t = 0; t < 6_000; t += 10) w.record(t / 100, t)
    assert.strictEqual(w.count(5_999), 600)
    assert.strictEqual(w.count(5_999 + 10 * 6_000), 0)
    w.record(5, 66_000)
    assert.strictEqual(w.count(66_000), 1)
    // backwards: no crash, counted once, in the newest slot (so it leaves with it)
    w.record(7, 1_000)
    w.record(9, -50_000)
    assert.strictEqual(w.count(66_500), 3)
    assert.strictEqual(w.count(0), 3)
    assert.strictEqual(w.count(71_999), 3)
    assert.strictEqual(w.count(72_000), 0)
    assert.strictEqual(w.recorded, 603)
    // a clock that is not a number never crashes either
    const fresh = new LatencyWindow()
    fresh.record(1, Number.NaN)
    assert.strictEqual(fresh.count(Number.NaN), 1)
    // negative times work like any others
    const negative = new LatencyWindow({ windowMillis: 6_000, slots: 6 })
    negative.record(1, -10_000)
    assert.strictEqual(negative.count(-4_001), 1)
    assert.strictEqual(negative.count(-4_000), 0)
  })

  it("keeps its memory fixed whatever it records", () => {
    const w = new LatencyWindow()
    w.record(1, 0)
    const shape = (window: LatencyWindow) => {
      const internal = window as any
      return {
        slots: (internal.counts as Array<Uint32Array>).length,
        lengths: (internal.counts as Array<Uint32Array>).map((c) => c.length),
        totals: (internal.totals as Float64Array).length,
        sizes: (internal.sizes as Float64Array).length,
        fields: Object.keys(internal).sort()
      }
    }
    const before = shape(w)
    const counts = (w as any).counts
    const random = prng(1)
    for (let i = 0; i < 1_000_000; i++) w.record(random() * 2_000, i * 0.5)
    assert.deepStrictEqual(shape(w), before)
    assert.strictEqual((w as any).counts, counts, "the same arrays, reused")
    assert.deepStrictEqual(before.lengths, Array(6).fill(bucketCount))
    assert.strictEqual(w.recorded, 1_000_001)
    // the recordings of the last six slots of 10 s (440 to 500 s), two per millisecond
    assert.strictEqual(w.count(499_999.5), 120_000)
    near(w.quantile(0.5, 499_999.5), 1_000, "p50 of uniform 0..2000")
  })

  it("a cached quantile is recomputed after refreshCount recordings or refreshMillis, not before", () => {
    const w = new LatencyWindow()
    const cached = new CachedQuantile(w, 0.5, 1_000, 10)
    assert.isUndefined(cached.get(0), "empty")
    w.record(100, 0)
    assert.isUndefined(cached.get(999), "neither 1 s nor 10 recordings yet")
    near(cached.get(1_000), 100, "after 1 s")
    for (let i = 0; i < 9; i++) w.record(500, 1_100)
    near(cached.get(1_100), 100, "9 recordings: not yet")
    w.record(500, 1_200)
    near(cached.get(1_200), 500, "the 10th recording refreshes")
    for (let i = 0; i < 20; i++) w.record(2_000, 1_300)
    near(cached.get(1_300), 2_000, "after 10 or more")
    // by time alone
    const timed = new LatencyWindow()
    const byTime = new CachedQuantile(timed, 0.9)
    timed.record(50, 0)
    near(byTime.get(0), 50)
    timed.record(800, 10)
    timed.record(800, 20)
    near(byTime.get(999), 50, "defaults: 1 s and 100 recordings")
    near(byTime.get(1_000), 800)
    // the window expiring is seen at the next refresh
    assert.isUndefined(byTime.get(70_000))
  })
})

describe("latency window: upper edges (the hedging delay)", () => {
  it("a bucket's upper edge is the next bucket's lower edge: no duration in it is longer", () => {
    for (let u = 0; u < 16; u++) assert.strictEqual(upperOf(u), (u + 1) / 1000)
    for (let b = 0; b < bucketCount - 1; b++) {
      const edge = Math.round(upperOf(b) * 1000) // in microseconds, exact
      assert.strictEqual(bucketOf((edge - 0.5) / 1000), b, `just below the upper edge of ${b}`)
      assert.strictEqual(bucketOf((edge + 0.5) / 1000), b + 1, `just above the upper edge of ${b}`)
      assert.isAbove(upperOf(b), valueOf(b))
    }
    // from 16 µs on, the upper edge is the midpoint plus half the bucket's width: within 1/16 of any value in it
    assert.strictEqual(upperOf(bucketOf(10)), 10.24)
    assert.strictEqual(valueOf(bucketOf(10)), 9.984)
    assert.strictEqual(upperOf(bucketOf(50)), 51.2)
  })

  it("quantile with the upper edge is the same bucket's upper edge", () => {
    const w = new LatencyWindow()
    for (let v = 1; v <= 1000; v++) w.record(v, 0)
    for (const q of [0.5, 0.9, 0.95, 0.99, 1]) {
      const middle = w.quantile(q, 0)!
      const upper = w.quantile(q, 0, "upper")!
      assert.strictEqual(upper, upperOf(bucketOf(middle)), `q ${q}`)
      assert.isAtLeast(upper, q * 1000, "no duration at or below the rank is longer than the upper edge")
      assert.isAtMost(upper, q * 1000 * (1 + 1 / 16))
    }
    assert.isUndefined(new LatencyWindow().quantile(0.5, 0, "upper"))
  })

  it("a cached quantile gives the upper edge, and is recomputed when time goes backwards", () => {
    const w = new LatencyWindow()
    const cached = new CachedQuantile(w, 0.95)
    for (let i = 0; i < 50; i++) w.record(10, 5_000)
    assert.strictEqual(cached.get(5_000), 10.24)
    for (let i = 0; i < 50; i++) w.record(50, 5_000)
    assert.strictEqual(cached.get(5_500), 10.24, "50 recordings and 500 ms: not yet")
    // an earlier time than the last computation: recomputed at once
    assert.strictEqual(cached.get(4_000), 51.2)
  })
})
