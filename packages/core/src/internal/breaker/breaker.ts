// A breaker: `execute` (admit, run, classify the exit, record) over a store that holds the state machine.
import type { Fiber, Stream } from "effect"
import { Cause, Clock, Effect, Exit } from "effect"
import type {
  BreakerOpenError,
  CircuitBreaker,
  Config,
  State as PublicState,
  Transition
} from "../../CircuitBreaker.js"
import { hintMillis } from "../../Pushback.js"
import { sameOptions } from "../reloadable.js"
import {
  incompatibility,
  makeTripper,
  needsClock,
  slowThreshold,
  type Tripper,
  type TripReason
} from "../tripWindow.js"
import * as OpenDuration from "./openDuration.js"
import { classifier, type Outcome } from "./outcome.js"
import { inGenerationOrder, transitionOf } from "./publication.js"
import * as Rejection from "./rejection.js"
import type { BreakerState, Command } from "./state.js"
import { nextOpening } from "./state.js"
import { type Committed, type MakeStore, makeMemory, monotonicMillis } from "./store.js"

/** The longest retry-after hint a breaker's opening honours: 5 minutes. */
export const maxPushbackMillis = 5 * 60_000

// the local refusals (another breaker's, a bulkhead's, a rate limiter's): their hint is not the dependency's
const refusals: ReadonlySet<string> = new Set(["BreakerOpenError", "BulkheadFullError", "RateLimitedError"])

// the retry-after hint of the typed error an exit failed with (0 for none, or a local refusal), up to
// `maxPushbackMillis`
const pushbackOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return 0
  for (const reason of exit.cause.reasons) {
    if (Cause.isFailReason(reason) && !refusals.has((reason.error as { readonly _tag?: string } | null)?._tag ?? "")) {
      const hint = hintMillis(reason.error)
      if (hint !== undefined) return Math.min(hint, maxPushbackMillis)
    }
  }
  return 0
}

/** What a breaker tells its owner. */
export interface Hooks {
  /** Receives every transition once committed, in generation order. */
  readonly publish: (transition: Transition) => void
}

// what `Effect.uninterruptibleMask` passes: the interruptibility of the caller
type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * What a reload did to a breaker's state: kept, or reset (closed, its window cleared) and why; `reason` also says
 * what of a kept breaker's settings did not apply (those of a breaker shared between replicas, set at its build).
 */
export interface Reconfigured {
  readonly state: "kept" | "reset"
  readonly reason?: string | undefined
}

/** A breaker as its registry holds it: one that takes new settings in place. */
export interface BreakerInternal extends CircuitBreaker {
  /**
   * New settings (validated), synchronously: they apply from the next call (trip thresholds), the next probe
   * (`halfOpenProbes`, `closeAfter`) or the next opening (`openDuration`); an opening in progress keeps its
   * deadline. Trip rules of another kind or window reset the breaker (see `incompatibility`). `clock` dates a reset.
   */
  readonly reconfigure: (next: Config, clock: Clock.Clock) => Reconfigured
}

/**
 * Builds a breaker from validated options; `hooks.publish` receives every transition once committed (its own and
 * those its store adopts from other replicas), and `changes` is what the breaker's `changes` stream is (its
 * owner's stream of the published transitions). The state lives in the store `makeStore` makes (in memory by
 * default).
 */
