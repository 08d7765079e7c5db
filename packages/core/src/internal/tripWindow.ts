import { Duration } from "effect"
import type * as TripRule from "../TripRule.js"

/** Why a rule tripped, as a transition reports it. */
export type TripReason = "consecutive_failures" | "failure_rate" | "slow_call_rate"

/**
 * The running counts of a breaker's trip rules for one closed period. `record` counts one call (its duration is
 * only read by slow-call rules, `now` only by time windows) and returns the reason of the first rule that trips,
 * if any. Updated synchronously by the fiber that completes the call, so each update is atomic.
 */
export interface Tripper {
  readonly record: (failure: boolean, millis: number, now: number) => TripReason | undefined
  /**
   * Takes new rules that are {@link compatible} with its own (same kinds and windows) and keeps its counts: a new
   * threshold, minimum of calls, number of failures or slow-call threshold applies from the next call.
   */
  readonly retune: (rules: ReadonlyArray<TripRule.TripRule>) => void
}

interface Counter {
  // counts one call; `flag` is whether it counts against the rule; returns true when the rule trips
  add(flag: boolean, now: number): boolean
  // a new threshold and minimum of calls, over the same window
  retune(minimumCalls: number, threshold: number): void
}

// the last `size` calls, as a ring of flags with a running sum
const countWindow = (size: number, minimumCalls: number, threshold: number): Counter => {
  const ring = new Uint8Array(size)
  let position = 0
  let filled = 0
  let flagged = 0
  return {
    add(flag) {
      if (filled === size) flagged -= ring[position]!
      else filled++
      const bit = flag ? 1 : 0
      ring[position] = bit
      flagged += bit
      position = position + 1 === size ? 0 : position + 1
      return filled >= minimumCalls && flagged / filled >= threshold
    },
    retune(calls, at) {
      minimumCalls = calls
      threshold = at
    }
  }
}

// the calls of the last `duration`, in `buckets` buckets with running totals; buckets that leave the window are
// subtracted as the window slides
const timeWindow = (duration: Duration.Duration, buckets: number, minimumCalls: number, threshold: number): Counter => {
  const bucketMillis = Duration.toMillis(duration) / buckets // at least 1 (validated)
  const calls = new Float64Array(buckets)
  const flags = new Float64Array(buckets)
  let head = -Infinity // the newest bucket number seen
  let totalCalls = 0
  let totalFlags = 0
  return {
    add(flag, now) {
      const id = Math.floor(now / bucketMillis)
      if (id <= head - buckets) {
        // the clock went back past the whole window: start again rather than ignore every call until it catches up
        head = -Infinity
        totalCalls = 0
        totalFlags = 0
        calls.fill(0)
        flags.fill(0)
      }
      if (id > head) {
        // clear the buckets between the last one written and this one (at most all of them)
        const from = head === -Infinity || id - head > buckets ? id - buckets + 1 : head + 1
        for (let k = from; k <= id; k++) {
          const slot = ((k % buckets) + buckets) % buckets
          totalCalls -= calls[slot]!
          totalFlags -= flags[slot]!
          calls[slot] = 0
          flags[slot] = 0
        }
        head = id
      }
      // a call a little in the past (within the window) goes to its own bucket
      const slot = ((id % buckets) + buckets) % buckets
      calls[slot]!++
      totalCalls++
      if (flag) {
        flags[slot]!++
        totalFlags++
      }
      return totalCalls >= minimumCalls && totalFlags / totalCalls >= threshold
    },
    retune(calls, at) {
      minimumCalls = calls
      threshold = at
    }
  }
}

const windowCounter = (window: TripRule.Window, minimumCalls: number, threshold: number): Counter =>
  window._tag === "Calls"
    ? countWindow(window.size, minimumCalls, threshold)
    : timeWindow(window.duration, window.buckets, minimumCalls, threshold)

/** Whether any rule reads the clock (time windows and slow-call rules). */
export const needsClock = (rules: ReadonlyArray<TripRule.TripRule>): boolean =>
  rules.some((rule) => rule._tag === "SlowCallRate" || (rule._tag === "FailureRate" && rule.window._tag === "Time"))

/** The slow-call threshold in milliseconds (the smallest of the rules'), or `Infinity` without a slow-call rule. */
export const slowThreshold = (rules: ReadonlyArray<TripRule.TripRule>): number =>
  rules.reduce((min, rule) => rule._tag === "SlowCallRate" ? Math.min(min, Duration.toMillis(rule.slowerThan)) : min, Infinity)

const describeWindow = (window: TripRule.Window): string =>
  window._tag === "Calls"
    ? `the last ${window.size} calls`
    : `the last ${Duration.format(window.duration)} in ${window.buckets} buckets`

