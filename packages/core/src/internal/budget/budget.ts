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
}

/** The number of slots a ratio budget's window is counted in (Finagle's windowed adder uses 10 too). */
export const slots = 10

type Unsafe = Omit<BudgetInternal, keyof RetryBudget> & Pick<RetryBudget, "name" | "config">

/** Makes the budget of `config`. */
export const make = (name: string, config: Config): BudgetInternal => {
  const unsafe = config.kind === "ratio" ? ratio(name, config) : tokens(name, config)
  return {
    ...unsafe,
    tryWithdraw: Effect.clockWith((clock) => Effect.sync(() => unsafe.withdrawUnsafe(monotonicMillis(clock)))),
    deposit: Effect.clockWith((clock) => Effect.sync(() => unsafe.depositUnsafe(monotonicMillis(clock)))),
    record: (failed) => Effect.sync(() => unsafe.recordUnsafe(failed)),
    state: Effect.clockWith((clock) => Effect.sync(() => unsafe.stateUnsafe(monotonicMillis(clock))))
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
const ratio = (name: string, config: Extract<Config, { readonly kind: "ratio" }>): Unsafe => {
  const slotMillis = config.ttlMillis / slots
  const reserve = config.minPerSecond * config.ttlMillis / 1000
  const deposits = new Float64Array(slots)
  const withdrawals = new Float64Array(slots)
  let deposited = 0
  let withdrawn = 0
  // the slice of the last call, as an absolute index (floor(now / slotMillis))
  let current = -Infinity
  let granted = 0
  let refused = 0
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
    config,
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
const tokens = (name: string, config: Extract<Config, { readonly kind: "tokens" }>): Unsafe => {
  const max = Math.round(config.maxTokens * 1000)
  const gain = Math.round(config.tokenRatio * 1000)
  let count = max
  let granted = 0
  let refused = 0
  let requests = 0
  return {
    name,
    config,
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