export const makeBreaker = (
  name: string,
  config: Config,
  hooks: Hooks,
  changes: Stream.Stream<Transition>,
  makeStore: MakeStore = () => makeMemory(config)
): BreakerInternal => {
  // (all change on a reload, see `reconfigure`)
  let settings = config
  let { firstOpenMillis, halfOpenProbes, rules } = config
  let timed = needsClock(rules)
  let slowMillis = slowThreshold(rules)
  let classify = classifier(config.counts)
  let durations = OpenDuration.make(config.openDuration)
  const rejection = Rejection.make(name)
  // a change the store adopted from another replica is published as the breaker's own are
  let publish = (_: Transition): void => {}
  const published = (committed: Committed | undefined): Committed | undefined => {
    if (committed !== undefined && committed.reason !== undefined) publish(transitionOf(name, committed))
    return committed
  }
  const store = makeStore(published)
  publish = inGenerationOrder(hooks.publish, store.current().generation)
  const calls = { success: 0, failure: 0, ignored: 0, rejected: 0, slow: 0 }
  let wouldOpen = 0

  // the trip counts of the closed period a generation begins, fresh for each (local to this breaker: a shared store
  // is not written per call)
  let tripperFor = -1
  let tripper: Tripper | undefined
  const tripperOf = (state: BreakerState): Tripper => {
    if (tripperFor !== state.generation || tripper === undefined) {
      tripperFor = state.generation
      tripper = makeTripper(rules)
    }
    return tripper
  }
  // counts of its own while disabled, started afresh with each disabled period and after each trip they count
  let dryRunFor = -1
  let dryRun: Tripper | undefined

  // --- transitions: each a command to the store, decided from the state it names; none if another fiber got
  // there first. Uninterruptible from the decision to the publication, so a committed transition is always published.
  const command = (make: () => Command): Effect.Effect<Committed | undefined> =>
    Effect.uninterruptible(Effect.map(Effect.suspend(() => store.apply(make())), published))

  // opens the breaker from `from` (closed: a rule tripped; half-open: its probe failed), for the duration of the
  // opening it makes
  const open = (
    from: BreakerState,
    reason: TripReason | "probe_failed",
    exit: Exit.Exit<unknown, unknown>
  ): Effect.Effect<Committed | undefined> =>
    Effect.uninterruptible(Effect.clockWith((clock) => {
      const now = { mono: monotonicMillis(clock), wall: clock.currentTimeMillisUnsafe() }
      const next = nextOpening(from, now)
      return Effect.flatMap(
        durations.millis(next.epoch, next.openings, now.wall),
        (own) => {
          // the failure that opened it may say how long its dependency wants to be left alone (pushback)
          const millis = Math.max(own, pushbackOf(exit))
          return Effect.map(
            store.apply({ _tag: "Open", generation: from.generation, reason, opening: { ...next, millis } }),
            published
          )
        }
      )
    }))

  const claim = (from: BreakerState) => command(() => ({ _tag: "ClaimProbe", generation: from.generation }))

  // a probe of `halfOpen` ended
  const settleProbe = (halfOpen: BreakerState, outcome: Outcome, exit: Exit.Exit<unknown, unknown>) =>
    outcome === "failure"
      ? open(halfOpen, "probe_failed", exit)
      : command(() => ({ _tag: "SettleProbe", generation: halfOpen.generation, succeeded: outcome === "success" }))

  const count = (outcome: Outcome, millis: number) => {
    calls[outcome]++
    if (outcome !== "ignored" && millis > slowMillis) calls.slow++
  }

  // a call admitted in `admitted` (closed or disabled) completed: count it, and trip if a rule says so
  const settle = (
    admitted: BreakerState,
    outcome: Outcome,
    millis: number,
    now: number,
    exit: Exit.Exit<unknown, unknown>
  ): Effect.Effect<unknown> | undefined => {
    count(outcome, millis)
    if (outcome === "ignored") return undefined
    if (store.current() !== admitted) return undefined
    if (admitted.status === "disabled") {
      if (dryRunFor !== admitted.generation || dryRun === undefined) {
        dryRunFor = admitted.generation
        dryRun = makeTripper(rules)
      }
      if (dryRun.record(outcome === "failure", millis, now) !== undefined) {
        wouldOpen++
        dryRun = makeTripper(rules)
      }
      return undefined
    }
    if (admitted.status !== "closed") return undefined
    const reason = tripperOf(admitted).record(outcome === "failure", millis, now)
    return reason === undefined ? undefined : open(admitted, reason, exit)
  }

  const reject = (status: Rejection.RejectingStatus, retryAfterMillis: number) => {
    calls.rejected++
    return rejection(status, retryAfterMillis)
  }

  const execute = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BreakerOpenError, R> => {
    // Every call the breaker runs is settled by an exit handler, never by a match: a match is skipped when the
    // fiber is interrupted from outside (a timeout or a race around the breaker, a caller going away), which left
    // such calls out of the counts; an exit handler sees them, and counts them as `ignored`. The handlers return
    // `undefined` when there is no transition to run, so a call that ends normally allocates nothing for them.
    //
    // Admission and the handler's registration happen in one uninterruptible region: the fiber can yield to the
    // scheduler between deciding to run a call and registering its handler (once it has used its op budget), and
    // an interruption arriving then would leave an admitted call (and a claimed probe slot) counted nowhere. Only
    // the call itself runs with the caller's interruptibility (`restore`), inside its handler, so an interruption
    // that arrived meanwhile is delivered there and the call counts as `ignored`.
    //
    // The closed path without a clock is built once per closed period (and caller interruptibility), so a call
    // allocates nothing of its own; so is the effect that admits the other calls.
    let cachedFor: BreakerState | undefined
    let cachedRestore: Restore | undefined
    let cached: Effect.Effect<A, E, R> = self
    const closedUntimed = (state: BreakerState, restore: Restore): Effect.Effect<A, E, R> => {
      if (cachedFor !== state || cachedRestore !== restore) {
        cachedFor = state
        cachedRestore = restore
        // a success can trip a rate rule too, by bringing the window to its minimum number of calls
        cached = Effect.onExitPrimitive(restore(self), (exit) => settle(state, classify(exit), 0, 0, exit))
      }
      return cached
    }

    // a call whose duration matters (slow-call rules, time windows, probes)
    const timedRun = (
      clock: Clock.Clock,
      done: (
        outcome: Outcome,
        millis: number,
        now: number,
        exit: Exit.Exit<unknown, unknown>
      ) => Effect.Effect<unknown> | undefined,
      restore: Restore
    ): Effect.Effect<A, E, R> => {
      const start = monotonicMillis(clock)
      return Effect.onExitPrimitive(restore(self), (exit) => {
        const now = monotonicMillis(clock)
        return done(classify(exit), now - start, now, exit)
      })
    }

    const probe = (
      fiber: Fiber.Fiber<unknown, unknown>,
      from: BreakerState,
      restore: Restore
    ): Effect.Effect<A, E | BreakerOpenError, R> =>
      Effect.flatMap(claim(from), (claimed) => {
        // another fiber changed the state first: the call is admitted afresh, still in the same region
        if (claimed === undefined) return admitting(restore)
        const halfOpen = claimed.to
        const clock = fiber.getRef(Clock.Clock)
        // the probe's slot is given back however it ends, interruption included
        return timedRun(clock, (outcome, millis, _now, exit) => {
          count(outcome, millis)
          // a slow probe fails when slow calls can trip the breaker
          return settleProbe(halfOpen, outcome === "success" && millis > slowMillis ? "failure" : outcome, exit)
        }, restore)
      })

    // runs uninterruptibly (see above)
    const admit = (
      fiber: Fiber.Fiber<unknown, unknown>,
      restore: Restore
    ): Effect.Effect<A, E | BreakerOpenError, R> => {
      const state = store.current()
      switch (state.status) {
        case "closed":
          return timed
            ? timedRun(fiber.getRef(Clock.Clock), (outcome, millis, now, exit) =>
              settle(state, outcome, millis, now, exit), restore)
            : closedUntimed(state, restore)
        case "open": {
          const wait = state.openUntil - monotonicMillis(fiber.getRef(Clock.Clock))
          return wait > 0 ? reject("open", wait) : probe(fiber, state, restore)
        }
        case "half_open":
          return state.probes >= halfOpenProbes ? reject("half_open", 0) : probe(fiber, state, restore)
        case "forced_open":
          return reject("forced_open", firstOpenMillis)
        case "forced_closed":
          return timedRun(fiber.getRef(Clock.Clock), (outcome, millis) => (count(outcome, millis), undefined), restore)
        case "disabled":
          return timedRun(fiber.getRef(Clock.Clock), (outcome, millis, now, exit) =>
            settle(state, outcome, millis, now, exit), restore)
      }
    }
    let admittingWith: Restore | undefined
    let admittingEffect: Effect.Effect<A, E | BreakerOpenError, R> | undefined
    const admitting = (restore: Restore): Effect.Effect<A, E | BreakerOpenError, R> => {
      if (admittingWith !== restore || admittingEffect === undefined) {
        admittingWith = restore
        admittingEffect = Effect.withFiber((fiber) => admit(fiber, restore))
      }
      return admittingEffect
    }

    // `restore` is the caller's interruptibility: a call made in an uninterruptible region stays uninterruptible
    return Effect.uninterruptibleMask((restore) => {
      // the untimed closed path needs no fiber
      const state = store.current()
      return state.status === "closed" && !timed ? closedUntimed(state, restore) : admitting(restore)
    })
  }

  const state = Effect.clockWith((clock) =>
    Effect.sync((): PublicState => {
      const current = store.current()
      return {
        breaker: name,
        status: current.status,
        since: current.since,
        generation: current.generation,
        openings: current.openings,
        ...(current.status === "open"
          ? { retryAfterMillis: Math.max(0, Math.ceil(current.openUntil - monotonicMillis(clock))) }
          : {}),
        probes: { running: current.probes, succeeded: current.probeSuccesses, limit: halfOpenProbes },
        calls: { ...calls },
        wouldOpen,
        ...(store.shared !== undefined ? { shared: store.shared() } : {})
      }
    })
  )

  const manual = (manualCommand: Command) => Effect.asVoid(command(() => manualCommand))

  const reconfigure = (next: Config, _clock: Clock.Clock): Reconfigured => {
    const before = settings
    const incompatible = incompatibility(rules, next.rules)
    // a store shared between replicas keeps the limits (and sharing) it was built with: its replicas agree on them
    const local = store.reconfigure !== undefined
    const kept: Array<string> = []
    if (!local && (next.halfOpenProbes !== before.halfOpenProbes || next.closeAfter !== before.closeAfter)) {
      kept.push(`halfOpenProbes ${before.halfOpenProbes} and closeAfter ${before.closeAfter}`)
    }
    if (store.shared !== undefined && !sameOptions(next.share, before.share)) kept.push(`share ${before.share._tag}`)
    // (what stays as built is kept in `settings`, so the next reload compares with it again)
    settings = {
      ...next,
      ...(local ? {} : { halfOpenProbes: before.halfOpenProbes, closeAfter: before.closeAfter }),
      ...(store.shared !== undefined ? { share: before.share } : {})
    }
    rules = next.rules
    timed = needsClock(rules)
    slowMillis = slowThreshold(rules)
    classify = classifier(next.counts)
    firstOpenMillis = next.firstOpenMillis
    halfOpenProbes = settings.halfOpenProbes
    // the opening in progress keeps its deadline; the next one steps the new durations
    if (!sameOptions(next.openDuration, before.openDuration)) durations = OpenDuration.make(next.openDuration)
    const note = kept.length === 0
      ? undefined
      : local
      ? `on a RedisBreakerStore: ${kept.join(", ")} stays as built`
      : `shared through a RedisBreakerStore: ${kept.join(", ")} stay as built`
    if (incompatible === undefined) {
      tripper?.retune(rules)
      dryRun?.retune(rules)
      store.reconfigure?.(settings, undefined)
      return note === undefined ? { state: "kept" } : { state: "kept", reason: note }
    }
    tripper = undefined
    tripperFor = -1
    dryRun = undefined
    dryRunFor = -1
    if (store.reconfigure === undefined) {
      // a shared state is the fleet's: only this replica's counts start again
      return {
        state: "reset",
        reason: `${incompatible}: this replica's counts start again, the shared state stays${
          note === undefined ? "" : `; ${note}`
        }`
      }
    }
    // only the counts start again: the status stays (an isolated, disabled or forced-closed breaker stays so by
    // hand, an open one keeps its deadline and its run of openings)
    store.reconfigure(settings, undefined)
    return { state: "reset", reason: `${incompatible}: its counts start again, its status stays` }
  }

  return {
    name,
    execute,
    state,
    changes,
    isolate: manual({ _tag: "Force", status: "forced_open" }),
    forceClosed: manual({ _tag: "Force", status: "forced_closed" }),
    disable: manual({ _tag: "Force", status: "disabled" }),
    reset: manual({ _tag: "Reset" }),
    reconfigure
  }
}