const kindOf = (rule: TripRule.TripRule): string =>
  rule._tag === "Consecutive" ? "consecutive" : rule._tag === "FailureRate" ? "failureRate" : "slowCallRate"

const sameWindow = (a: TripRule.Window, b: TripRule.Window): boolean =>
  a._tag === "Calls"
    ? b._tag === "Calls" && a.size === b.size
    : b._tag === "Time" && a.buckets === b.buckets && Duration.toMillis(a.duration) === Duration.toMillis(b.duration)

/**
 * Whether counts kept for `before` can go on under `after`: the same number of rules, each of the same kind over
 * the same window (a new threshold, minimum of calls, number of failures or slow-call threshold is fine).
 * Undefined when they can, else why not.
 */
export const incompatibility = (
  before: ReadonlyArray<TripRule.TripRule>,
  after: ReadonlyArray<TripRule.TripRule>
): string | undefined => {
  if (before.length !== after.length) {
    return `the trip rules changed from ${before.length} to ${after.length} rule${after.length === 1 ? "" : "s"}`
  }
  for (let i = 0; i < before.length; i++) {
    const a = before[i]!
    const b = after[i]!
    const which = before.length === 1 ? "the trip rule" : `trip rule ${i}`
    if (a._tag !== b._tag) return `${which} changed kind, from ${kindOf(a)} to ${kindOf(b)}`
    if (a._tag !== "Consecutive" && b._tag !== "Consecutive" && !sameWindow(a.window, b.window)) {
      return `the window of ${which} (${kindOf(a)}) changed, from ${describeWindow(a.window)} to ${
        describeWindow(b.window)
      }`
    }
  }
  return undefined
}

// failures in a row; a success starts the count again
const consecutiveCounter = (limit: number) => {
  let run = 0
  const record = (failure: boolean): TripReason | undefined => {
    if (!failure) {
      run = 0
      return undefined
    }
    return ++run >= limit ? "consecutive_failures" : undefined
  }
  return Object.assign(record, {
    retune: (failures: number) => {
      limit = failures
    }
  })
}

// one rule's counts: `record` returns the rule's reason when it trips; `retune` takes the same rule's new numbers
interface Part {
  readonly record: (failure: boolean, millis: number, now: number) => TripReason | undefined
  readonly retune: (rule: TripRule.TripRule) => void
}

const partOf = (rule: TripRule.TripRule): Part => {
  switch (rule._tag) {
    case "Consecutive": {
      const counter = consecutiveCounter(rule.failures)
      return {
        record: (failure) => counter(failure),
        retune: (next) => {
          if (next._tag === "Consecutive") counter.retune(next.failures)
        }
      }
    }
    case "FailureRate": {
      const counter = windowCounter(rule.window, rule.minimumCalls, rule.threshold)
      return {
        record: (failure, _millis, now) => counter.add(failure, now) ? "failure_rate" : undefined,
        retune: (next) => {
          if (next._tag === "FailureRate") counter.retune(next.minimumCalls, next.threshold)
        }
      }
    }
    case "SlowCallRate": {
      const counter = windowCounter(rule.window, rule.minimumCalls, rule.threshold)
      let slowerThan = Duration.toMillis(rule.slowerThan)
      return {
        record: (_failure, millis, now) => counter.add(millis > slowerThan, now) ? "slow_call_rate" : undefined,
        retune: (next) => {
          if (next._tag !== "SlowCallRate") return
          counter.retune(next.minimumCalls, next.threshold)
          slowerThan = Duration.toMillis(next.slowerThan)
        }
      }
    }
  }
}

/** Fresh counts for `rules` (assumed valid). */
export const makeTripper = (rules: ReadonlyArray<TripRule.TripRule>): Tripper => {
  // the common case, one consecutive rule, without the loop
  if (rules.length === 1 && rules[0]!._tag === "Consecutive") {
    const counter = consecutiveCounter(rules[0]!.failures)
    return {
      record: counter,
      retune: (next) => {
        const rule = next[0]
        if (next.length === 1 && rule?._tag === "Consecutive") counter.retune(rule.failures)
      }
    }
  }
  const parts = rules.map(partOf)
  return {
    record: (failure, millis, now) => {
      // every rule counts the call, the first that trips names the reason
      let reason: TripReason | undefined
      for (const part of parts) {
        const tripped = part.record(failure, millis, now)
        if (reason === undefined) reason = tripped
      }
      return reason
    },
    retune: (next) => {
      if (next.length !== parts.length) return
      parts.forEach((part, i) => part.retune(next[i]!))
    }
  }
}
