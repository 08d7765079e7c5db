/**
 * The one seam between the strategies that produce figures (`protect`, the policy schedule, breakers, and every
 * strategy after them) and the services that keep them (the error tracker: history, totals, rates,
 * subscribers; `ResilienceMetrics`: the snapshot and every `resilience_*` series).
 *
 * A producer reads {@link CurrentObserver} once per call site (or once per run, where a run is already an
 * allocation) and calls `emit` with a typed {@link Event}. It never imports a consumer. `emit` is synchronous,
 * never throws, never blocks and never fails: a consumer that needs work off the caller's fiber (the tracker)
 * enqueues. Without `ErrorLayer` (or a consumer's own layer) the reference holds {@link noObserver}, whose `emit`
 * does nothing, and producers may skip building events when `observer.active` is false.
 *
 * Consumers add themselves with {@link observe}: the layer reads the observer already provided (a parent
 * `ErrorLayer`, another consumer) and provides one that emits to both, so consumers compose like effect's
 * `CurrentErrorReporters`.
 */
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import type * as Bulkhead from "../Bulkhead.js"
import type * as Chaos from "../Chaos.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import type * as ErrorTracker from "../ErrorTracker.js"
import type * as RateLimiter from "../RateLimiter.js"
import type * as ResilienceMetrics from "../ResilienceMetrics.js"
import type * as RetryBudget from "../RetryBudget.js"

/**
 * A typed failure seen by a strategy, as the tracker is handed it. The event object itself is the handle a
 * pending one is resolved with (see {@link Resolved}), so producers keep it until its retry or fallback ends.
 */
export interface Failure extends ErrorTracker.Occurrence {
  readonly _tag: "Failure"
}

/** The outcome of a failure emitted with `recovery: "pending"`: its retry or fallback ended. */
export interface Resolved {
  readonly _tag: "Resolved"
  readonly failure: Failure
  readonly outcome: "succeeded" | "failed"
}

/** A protected call ended. Producers build one per operation and outcome and emit the same object every time. */
export interface Call {
  readonly _tag: "Call"
  readonly operation: string
  readonly outcome: ResilienceMetrics.CallOutcome
}

/** A breaker came into being (so its state and calls can be exported before its first transition). */
export interface BreakerAdded {
  readonly _tag: "BreakerAdded"
  readonly name: string
  /** The breaker's state now, read synchronously. */
  readonly state: () => CircuitBreaker.State
}

/**
 * A breaker went away with its registry (the registry's scope closed): the consumers stop reading it. `added` is
 * the event that announced it.
 */
export interface BreakerRemoved {
  readonly _tag: "BreakerRemoved"
  readonly added: BreakerAdded
}

/** A breaker changed state. */
export interface Transition {
  readonly _tag: "Transition"
  readonly transition: CircuitBreaker.Transition
}

/**
 * A shared breaker's resync with its store: `ok` (nothing to repair), `repaired` (a change whose message was
 * lost was adopted), `reasserted` (an opening the store did not know of was asserted again), `failed` (the store
 * could not be reached).
 */
export interface Synced {
  readonly _tag: "Synced"
  readonly breaker: string
  readonly result: "ok" | "repaired" | "reasserted" | "failed"
}

/** A bulkhead came into being with its registry; its figures are read through `state` when they are exported. */
export interface BulkheadAdded {
  readonly _tag: "BulkheadAdded"
  readonly name: string
  readonly state: () => Bulkhead.State
}

/** A bulkhead went away with its registry. */
export interface BulkheadRemoved {
  readonly _tag: "BulkheadRemoved"
  readonly added: BulkheadAdded
}

/** A rate limiter came into being with its registry; its figures are read through `state` when exported. */
export interface LimiterAdded {
  readonly _tag: "LimiterAdded"
  readonly name: string
  readonly state: () => RateLimiter.State
}

/** A rate limiter went away with its registry. */
export interface LimiterRemoved {
  readonly _tag: "LimiterRemoved"
  readonly added: LimiterAdded
}

/**
 * A retry that a policy asked for was not made: the retry budget had nothing left (`"budget"`), or the error's
 * retry-after hint was longer than its policy allows to wait (`"pushback"`). The run ended with its original error
 * at once. (A hedge the budget refuses is a `Hedge` event with result `"suppressed"`.) `protect` builds one per
 * site, reason and budget and emits the same object every time.
 */
export interface RetrySuppressed {
  readonly _tag: "RetrySuppressed"
  /** The operation of `protect`, or `undefined` for `Effect.retry(PolicyService.retry)` without one. */
  readonly operation: string | undefined
  /** The budget that refused, for `"budget"`. */
  readonly budget: string | undefined
  readonly reason: "budget" | "pushback"
}

/**
 * A hedge of `operation`: one was `started`; a started hedge `won` (its success is the call's) or `lost` (another
 * attempt won, or every attempt failed); or one was due but the retry budget `suppressed` it. Built once per
 * operation and result, emitted as the same object.
 */
export interface Hedge {
  readonly _tag: "Hedge"
  readonly operation: string
  readonly result: "started" | "won" | "lost" | "suppressed"
}

