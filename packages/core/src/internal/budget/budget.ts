// A retry budget's arithmetic: Finagle's ratio over a window of time, or gRPC's token rule. Plain synchronous
// code over numbers, called with the Clock's monotonic time in milliseconds by its callers (`protect` hands it the
// time it read for the call anyway), allocating nothing per call.
import { Context, Effect } from "effect"
import { monotonicMillis } from "../breaker/store.js"
import type { Config, RetryBudget, State } from "../../RetryBudget.js"

/** A retry budget as the strategies drive it: synchronously, with the Clock's monotonic time in milliseconds. */
export interface BudgetInternal extends RetryBudget {
  /** A request was made (ratio: one deposit; tokens: nothing, outcomes count). */
  readonly depositUnsafe: (now: number) => void
  /** An attempt ended (tokens: a failure takes a token, a success gives `tokenRatio` back; ratio: nothing). */
  readonly recordUnsafe: (failed: boolean) => void
  /** Takes one retry (or hedge) from the budget if it has one: whether it had. */
  readonly withdrawUnsafe: (now: number) => boolean
  readonly stateUnsafe: (now: number) => State
  /**
   * New settings in place (a reload, see `RetryBudgetRegistry`): kept when the rule is the same kind (and a ratio
   * budget's `ttl` the same), reset to a fresh budget of the new settings otherwise, with why. The counts of
   * retries granted and refused (and a tokens budget's requests) carry on either way.
   */
  readonly reconfigure: (next: Config) => { readonly state: "kept" | "reset"; readonly reason?: string | undefined }
}

/** The number of slots a ratio budget's window is counted in (Finagle's windowed adder uses 10 too). */
export const slots = 10

type Unsafe = Omit<BudgetInternal, keyof RetryBudget | "reconfigure"> & Pick<RetryBudget, "name" | "config"> & {
  // takes `next` in place, keeping the counts, when it can: whether it could
  readonly retune: (next: Config) => boolean
  // what carries over to a budget made afresh
  readonly totals: () => Totals
}

// the counts that only grow (exported as counters), carried over when a budget is made afresh
interface Totals {
  readonly granted: number
  readonly refused: number
  readonly requests: number
}

const none: Totals = { granted: 0, refused: 0, requests: 0 }

const build = (name: string, config: Config, totals: Totals): Unsafe =>
  config.kind === "ratio" ? ratio(name, config, totals) : tokens(name, config, totals)

/** Makes the budget of `config`. */
export const make = (name: string, config: Config): BudgetInternal => {
  let unsafe = build(name, config, none)
  return {
    name,
    get config() {
      return unsafe.config
    },
    depositUnsafe: (now) => unsafe.depositUnsafe(now),
    recordUnsafe: (failed) => unsafe.recordUnsafe(failed),
    withdrawUnsafe: (now) => unsafe.withdrawUnsafe(now),
    stateUnsafe: (now) => unsafe.stateUnsafe(now),
    tryWithdraw: Effect.clockWith((clock) => Effect.sync(() => unsafe.withdrawUnsafe(monotonicMillis(clock)))),
    deposit: Effect.clockWith((clock) => Effect.sync(() => unsafe.depositUnsafe(monotonicMillis(clock)))),
    record: (failed) => Effect.sync(() => unsafe.recordUnsafe(failed)),
    state: Effect.clockWith((clock) => Effect.sync(() => unsafe.stateUnsafe(monotonicMillis(clock)))),
    reconfigure: (next) => {
      const before = unsafe.config
      if (unsafe.retune(next)) return { state: "kept" }
      unsafe = build(name, next, unsafe.totals())
      return {
        state: "reset",
        reason: before.kind !== next.kind
          ? `the budget changed kind, from ${before.kind} to ${next.kind}`
          : `the ttl changed, from ${(before as { readonly ttlMillis: number }).ttlMillis} to ${
            (next as { readonly ttlMillis: number }).ttlMillis
          } millis (the window is counted in slices of it)`
      }
    }
  }
}

/**
 * The budget that `Effect.retry(PolicyService.retry)` spends, as `RetryBudgetRegistry.withBudget` provides it
 * (`undefined`: none).
 */
export const CurrentBudget: Context.Reference<BudgetInternal | undefined> = Context.Reference<
  BudgetInternal | undefined
>("@effect-resilience/core/internal/CurrentBudget", { defaultValue: () => undefined })

