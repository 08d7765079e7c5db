// The breaker's state machine: its committed state as plain, serialisable data, and the transitions as pure
// functions of (state, command, limits, now), with no fiber, clock or effect in sight. A store (`store.ts`) holds
// the state and applies the transitions; the breaker (`breaker.ts`) decides which ones to ask for.
//
// Each transition is guarded by the generation it was decided from (a compare-and-set): when the state has moved on
// since (another fiber, or another replica, got there first) it does not apply, and the caller decides afresh from
// the state committed. The trip counts of a closed period are not part of this state: they are local to each
// breaker (see `internal/tripWindow.ts`), so a shared store is only written on transitions.
import type { Reason, Status } from "../../CircuitBreaker.js"
import type { TripReason } from "../tripWindow.js"

/**
 * The committed state of one breaker.
 *
 * Times are milliseconds: `since` on the wall clock (only reported), `sinceMono` and `openUntil` on the monotonic
 * clock of the process that holds the state (a store shared between processes converts them, for example by
 * sending the time remaining rather than a deadline), so a step of the wall clock neither reopens nor stretches
 * anything.
 */
export interface BreakerState {
  readonly status: Status
  /** Transitions so far: one more per change of status (or manual reset). The fencing token of every command. */
  readonly generation: number
  /** When the last transition happened (wall clock). */
  readonly since: number
  /** When the last transition happened (monotonic clock). */
  readonly sinceMono: number
  /** Consecutive openings so far (reset by a breaker that stayed closed long enough, or by `reset`). */
  readonly openings: number
  /** The run of consecutive openings the last opening belongs to: the open-duration schedule starts afresh per run. */
  readonly epoch: number
  /** When an open breaker lets a probe through (monotonic clock). */
  readonly openUntil: number
  /** How long the last opening lasted. */
  readonly lastOpenMillis: number
  /** Probe calls running (half-open). */
  readonly probes: number
  /** Probe calls that succeeded in this half-open period. */
  readonly probeSuccesses: number
}

/** The state of a breaker that was just built: closed, with no transition yet. */
export const initial: BreakerState = {
  status: "closed",
  generation: 0,
  since: 0,
  sinceMono: 0,
  openings: 0,
  epoch: 0,
  openUntil: 0,
  lastOpenMillis: 0,
  probes: 0,
  probeSuccesses: 0
}

/** The time of a transition, read once by whoever applies it. */
export interface Now {
  readonly mono: number
  readonly wall: number
}

/** The settings the transitions read. */
export interface Limits {
  /** Probe calls allowed at once in half-open. */
  readonly halfOpenProbes: number
  /** Successful probes that close the breaker. */
  readonly closeAfter: number
}

/**
 * The opening a transition to `open` makes: which run of openings it belongs to, its number in that run, and how
 * long it lasts. Decided by the caller from the state the command names (see {@link nextOpening}), which steps the
 * open-duration schedule for it.
 */
export interface Opening {
  readonly epoch: number
  readonly openings: number
  readonly millis: number
}

/** The manual states set by hand (`reset` is a command of its own). */
export type ManualStatus = "forced_open" | "forced_closed" | "disabled"

/**
 * A transition asked of a store, as plain data (so a remote store can run it as one server-side script).
 *
 * - `Open`: the state of `generation` opens: a closed breaker whose trip rule tripped (`reason` is the rule's), or a
 *   half-open breaker whose probe failed (`reason` is `"probe_failed"`).
 * - `ClaimProbe`: a call claims a probe slot: an open breaker whose open duration is over becomes half-open, or a
 *   half-open breaker with a free slot counts one more probe.
 * - `SettleProbe`: a probe of the half-open state of `generation` ended without failing: it succeeded (and may close
 *   the breaker) or was ignored (its slot is given back).
 * - `Force`: a manual state, from whatever state is committed.
 * - `Reset`: closed with fresh counts, from whatever state is committed.
 */
export type Command =
  | {
    readonly _tag: "Open"
    readonly generation: number
    readonly reason: TripReason | "probe_failed"
    readonly opening: Opening
  }
  | { readonly _tag: "ClaimProbe"; readonly generation: number }
  | { readonly _tag: "SettleProbe"; readonly generation: number; readonly succeeded: boolean }
  | { readonly _tag: "Force"; readonly status: ManualStatus }
  | { readonly _tag: "Reset" }

/**
 * What a command changed: the new state, and the reason when it is a transition (a change of status, published with
 * the next generation). A change without a reason only counts probes, in the same generation.
 */
