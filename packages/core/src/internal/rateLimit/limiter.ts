// A rate limiter: its keys' states (in a bounded map), its decisions, waiting, refusals and figures. Where the
// permits come from is a `Decider`: the local one here, or the shared one of `shared.ts` (leases from Redis).
import { Clock, Effect } from "effect"
import type { Fiber } from "effect"
import { type Config, type Permit, RateLimitedError, type RateLimiter, type State } from "../../RateLimiter.js"
import { stackless } from "../stackless.js"
import * as Algorithms from "./algorithms.js"

/**
 * Where a limiter's permits come from. `take` answers as `Algorithms.take` does (`>= 0` taken, after that many
 * milliseconds; `< 0` refused for `-result` milliseconds), synchronously when it can decide from local state, or
 * with an effect when it must ask its store (which never fails and never takes longer than the store's bound).
 */
export interface Decider {
  readonly take: (key: string, permits: number, now: number, maxWaitMillis: number) => number | Effect.Effect<number>
  /**
   * Permits reserved by a call that gave up before its turn (`reservation`: what `reservation` said right after
   * the `take` that reserved them).
   */
  readonly giveBack: (key: string, permits: number, reservation: unknown) => void
  /**
   * What names a key's last reservation, read in the same step as the `take` that reserved: only a `take`
   * answered synchronously may reserve (one answered with an effect never does).
   */
  readonly reservation: (key: string) => unknown
  readonly remaining: (key: string, now: number) => { readonly remaining: number; readonly resetAfterMillis: number }
  /** The keys held. */
  readonly keys: () => number
  /** `"local"`; with a shared store `"shared"` or `"degraded"` (deciding alone on its share of the limit). */
  readonly mode: () => "local" | "shared" | "degraded"
  /**
   * New rules of the same algorithm and window, keeping the keys' states (a reload). A decider without it (the
   * shared one) keeps the rules it was built with.
   */
  readonly retune?: ((rules: Algorithms.Rules, maxKeys: number) => void) | undefined
}

/** The keys' states of a local decider, at most `max` of them. */
export class KeyStates {
  private readonly states = new Map<string, Algorithms.KeyState>()
  // (both change on a reload)
  constructor(public rules: Algorithms.Rules, public max: number) {}

  get(key: string, now: number): Algorithms.KeyState {
    let state = this.states.get(key)
    if (state === undefined) {
      if (this.states.size >= this.max) this.sweep(now)
      state = Algorithms.fresh(this.rules, now)
      this.states.set(key, state)
    }
    return state
  }

  peek(key: string): Algorithms.KeyState | undefined {
    return this.states.get(key)
  }

  get size(): number {
    return this.states.size
  }

  // Forgets the keys whose state is the same as a fresh one (no decision changes), then, while more than nine
  // tenths of the bound are held, the oldest (those keys start afresh: the one case where the bound on keys costs
  // exactness). Each sweep frees a tenth of the bound, so its cost is spread over the keys that fill it again.
  private sweep(now: number) {
    for (const [key, state] of this.states) {
      if (Algorithms.isIdle(this.rules, state, now)) this.states.delete(key)
    }
    const keep = Math.floor(this.max * 0.9)
    for (const key of this.states.keys()) {
      if (this.states.size <= keep) break
      this.states.delete(key)
    }
  }
}

/** The local decider: the algorithm on each key's state, in this process. */
export const localDecider = (initial: Algorithms.Rules, maxKeys: number): Decider => {
  let rules = initial
  const states = new KeyStates(rules, maxKeys)
  return {
    retune: (next, keys) => {
      rules = next
      states.rules = next
      states.max = keys
    },
    take: (key, permits, now, maxWait) => Algorithms.take(rules, states.get(key, now), permits, now, maxWait),
    // (a reservation names the key's state and its number: a state forgotten and made again is another one)
    giveBack: (key, permits, reservation) => {
      const state = states.peek(key)
      const made = reservation as { readonly state: Algorithms.KeyState; readonly seq: number } | undefined
      if (state !== undefined && made?.state === state) Algorithms.giveBack(rules, state, permits, made.seq)
    },
    reservation: (key) => {
      const state = states.peek(key)
      return state === undefined ? undefined : { state, seq: state.seq }
    },
    // (reading a key never makes one: a read must not make the limiter forget another key)
    remaining: (key, now) => Algorithms.remaining(rules, states.peek(key) ?? Algorithms.fresh(rules, now), now),
    keys: () => states.size,
    mode: () => "local"
  }
}

