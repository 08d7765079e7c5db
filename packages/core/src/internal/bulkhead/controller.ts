import { Duration } from "effect"
import type * as AdaptiveLimit from "../../AdaptiveLimit.js"

// The state of an adaptive limit: Netflix concurrency-limits' AIMD, Gradient2 and Vegas update rules, one call's
// sample at a time. The bulkhead runs `update` once per call on its exit path, so it is synchronous and allocates
// nothing. The estimate is kept as a real number (Gradient2 and Vegas move it by fractions); the limit the
// bulkhead applies is its floor, within [min, max].
//
// A sample whose latency is not a positive number (a call that finished within the clock's resolution) carries no
// latency: the latency rules (Gradient2, Vegas) skip it, and only a drop still counts (Vegas shrinks on it).

/**
 * One call's outcome, as a limit reads it: its latency from admission to exit, the calls in flight when it was
 * admitted (itself included, as Netflix's limiters count them), and whether it was dropped (timed out, or failed
 * with an overload error).
 */
export interface Sample {
  readonly rttMillis: number
  readonly inFlight: number
  readonly dropped: boolean
}

/** The running state of one adaptive limit. */
export interface Controller {
  /** Takes one call's sample and returns the new limit: an integer in [min, max]. */
  readonly update: (sample: Sample) => number
  /**
   * What the limit measures, for the bulkhead's state: the latency it takes as the no-load one (Vegas: the lowest
   * since the last probe; Gradient2: the long-term average) and Gradient2's last gradient.
   */
  readonly figures: () => { readonly minRttMillis?: number | undefined; readonly gradient?: number | undefined }
}

const noFigures: ReturnType<Controller["figures"]> = {}

const clamp = (n: number, low: number, high: number) => n < low ? low : n > high ? high : n

const limitOf = (estimate: number, min: number, max: number) => clamp(Math.floor(estimate), min, max)

const aimd = (limit: AdaptiveLimit.Aimd): Controller => {
  const { backoffRatio, max, min } = limit
  const timeoutMillis = Duration.toMillis(limit.timeout)
  let current = limit.initial
  return {
    update: (sample) => {
      if (sample.dropped || sample.rttMillis > timeoutMillis) {
        current = Math.max(min, Math.min(current - 1, Math.floor(current * backoffRatio)))
      } else if (sample.inFlight * 2 >= current) {
        current = Math.min(max, current + 1)
      }
      return current
    },
    figures: () => noFigures
  }
}

// Gradient2's long-term latency: a plain average over the first samples, then an exponential average over
// `longWindow` samples (Netflix's ExpAvgMeasurement with a warm-up of 10).
const warmUp = 10

const gradient2 = (limit: AdaptiveLimit.Gradient2): Controller => {
  const { max, min, queueSize, rttTolerance, smoothing } = limit
  const factor = 2 / (limit.longWindow + 1)
  let estimate = limit.initial
  let longRtt = 0
  let warmUpSum = 0
  let warmUpCount = 0
  let gradient: number | undefined
  return {
    update: (sample) => {
      const shortRtt = sample.rttMillis
      if (!(shortRtt > 0 && Number.isFinite(shortRtt))) return limitOf(estimate, min, max)
      if (warmUpCount < warmUp) {
        warmUpCount++
        warmUpSum += shortRtt
        longRtt = warmUpSum / warmUpCount
      } else {
        longRtt = longRtt * (1 - factor) + shortRtt * factor
      }
      const long = longRtt
      // latency is back to normal after a long overload: bring the long-term latency down faster than the average
      if (long / shortRtt > 2) longRtt = long * 0.95
      // the caller, not the dependency, limits the traffic: nothing to learn about the limit (but from a drop)
      if (!sample.dropped && sample.inFlight < estimate / 2) return limitOf(estimate, min, max)
      // Two changes from Netflix's Gradient2, both from its PR #134 and the discussion there (open upstream):
      // - a drop takes the largest step down (gradient 0.5), as AIMD and Vegas shrink on one. Netflix ignores
      //   drops, so when every call times out (each sample is the timeout, the long-term average converges to it,
      //   and the gradient is 1) the limit climbs to its maximum and stays there (its issue #137).
      // - the limit grows by `queueSize` only while latency holds (gradient 1): added while latency is rising,
      //   it balances a gradient below 1 (`L × g + queueSize = L` at `L = queueSize / (1 − g)`), so under a
      //   steady overload the limit settles far above the dependency's capacity, its queue timing calls out.
      const g = sample.dropped ? 0.5 : clamp(rttTolerance * long / shortRtt, 0.5, 1)
      gradient = g
      const next = estimate * g + (g === 1 ? queueSize : 0)
      estimate = clamp(estimate * (1 - smoothing) + next * smoothing, min, max)
      return limitOf(estimate, min, max)
    },
    figures: () => ({ minRttMillis: warmUpCount === 0 ? undefined : longRtt, gradient })
  }
}

// Vegas's steps: log10 of the limit as Netflix's integer function has it, at least 1.
const log10 = (estimate: number) => Math.max(1, Math.floor(Math.log10(Math.max(1, Math.floor(estimate)))))

const vegas = (limit: AdaptiveLimit.Vegas, random: () => number): Controller => {
  const { alpha, beta, max, min, probeMultiplier, smoothing } = limit
  let estimate = limit.initial
  let rttNoLoad = 0 // none measured yet
  let probeCount = 0
  let probeJitter = 0.5 + random() * 0.5
  const apply = (next: number) => {
    estimate = estimate * (1 - smoothing) + clamp(next, min, max) * smoothing
    return limitOf(estimate, min, max)
  }
  return {
    update: (sample) => {
      const rtt = sample.rttMillis
      if (!(rtt > 0 && Number.isFinite(rtt))) {
        return sample.dropped ? apply(estimate - log10(estimate)) : limitOf(estimate, min, max)
      }
      probeCount++
      // measure the no-load latency afresh, as the dependency's own latency may have changed since
      if (probeJitter * probeMultiplier * estimate <= probeCount) {
        probeJitter = 0.5 + random() * 0.5
        probeCount = 0
        rttNoLoad = rtt
        return limitOf(estimate, min, max)
      }
      if (rttNoLoad === 0 || rtt < rttNoLoad) {
        rttNoLoad = rtt
        return limitOf(estimate, min, max)
      }
      const log = log10(estimate)
      if (sample.dropped) return apply(estimate - log)
      // not close to the limit: no evidence it could be higher
      if (sample.inFlight * 2 < estimate) return limitOf(estimate, min, max)
      const queue = Math.ceil(estimate * (1 - rttNoLoad / rtt))
      if (queue <= log) return apply(estimate + beta * log)
      if (queue < alpha * log) return apply(estimate + log)
      if (queue > beta * log) return apply(estimate - log)
      return limitOf(estimate, min, max)
    },
    figures: () => (rttNoLoad === 0 ? noFigures : { minRttMillis: rttNoLoad })
  }
}

/**
 * The controller of an adaptive limit, starting at its `initial` limit. `random` (numbers in [0, 1)) draws Vegas's
 * probe jitter; pass a fixed one in tests.
 */
export const make = (limit: AdaptiveLimit.AdaptiveLimit, random: () => number): Controller => {
  switch (limit._tag) {
    case "Aimd":
      return aimd(limit)
    case "Gradient2":
      return gradient2(limit)
    case "Vegas":
      return vegas(limit, random)
  }
}