export interface Change {
  readonly state: BreakerState
  readonly reason: Reason | undefined
}

// a transition: the next generation, entered now, with no probes
const enter = (state: BreakerState, status: Status, now: Now, changes?: Partial<BreakerState>): BreakerState => ({
  ...state,
  status,
  generation: state.generation + 1,
  since: now.wall,
  sinceMono: now.mono,
  probes: 0,
  probeSuccesses: 0,
  ...changes
})

/**
 * The opening that opening `state` now would make, without its duration: openings carry on from a half-open probe,
 * or when the breaker closed less time ago than it was last open (so a dependency that flaps keeps its longer open
 * durations); otherwise a new run starts, from the first duration.
 */
export const nextOpening = (state: BreakerState, now: Now): { readonly epoch: number; readonly openings: number } =>
  state.status === "half_open" || (state.openings > 0 && now.mono - state.sinceMono < state.lastOpenMillis)
    ? { epoch: state.epoch, openings: state.openings + 1 }
    : { epoch: state.epoch + 1, openings: 1 }

/** Opens the state of `generation`: from closed for a trip rule's reason, from half-open for a failed probe. */
export const open = (
  state: BreakerState,
  generation: number,
  reason: TripReason | "probe_failed",
  opening: Opening,
  now: Now
): Change | undefined => {
  if (state.generation !== generation) return undefined
  if (state.status !== (reason === "probe_failed" ? "half_open" : "closed")) return undefined
  return {
    state: enter(state, "open", now, {
      openings: opening.openings,
      epoch: opening.epoch,
      openUntil: now.mono + opening.millis,
      lastOpenMillis: opening.millis
    }),
    reason
  }
}

/**
 * Claims a probe slot in the state of `generation`: from open once its duration is over (becoming half-open with
 * that one probe), or in half-open while a slot is free.
 */
export const claimProbe = (
  state: BreakerState,
  generation: number,
  limits: Limits,
  now: Now
): Change | undefined => {
  if (state.generation !== generation) return undefined
  if (state.status === "open" && now.mono >= state.openUntil) {
    return { state: enter(state, "half_open", now, { probes: 1 }), reason: "open_elapsed" }
  }
  if (state.status === "half_open" && state.probes < limits.halfOpenProbes) {
    return { state: { ...state, probes: state.probes + 1 }, reason: undefined }
  }
  return undefined
}

/**
 * A probe of the half-open state of `generation` ended without failing: it succeeded (`closeAfter` successes close
 * the breaker) or was ignored. Either way its slot is given back.
 */
export const settleProbe = (
  state: BreakerState,
  generation: number,
  succeeded: boolean,
  limits: Limits,
  now: Now
): Change | undefined => {
  if (state.generation !== generation || state.status !== "half_open") return undefined
  if (!succeeded) return { state: { ...state, probes: state.probes - 1 }, reason: undefined }
  const successes = state.probeSuccesses + 1
  return successes >= limits.closeAfter
    ? { state: enter(state, "closed", now), reason: "probes_succeeded" }
    : { state: { ...state, probes: state.probes - 1, probeSuccesses: successes }, reason: undefined }
}

const manualReasons: Record<ManualStatus, Reason> = {
  forced_open: "isolated",
  forced_closed: "forced_closed",
  disabled: "disabled"
}

/** Enters a manual state; entering the state it is already in changes nothing. */
export const force = (state: BreakerState, status: ManualStatus, now: Now): Change | undefined =>
  state.status === status ? undefined : { state: enter(state, status, now), reason: manualReasons[status] }

/** Closed, with fresh counts and openings starting again from the first duration; always a transition. */
export const reset = (state: BreakerState, now: Now): Change => ({
  state: enter(state, "closed", now, { openings: 0, epoch: state.epoch + 1, lastOpenMillis: 0 }),
  reason: "reset"
})

/** Applies a command: the change it makes, or undefined when it does not apply to `state`. */
export const apply = (state: BreakerState, command: Command, limits: Limits, now: Now): Change | undefined => {
  switch (command._tag) {
    case "Open":
      return open(state, command.generation, command.reason, command.opening, now)
    case "ClaimProbe":
      return claimProbe(state, command.generation, limits, now)
    case "SettleProbe":
      return settleProbe(state, command.generation, command.succeeded, limits, now)
    case "Force":
      return force(state, command.status, now)
    case "Reset":
      return reset(state, now)
  }
}