// Finagle's RetryBudget: within the last `ttl`, retries may number `reserve + percent × requests`, where the
// reserve is `minPerSecond × ttl`; deposits and withdrawals older than `ttl` no longer count. Counted in
// `slots` slices of the window, a slice leaving whole: an entry counts for between 0.9 × ttl and ttl.
const ratio = (name: string, initial: Extract<Config, { readonly kind: "ratio" }>, totals: Totals): Unsafe => {
  let config = initial
  const slotMillis = config.ttlMillis / slots
  let reserve = config.minPerSecond * config.ttlMillis / 1000
  const deposits = new Float64Array(slots)
  const withdrawals = new Float64Array(slots)
  let deposited = 0
  let withdrawn = 0
  // the slice of the last call, as an absolute index (floor(now / slotMillis))
  let current = -Infinity
  let granted = totals.granted
  let refused = totals.refused
  const advance = (now: number) => {
    const slice = Math.floor(now / slotMillis)
    if (slice <= current) return
    // the slices between the last call's and this one's have expired: clear them (at most all of them)
    const gap = Math.min(slots, slice - current)
    for (let i = 1; i <= gap; i++) {
      const at = (((slice - gap + i) % slots) + slots) % slots
      deposited -= deposits[at]!
      withdrawn -= withdrawals[at]!
      deposits[at] = 0
      withdrawals[at] = 0
    }
    current = slice
  }
  const at = () => ((current % slots) + slots) % slots
  // within a hair of a whole number counts as it (0.7 × 90 is 62.99999999999999 in floating point)
  const available = () => reserve + config.percent * deposited - withdrawn + 1e-9
  return {
    name,
    get config() {
      return config
    },
    retune: (next) => {
      if (next.kind !== "ratio" || next.ttlMillis !== config.ttlMillis) return false
      config = next
      reserve = config.minPerSecond * config.ttlMillis / 1000
      return true
    },
    totals: () => ({ granted, refused, requests: 0 }),
    depositUnsafe: (now) => {
      advance(now)
      deposits[at()]!++
      deposited++
    },
    recordUnsafe: () => {},
    withdrawUnsafe: (now) => {
      advance(now)
      if (available() < 1) {
        refused++
        return false
      }
      withdrawals[at()]!++
      withdrawn++
      granted++
      return true
    },
    stateUnsafe: (now) => {
      advance(now)
      return {
        name,
        kind: "ratio",
        available: Math.max(0, Math.floor(available())),
        requests: deposited,
        retries: withdrawn,
        granted,
        refused
      }
    }
  }
}

// gRPC's retry throttling: a token count starting at `maxTokens`, less one per failed attempt and plus
// `tokenRatio` per successful one, kept within [0, maxTokens]; a retry is allowed while the count is above half of
// `maxTokens`. Counted in thousandths of a token, as gRPC does (the ratio has at most three decimals).
const tokens = (name: string, initial: Extract<Config, { readonly kind: "tokens" }>, totals: Totals): Unsafe => {
  let config = initial
  let max = Math.round(config.maxTokens * 1000)
  let gain = Math.round(config.tokenRatio * 1000)
  let count = max
  let granted = totals.granted
  let refused = totals.refused
  let requests = totals.requests
  return {
    name,
    get config() {
      return config
    },
    // the count keeps its share of `maxTokens` (a full budget stays full, one under half stays under half)
    retune: (next) => {
      if (next.kind !== "tokens") return false
      const nextMax = Math.round(next.maxTokens * 1000)
      count = Math.min(nextMax, Math.round(count * nextMax / max))
      config = next
      max = nextMax
      gain = Math.round(config.tokenRatio * 1000)
      return true
    },
    totals: () => ({ granted, refused, requests }),
    depositUnsafe: () => {
      requests++
    },
    recordUnsafe: (failed) => {
      count = failed ? Math.max(0, count - 1000) : Math.min(max, count + gain)
    },
    withdrawUnsafe: () => {
      if (count * 2 > max) {
        granted++
        return true
      }
      refused++
      return false
    },
    stateUnsafe: () => ({
      name,
      kind: "tokens",
      available: count * 2 > max ? Math.ceil((count * 2 - max) / 2000) : 0,
      requests,
      retries: granted,
      granted,
      refused,
      tokens: count / 1000
    })
  }
}