/**
 * A `Chaos` layer injected a fault into an attempt of `operation` (the attempt failed, died or was interrupted
 * instead of running, or ran late): a rehearsal, which the figures show as such. The chaos stage builds one per
 * call site and kind (again when the rules change), at the first injection of that kind, and emits the same
 * object every time. (The fleet's Redis faults hit no protected call and are not emitted: they are in
 * `Chaos.stats` and its series.)
 */
export interface ChaosInjected {
  readonly _tag: "ChaosInjected"
  readonly operation: string
  readonly kind: Chaos.CallKind
}

/** A retry budget came into being with its registry; its figures are read through `state` when exported. */
export interface BudgetAdded {
  readonly _tag: "BudgetAdded"
  readonly name: string
  readonly state: () => RetryBudget.State
}

/** A retry budget went away with its registry. */
export interface BudgetRemoved {
  readonly _tag: "BudgetRemoved"
  readonly added: BudgetAdded
}

/** Everything a producer can emit. A new strategy adds its own member here and one `emit` where it happens. */
export type Event =
  | Failure
  | Resolved
  | Call
  | BreakerAdded
  | BreakerRemoved
  | Transition
  | Synced
  | BulkheadAdded
  | BulkheadRemoved
  | LimiterAdded
  | LimiterRemoved
  | RetrySuppressed
  | Hedge
  | ChaosInjected
  | BudgetAdded
  | BudgetRemoved

/** How one attempt of a protected call ended: a success, a failure (typed or a defect), or an interruption. */
export type AttemptOutcome = "succeeded" | "failed" | "interrupted"

/**
 * Where a call site reports its durations, in milliseconds (from the `Clock`'s monotonic time): each call's
 * (from its admission to its outcome, its retries and hedges included, its fallback not; a rejected call is not timed) and each
 * attempt's, as the retry and the hedge see it (hedges included; an attempt ended by its timeout or refused by the
 * breaker is `failed`, one interrupted because another won is `interrupted`).
 */
export interface Timings {
  /** `now`: when it ended (the Clock's monotonic milliseconds, read for the duration). */
  readonly call: (outcome: Exclude<ResilienceMetrics.CallOutcome, "rejected">, millis: number, now: number) => void
  readonly attempt: (outcome: AttemptOutcome, millis: number) => void
}

/** Where producers emit. */
export interface Observer {
  /** False for {@link noObserver}: nothing listens, so a producer may skip building its events. */
  readonly active: boolean
  /**
   * Whether `Call` events are wanted (unset: yes). A consumer that ignores them says `false`, so that `protect`
   * does not watch every success for an observer that drops it.
   */
  readonly calls?: boolean | undefined
  readonly emit: (event: Event) => void
  /**
   * The sink of an operation's durations, asked for once per call site and observer; unset when no consumer
   * wants them, so `protect` reads no clock for them. Call durations are only reported to an observer that also
   * counts calls (`calls` not `false`).
   */
  readonly timings?: ((operation: string) => Timings) | undefined
}

/** The observer of a context with no consumer. */
export const noObserver: Observer = { active: false, calls: false, emit: () => {} }

/** The observer producers emit to: {@link noObserver} unless a consumer's layer is provided. */
export const CurrentObserver: Context.Reference<Observer> = Context.Reference<Observer>(
  "@effect-resilience/core/internal/CurrentObserver",
  { defaultValue: () => noObserver }
)

/**
 * An observer that emits to both, in order. A side that does not want `Call` events (`calls: false`) is not
 * handed them, so the one per protected call costs it nothing.
 */
export const both = (first: Observer, second: Observer): Observer => {
  if (!first.active) return second
  if (!second.active) return first
  const firstCalls = first.calls !== false
  const secondCalls = second.calls !== false
  return {
    active: true,
    calls: firstCalls || secondCalls,
    timings: bothTimings(first.timings, second.timings),
    emit: firstCalls === secondCalls
      ? (event) => {
        first.emit(event)
        second.emit(event)
      }
      : firstCalls
      ? (event) => {
        first.emit(event)
        if (event._tag !== "Call") second.emit(event)
      }
      : (event) => {
        if (event._tag !== "Call") first.emit(event)
        second.emit(event)
      }
  }
}

/** A layer adding the observer `make` builds (in the layer's scope) to the one already provided. */
export const observe = <E, R>(make: Effect.Effect<Observer, E, R>): Layer.Layer<never, E, Exclude<R, Scope.Scope>> =>
  Layer.effectContext(Effect.gen(function*() {
    const observer = yield* make
    const current = yield* CurrentObserver
    return Context.make(CurrentObserver, both(current, observer)) as Context.Context<never>
  }))

const bothTimings = (
  first: Observer["timings"],
  second: Observer["timings"]
): Observer["timings"] => {
  if (first === undefined) return second
  if (second === undefined) return first
  return (operation) => {
    const a = first(operation)
    const b = second(operation)
    return {
      call: (outcome, millis, now) => {
        a.call(outcome, millis, now)
        b.call(outcome, millis, now)
      },
      attempt: (outcome, millis) => {
        a.attempt(outcome, millis)
        b.attempt(outcome, millis)
      }
    }
  }
}
