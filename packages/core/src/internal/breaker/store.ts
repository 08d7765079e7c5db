// Where a breaker's state lives. The breaker reads the committed state synchronously on every call and asks the
// store for a transition only when one is due (a trip, a probe claimed or settled, a manual state), so a store
// shared between processes is written on transitions, never per call.
import { Clock, Effect, TxRef } from "effect"
import type { Origin, Reason, Shared } from "../../CircuitBreaker.js"
import * as State from "./state.js"

/** A transition a store committed: the state it started from, the state it entered, why, and when (wall clock). */
export interface Committed {
  readonly from: State.BreakerState
  readonly to: State.BreakerState
  /** The reason of a change of status, published as a transition; undefined for a change of probe counts only. */
  readonly reason: Reason | undefined
  readonly at: number
  /** Where it was decided: by this breaker, or adopted from another replica sharing the state. */
  readonly origin: Origin
  /** With a shared store: the replica that decided it. */
  readonly by?: string | undefined
}

/**
 * The state of one breaker.
 *
 * - `current()` reads the committed state, synchronously and without allocating: what every call decides from. A
 *   store backed by a remote service returns its local copy (local-first): calls never wait on the network.
 * - `apply(command)` applies one {@link State.Command} with the store's own clock, as a compare-and-set on the
 *   generation the command names (`Force` and `Reset` apply to whatever is committed), and succeeds with what it
 *   committed, or with `undefined` when the command did not apply because the state had moved on (the caller then
 *   decides afresh from `current()`). Its semantics are {@link State.apply}'s. It runs uninterruptibly, inside the
 *   breaker's region that publishes what was committed.
 *
 * **A store failure never fails or slows a call.** `apply` has no error channel: a remote store (one server-side
 * script per command, doing the compare-and-set on the generation with the server's own time) applies the command
 * to its local copy when the service cannot be reached or does not answer within its own bound, reports that once
 * (not per call), and reconciles later; a remote store may only make a call wait, within that bound, on a probe
 * claim. The in-memory store never fails and never waits.
 *
 * **`current()` keeps its identity.** The breaker tells "still the state a call was admitted in" by comparing
 * the object `current()` returns, so a store returns the same object until it commits a change (a reconcile that
 * finds an equal state at the same generation keeps the object it has).
 */
export interface BreakerStore {
  readonly current: () => State.BreakerState
  readonly apply: (command: State.Command) => Effect.Effect<Committed | undefined>
  /** How the state is shared, for a store shared between replicas (read into the breaker's `state`). */
  readonly shared?: (() => Shared) | undefined
  /**
   * A reload (see `BreakerRegistry`): new limits from the next command on, the committed state kept, or reset
   * (closed, a `Reset` transition) when `reset` says when; what it committed, synchronously. A store without it
   * (one shared between replicas) keeps the limits it was built with and is never reset by a reload.
   */
  readonly reconfigure?: ((limits: State.Limits, reset: State.Now | undefined) => Committed | undefined) | undefined
}

/**
 * Makes the store of a breaker. `adopted` receives every change the store adopts without a command of this
 * breaker (a transition made by another replica), once committed to `current()`, in generation order with the
 * breaker's own: the breaker publishes it as it does its own.
 */
export type MakeStore = (adopted: (committed: Committed) => void) => BreakerStore

// Durations, windows and open periods are measured on the monotonic clock, so a step of the wall clock (NTP, a
// suspended machine) neither reopens nor stretches anything; wall time is only reported (`since`, `at`).
export const monotonicMillis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1e6

/**
 * Applies `command` to the state in `ref` in one transaction: what it committed (decided here: origin `local`,
 * by `by` when the state is shared), or undefined when it does not apply.
 */
export const commit = (
  ref: TxRef.TxRef<State.BreakerState>,
  command: State.Command,
  limits: State.Limits,
  now: State.Now,
  by?: string
): Effect.Effect<Committed | undefined> =>
  Effect.tx(Effect.flatMap(TxRef.get(ref), (from) => {
    const change = State.apply(from, command, limits, now)
    if (change === undefined) return Effect.succeed(undefined)
    const committed: Committed = {
      from,
      to: change.state,
      reason: change.reason,
      at: now.wall,
      origin: "local",
      ...(by !== undefined ? { by } : {})
    }
    return Effect.as(TxRef.set(ref, change.state), committed)
  }))

/**
 * A store in memory, on a `TxRef`: each command is one transaction that reads the committed state and writes the
 * next, so each transition happens once however many fibers race for it.
 */
export const makeMemory = (initialLimits: State.Limits, initial: State.BreakerState = State.initial): BreakerStore => {
  const ref = TxRef.makeUnsafe(initial)
  let limits = initialLimits
  return {
    // the transaction of a memory store never waits, so it runs synchronously
    reconfigure: (next, reset) => {
      limits = next
      return reset === undefined ? undefined : Effect.runSync(commit(ref, { _tag: "Reset" }, limits, reset))
    },
    current: () => ref.value,
    apply: (command) =>
      Effect.clockWith((clock) =>
        Effect.suspend(() => {
          const now: State.Now = { mono: monotonicMillis(clock), wall: clock.currentTimeMillisUnsafe() }
          return commit(ref, command, limits, now)
        })
      )
  }
}
