/**
 * The rate-limiting algorithms, as plain arithmetic on one key's state: no effects, no allocation on a decision,
 * so the local limiter decides synchronously and the shared one runs the same rules on the tokens it leased.
 *
 * Every decision answers with a number: `>= 0`, the permits were taken and the call may start after that many
 * milliseconds (0: at once; more: a reservation waited out by the caller); `< 0`, refused, and `-result` is the
 * number of milliseconds until the permits would be there.
 *
 * - **Token bucket**: `limit` tokens at most, refilled continuously at `limit` per `window`, counted in integer
 *   units (a token is `window` units, the bucket gains `limit` units a millisecond), so refills never drift. A
 *   reservation takes the tokens at once (the bucket goes below zero), so waiting calls are served in the order
 *   they asked; the last caller to reserve gives its tokens back if it gives up.
 * - **Fixed window**: at most `limit` permits per calendar window (windows start at multiples of `window` since
 *   the epoch, so every replica has the same windows).
 * - **Sliding window**: the two-window estimate: the permits of the current window plus those of the previous one
 *   weighted by the part of it still inside the sliding window. Memory is two counts per key; the estimate
 *   assumes the previous window's permits were spread evenly.
 */

/** One key's state. Which fields are used depends on the algorithm. */
export interface KeyState {
  /**
   * Token bucket: the tokens times the window in milliseconds (an integer while times are whole milliseconds, so
   * refills never drift; negative: reserved ahead). Windows: the current window's count.
   */
  value: number
  /** Token bucket: when `value` was last refilled. Windows: the current window's start. */
  at: number
  /** Sliding window: the previous window's count. */
  previous: number
  /** Token bucket: the number of the last reservation (a give-back only counts for the last one). */
  seq: number
}

export type Algorithm = "token-bucket" | "sliding-window" | "fixed-window"

export interface Rules {
  readonly algorithm: Algorithm
  readonly limit: number
  readonly windowMillis: number
}

export const fresh = (rules: Rules, now: number): KeyState =>
  rules.algorithm === "token-bucket"
    ? { value: rules.limit * rules.windowMillis, at: now, previous: 0, seq: 0 }
    : { value: 0, at: windowStart(rules, now), previous: 0, seq: 0 }

const windowStart = (rules: Rules, now: number) => now - (now % rules.windowMillis)

// brings a window state up to `now`: a new window moves the current count to the previous one
const roll = (rules: Rules, state: KeyState, now: number) => {
  const start = windowStart(rules, now)
  if (start === state.at) return
  state.previous = start - state.at === rules.windowMillis ? state.value : 0
  state.value = 0
  state.at = start
}

// one token is `windowMillis` units, and the bucket gains `limit` units per millisecond
const refill = (rules: Rules, state: KeyState, now: number) => {
  if (now > state.at) {
    state.value = Math.min(rules.limit * rules.windowMillis, state.value + (now - state.at) * rules.limit)
    state.at = now
  }
}

// the sliding estimate at `now` (state rolled), times the window: exact in integers
const usedTimesWindow = (rules: Rules, state: KeyState, now: number) =>
  state.value * rules.windowMillis + state.previous * (rules.windowMillis - (now - state.at))

/**
 * Takes `permits` (an integer from 1 to `limit`: the limiter refuses more before asking) for a key at `now`,
 * waiting at most `maxWaitMillis` (a reservation: token bucket only; the windows answer how long until the
 * permits are there, and the caller tries again then).
 */
export const take = (rules: Rules, state: KeyState, permits: number, now: number, maxWaitMillis: number): number => {
  const W = rules.windowMillis
  switch (rules.algorithm) {
    case "token-bucket": {
      refill(rules, state, now)
      const needed = permits * W
      if (state.value >= needed) {
        state.value -= needed
        return 0
      }
      const wait = Math.ceil((needed - state.value) / rules.limit)
      if (wait <= maxWaitMillis) {
        state.value -= needed
        state.seq++
        return wait
      }
      return -Math.max(1, wait)
    }
    case "fixed-window": {
      roll(rules, state, now)
      if (state.value + permits <= rules.limit) {
        state.value += permits
        return 0
      }
      return -Math.max(1, state.at + W - now)
    }
    case "sliding-window": {
      roll(rules, state, now)
      if (usedTimesWindow(rules, state, now) + permits * W <= rules.limit * W) {
        state.value += permits
        return 0
      }
      return -Math.max(1, Math.ceil(slidingWait(rules, state, permits, now)))
    }
  }
}

// how long until the sliding estimate leaves room for `permits` (each division of integers, so a whole result is
// exact)
const slidingWait = (rules: Rules, state: KeyState, permits: number, now: number): number => {
  const W = rules.windowMillis
  const elapsed = now - state.at
  const room = rules.limit - permits - state.value
  // within the current window, the previous window's weight falls: p * (W - elapsed - t) <= room * W
  if (room >= 0 && state.previous > 0) return Math.max(0, (W * (state.previous - room)) / state.previous - elapsed)
  // from the next window on, the current count becomes the previous one: c * (W - t) <= (limit - permits) * W
  const untilNext = W - elapsed
  const rest = rules.limit - permits
  if (state.value <= rest) return untilNext
  return untilNext + (W * (state.value - rest)) / state.value
}

/**
 * Gives back the tokens of a reservation whose caller gave up before its turn, when it is the key's last one:
 * the reservations after it were timed with its tokens taken, and a token handed back behind them would let a
 * newcomer start with the next one at once (a burst over the limit). Token bucket only.
 */
export const giveBack = (rules: Rules, state: KeyState, permits: number, reservation: number): void => {
  if (rules.algorithm !== "token-bucket" || state.seq !== reservation) return
  state.value = Math.min(rules.limit * rules.windowMillis, state.value + permits * rules.windowMillis)
}

/** The permits left for a key at `now`, and the milliseconds until all are back (the `RateLimit` header's `t`). */
export const remaining = (rules: Rules, state: KeyState, now: number): { remaining: number; resetAfterMillis: number } => {
  const W = rules.windowMillis
  switch (rules.algorithm) {
    case "token-bucket": {
      refill(rules, state, now)
      return {
        remaining: Math.max(0, Math.floor(state.value / W)),
        resetAfterMillis: Math.ceil((rules.limit * W - state.value) / rules.limit)
      }
    }
    case "fixed-window": {
      roll(rules, state, now)
      return {
        remaining: Math.max(0, rules.limit - state.value),
        resetAfterMillis: state.value === 0 ? 0 : state.at + W - now
      }
    }
    case "sliding-window": {
      roll(rules, state, now)
      const used = usedTimesWindow(rules, state, now)
      return {
        remaining: Math.max(0, Math.floor((rules.limit * W - used) / W)),
        resetAfterMillis: used <= 0 ? 0 : state.at + W - now + (state.value > 0 ? W : 0)
      }
    }
  }
}

/** Whether a key's state is the same as a fresh one at `now` (it can be forgotten without changing a decision). */
export const isIdle = (rules: Rules, state: KeyState, now: number): boolean => {
  if (rules.algorithm === "token-bucket") {
    refill(rules, state, now)
    return state.value >= rules.limit * rules.windowMillis
  }
  roll(rules, state, now)
  return state.value === 0 && (rules.algorithm === "fixed-window" || state.previous === 0)
}