/** A limiter, with its state read synchronously (for the figures read at export time). */
export interface LimiterInternal extends RateLimiter {
  readonly stateUnsafe: () => State
  /**
   * New settings in place (a reload, see `RateLimiterRegistry`): the keys' states are kept when the algorithm and
   * the window are the same (a new limit, wait or bound on keys applies from the next decision), and start afresh
   * otherwise, with why. A shared limiter keeps its sharing as built: only its `wait` applies.
   */
  readonly reconfigure: (next: Config) => { readonly state: "kept" | "reset"; readonly reason?: string | undefined }
  /** `execute`, with a refusal answered by `onRejected` instead of failing (`protect` hands it to its give-up). */
  readonly guard: <A, E, R, E2, R2>(
    self: Effect.Effect<A, E, R>,
    key: string,
    onRejected: (error: RateLimitedError) => Effect.Effect<A, E2, R2>
  ) => Effect.Effect<A, E | E2, R | R2>
}

/** Builds a limiter on a decider. */
export const makeLimiter = (name: string, initial: Config, initialDecider: Decider): LimiterInternal => {
  // (all change on a reload, see `reconfigure`)
  let config = initial
  let decider = initialDecider
  let { limit, waitMillis, windowMillis } = config
  let granted = 0
  let rejected = 0
  let waited = 0

  // the last refusal per key, shared while its `retryAfter` is the same to the millisecond
  let lastError: RateLimitedError | undefined
  let lastFailed: Effect.Effect<never, RateLimitedError> | undefined
  const refuse = (key: string, retryAfterMillis: number): Effect.Effect<never, RateLimitedError> => {
    rejected++
    if (lastError !== undefined && lastError.key === key && lastError.retryAfterMillis === retryAfterMillis) {
      return lastFailed!
    }
    lastError = stackless(() =>
      new RateLimitedError({ limiter: name, key, limit, windowMillis, retryAfterMillis }, { disableChecks: true })
    )
    lastFailed = Effect.fail(lastError)
    return lastFailed
  }

  const clockOf = (fiber: Fiber.Fiber<unknown, unknown>) => fiber.getRef(Clock.Clock)

  // The first decision of a call is made with no reservation (`maxWait` 0): taken, or refused for a time. A call
  // refused for no longer than its `wait` waits: every later decision is made in an uninterruptible step together
  // with what undoes it (a token bucket's reservation and its give-back), so a caller interrupted at any point
  // never leaves tokens reserved.
  const decide = (
    key: string,
    permits: number,
    clock: Clock.Clock,
    started: number,
    decision: number
  ): Effect.Effect<number, RateLimitedError> => {
    const now = clock.currentTimeMillisUnsafe()
    if (decision === 0) {
      granted++
      return Effect.succeed(now - started)
    }
    // (a decision that is not a number of milliseconds is a refusal for a window)
    const retryAfter = Number.isFinite(decision) ? Math.abs(decision) : windowMillis
    if (!Number.isFinite(decision) || now + retryAfter - started > waitMillis) return refuse(key, retryAfter)
    waited++
    return waitFor(key, permits, clock, started)
  }

  const waitFor = (
    key: string,
    permits: number,
    clock: Clock.Clock,
    started: number
  ): Effect.Effect<number, RateLimitedError> =>
    Effect.uninterruptibleMask((restore) => {
      const after = (decision: number, now: number): Effect.Effect<number, RateLimitedError> => {
        if (decision === 0) {
          granted++
          return Effect.succeed(now - started)
        }
        if (decision > 0) {
          // reserved: read in the same step as the `take` that reserved
          const reservation = decider.reservation(key)
          return Effect.andThen(
            Effect.onInterrupt(
              restore(Effect.sleep(decision)),
              () => Effect.sync(() => decider.giveBack(key, permits, reservation))
            ),
            Effect.sync(() => {
              granted++
              return now + decision - started
            })
          )
        }
        const retryAfter = Number.isFinite(decision) ? -decision : windowMillis
        if (!Number.isFinite(decision) || now + retryAfter - started > waitMillis) return refuse(key, retryAfter)
        return Effect.andThen(restore(Effect.sleep(retryAfter)), Effect.suspend(step))
      }
      const step = (): Effect.Effect<number, RateLimitedError> => {
        const now = clock.currentTimeMillisUnsafe()
        const decision = decider.take(key, permits, now, Math.max(0, waitMillis - (now - started)))
        return typeof decision === "number"
          ? after(decision, now)
          : Effect.flatMap(restore(decision), (d) => after(d, clock.currentTimeMillisUnsafe()))
      }
      return Effect.suspend(step)
    })

  const permitOf = (key: string, now: number, waitedMillis: number): Permit => {
    const left = decider.remaining(key, now)
    return { limit, remaining: left.remaining, resetAfterMillis: left.resetAfterMillis, waitedMillis }
  }

  // a permit taken at once is decided and described in one step
  const acquire = (key = "", permits = 1): Effect.Effect<Permit, RateLimitedError> =>
    Effect.withFiber((fiber) => {
      if (!(Number.isInteger(permits) && permits >= 1)) {
        return Effect.die(new RangeError(`permits must be an integer of at least 1, got ${String(permits)}`))
      }
      // more than the limit at once can never be had: refused at once, whatever the wait
      if (permits > limit) return refuse(key, windowMillis)
      const clock = clockOf(fiber)
      const now = clock.currentTimeMillisUnsafe()
      const decision = decider.take(key, permits, now, 0)
      if (decision === 0) {
        granted++
        return Effect.succeed(permitOf(key, now, 0))
      }
      const decided = typeof decision === "number"
        ? decide(key, permits, clock, now, decision)
        : Effect.flatMap(decision, (d) => decide(key, permits, clock, now, d))
      return Effect.flatMap(decided, (waitedMillis) =>
        Effect.sync(() => permitOf(key, clock.currentTimeMillisUnsafe(), waitedMillis)))
    })

  // a call let through at once costs the decision alone: no effect is built around it
  const guard = <A, E, R, E2, R2>(
    self: Effect.Effect<A, E, R>,
    key: string,
    onRejected: ((error: RateLimitedError) => Effect.Effect<A, E2, R2>) | undefined
  ): Effect.Effect<A, E | E2 | RateLimitedError, R | R2> =>
    Effect.withFiber((fiber): Effect.Effect<A, E | E2 | RateLimitedError, R | R2> => {
      const clock = clockOf(fiber)
      const now = clock.currentTimeMillisUnsafe()
      const decision = decider.take(key, 1, now, 0)
      if (decision === 0) {
        granted++
        return self
      }
      const decided = typeof decision === "number"
        ? decide(key, 1, clock, now, decision)
        : Effect.flatMap(decision, (d) => decide(key, 1, clock, now, d))
      return onRejected === undefined
        ? Effect.andThen(decided, self)
        : Effect.matchEffect(decided, { onFailure: onRejected, onSuccess: () => self })
    })

  const execute = <A, E, R>(self: Effect.Effect<A, E, R>, key = ""): Effect.Effect<A, E | RateLimitedError, R> =>
    guard(self, key, undefined)

  const stateNow = (): State => ({
    name,
    algorithm: config.algorithm,
    limit,
    windowMillis,
    mode: decider.mode(),
    keys: decider.keys(),
    granted,
    rejected,
    waited
  })

  const reconfigure = (next: Config): { readonly state: "kept" | "reset"; readonly reason?: string | undefined } => {
    const before = config
    lastError = undefined
    lastFailed = undefined
    if (decider.retune === undefined) {
      // shared: the replicas agree on the rules in Redis; only how long a call may wait is this replica's own
      config = { ...before, waitMillis: next.waitMillis }
      waitMillis = next.waitMillis
      const { waitMillis: _a, ...a } = before
      const { waitMillis: _b, ...b } = next
      return JSON.stringify(a) === JSON.stringify(b) ? { state: "kept" } : {
        state: "kept",
        reason: "shared through a RedisBreakerStore: its algorithm, limit, window, keys and share stay as built"
      }
    }
    config = next
    ;({ limit, waitMillis, windowMillis } = next)
    const reason = next.algorithm !== before.algorithm
      ? `the algorithm changed, from ${before.algorithm} to ${next.algorithm}`
      : next.windowMillis !== before.windowMillis
      ? `the window changed, from ${before.windowMillis} to ${next.windowMillis} millis`
      : undefined
    if (reason === undefined) {
      decider.retune(next, next.keys)
      return { state: "kept" }
    }
    decider = localDecider(next, next.keys)
    return { state: "reset", reason }
  }

  return {
    name,
    acquire,
    execute,
    reconfigure,
    guard: guard as LimiterInternal["guard"],
    state: Effect.sync(stateNow),
    remaining: (key = "") =>
      Effect.clockWith((clock) => Effect.sync(() => decider.remaining(key, clock.currentTimeMillisUnsafe()))),
    stateUnsafe: stateNow
  }
}
