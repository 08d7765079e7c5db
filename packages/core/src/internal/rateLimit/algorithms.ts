/**
 * The rate-limiting algorithms, as plain arithmetic on one key's state: no effects, no allocation on a decision,
 * so the local limiter decides synchronously and the shared one runs the same rules on the tokens it leased.
 *
 * Every decision answers with a number: `>= 0`, the permits were taken and the call may start after that many
 * milliseconds (0: at once; more: a reservation waited out by the caller); `< 0`, refused, and `-result` is the
 * number of milliseconds until the permits would be there.
 *
 * - **Token bucket**: `limit` tokens at most, refilled continuously at `limit` per `window`. A reservation takes
 *   the tokens at once (the bucket goes below zero), so waiting calls are served in the order they asked, and a
 *   caller that gives up while waiting gives its tokens back.
 * - **Fixed window**: at most `limit` permits per calendar window (windows start at multiples of `window` since
 *   the epoch, so every replica has the same windows).
 * - **Sliding window**: the two-window estimate: the permits of the current window plus those of the previous one
 *   weighted by the part of it still inside the sliding window. Memory is two counts per key; the estimate
 *   assumes the previous window's permits were spread evenly.
 */

/** One key's state. Which fields are used depends on the algorithm. */
export interface KeyState {
  /** Token bucket: the tokens (may be negative: reserved ahead). Windows: the current window's count. */
  value: number
  /** Token bucket: when `value` was last refilled. Windows: the current window's start. */
  at: number
  /** Sliding window: the previous window's count. */
  previous: number
}

export type Algorithm = "token-bucket" | "sliding-window" | "fixed-window"

export interface Rules {
  readonly algorithm: Algorithm
  readonly limit: number
  readonly windowMillis: number
}

export const fresh = (rules: Rules, now: number): KeyState =>
  rules.algorithm === "token-bucket"
    ? { value: rules.limit, at: now, previous: 0 }
    : { value: 0, at: windowStart(rules, now), previous: 0 }

const windowStart = (rules: Rules, now: number) => now - (now % rules.windowMillis)

// brings a window state up to `now`: a new window moves the current count to the previous one
const roll = (rules: Rules, state: KeyState, now: number) => {
  const start = windowStart(rules, now)
  if (start === state.at) return
  state.previous = start - state.at === rules.windowMillis ? state.value : 0
  state.value = 0
  state.at = start
}

const refill = (rules: Rules, state: KeyState, now: number) => {
  if (now > state.at) {
    state.value = Math.min(rules.limit, state.value + ((now - state.at) * rules.limit) / rules.windowMillis)
    state.at = now
  }
}

// the sliding estimate at `now` (state rolled), and the weight of the previous window
const estimate = (rules: Rules, state: KeyState, now: number) =>
  state.value + state.previous * (1 - (now - state.at) / rules.windowMillis)

/**
 * Takes `permits` for a key at `now`, waiting at most `maxWaitMillis` (a reservation: token bucket only; the
 * windows answer how long until the permits are there, and the caller tries again then).
 */
export const take = (rules: Rules, state: KeyState, permits: number, now: number, maxWaitMillis: number): number => {
  switch (rules.algorithm) {
    case "token-bucket": {
      refill(rules, state, now)
      if (state.value >= permits) {
        state.value -= permits
        return 0
      }
      const wait = Math.ceil(((permits - state.value) * rules.windowMillis) / rules.limit)
      if (wait <= maxWaitMillis && permits <= rules.limit) {
        state.value -= permits
        return wait
      }
      return -Math.max(1, permits > rules.limit ? rules.windowMillis : wait)
    }
    case "fixed-window": {
      roll(rules, state, now)
      if (state.value + permits <= rules.limit) {
        state.value += permits
        return 0
      }
      return -Math.max(1, permits > rules.limit ? rules.windowMillis : state.at + rules.windowMillis - now)
    }
    case "sliding-window": {
      roll(rules, state, now)
      if (estimate(rules, state, now) + permits <= rules.limit + 1e-9) {
        state.value += permits
        return 0
      }
      if (permits > rules.limit) return -rules.windowMillis
      return -Math.max(1, Math.ceil(slidingWait(rules, state, permits, now)))
    }
  }
}

// how long until the sliding estimate leaves room for `permits`
const slidingWait = (rules: Rules, state: KeyState, permits: number, now: number): number => {
  const W = rules.windowMillis
  const elapsed = now - state.at
  const room = rules.limit - permits - state.value
  // within the current window, the previous window's weight falls: p * (1 - (elapsed + t) / W) <= room
  if (room >= 0 && state.previous > 0) return Math.max(0, W * (1 - room / state.previous) - elapsed)
  // from the next window on, the current count becomes the previous one: c * (1 - t / W) <= limit - permits
  const untilNext = W - elapsed
  const rest = rules.limit - permits
  if (state.value <= 0) return untilNext
  return untilNext + Math.max(0, W * (1 - rest / state.value))
}

/** Gives back permits taken by a call that gave up before it started (a reservation it did not wait out). */
export const giveBack = (rules: Rules, state: KeyState, permits: number): void => {
  if (rules.algorithm === "token-bucket") state.value = Math.min(rules.limit, state.value + permits)
  else state.value = Math.max(0, state.value - permits)
}

/** The permits left for a key at `now`, and the milliseconds until all are back (the `RateLimit` header's `t`). */
export const remaining = (rules: Rules, state: KeyState, now: number): { remaining: number; resetAfterMillis: number } => {
  switch (rules.algorithm) {
    case "token-bucket": {
      refill(rules, state, now)
      const tokens = Math.max(0, state.value)
      return {
        remaining: Math.floor(tokens),
        resetAfterMillis: Math.ceil(((rules.limit - state.value) * rules.windowMillis) / rules.limit)
      }
    }
    case "fixed-window": {
      roll(rules, state, now)
      return {
        remaining: Math.max(0, rules.limit - state.value),
        resetAfterMillis: state.value === 0 ? 0 : state.at + rules.windowMillis - now
      }
    }
    case "sliding-window": {
      roll(rules, state, now)
      const used = estimate(rules, state, now)
      return {
        remaining: Math.max(0, Math.floor(rules.limit - used + 1e-9)),
        resetAfterMillis: used <= 0 ? 0 : state.at + rules.windowMillis - now + (state.value > 0 ? rules.windowMillis : 0)
      }
    }
  }
}

/** Whether a key's state is the same as a fresh one at `now` (it can be forgotten without changing a decision). */
export const isIdle = (rules: Rules, state: KeyState, now: number): boolean => {
  if (rules.algorithm === "token-bucket") {
    refill(rules, state, now)
    return state.value >= rules.limit
  }
  roll(rules, state, now)
  return state.value === 0 && (rules.algorithm === "fixed-window" || state.previous === 0)
}
