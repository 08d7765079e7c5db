// A bulkhead: the pool of places, the calls through it, its rejections, and (with an adaptive limit) the
// controller that sets the limit from each call's latency.
import { Cause, Clock, Effect, Exit } from "effect"
import type * as AdaptiveLimit from "../../AdaptiveLimit.js"
import { type Bulkhead, BulkheadFullError, type Config, type RejectionReason, type State } from "../../Bulkhead.js"
import * as Controller from "./controller.js"
import { sameOptions } from "../reloadable.js"
import { stackless } from "../stackless.js"
import { Pool, type Waiter } from "./pool.js"

// a seeded generator (mulberry32), so that an adaptive bulkhead's jitter is the same on every run
const seeded = (name: string): () => number => {
  let seed = 0x9e3779b9
  for (let i = 0; i < name.length; i++) seed = Math.imul(seed ^ name.charCodeAt(i), 0x01000193)
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// two adaptive limits with the same algorithm and settings (they are plain data)
const sameAdaptive = (a: AdaptiveLimit.AdaptiveLimit, b: AdaptiveLimit.AdaptiveLimit): boolean =>
  a === b || sameOptions(a, b)

/** A bulkhead, with its state read synchronously (for the figures read at export time). */
export interface BulkheadInternal extends Bulkhead {
  readonly stateUnsafe: () => State
  /** `execute`, with a refusal answered by `onRejected` instead of failing (`protect` hands it to its give-up). */
  readonly guard: <A, E, R, E2, R2>(
    self: Effect.Effect<A, E, R>,
    onRejected: (error: BulkheadFullError) => Effect.Effect<A, E2, R2>
  ) => Effect.Effect<A, E | E2, R | R2>
  /**
   * Applies a new config in place (a reload): the calls in flight keep their places and the waiters theirs; a
   * lower limit admits no new call until the calls in flight are under it, a higher one hands places to the
   * waiters at once. Returns why state was reset, if some was: an adaptive limit that changed restarts its
   * controller (from the new limit's initial value).
   */
  readonly reconfigure: (config: Config) => string | undefined
}

type OnRejected = ((error: BulkheadFullError) => Effect.Effect<any, any, any>) | undefined

/** Builds a bulkhead from its config. */
export const makeBulkhead = (name: string, initial: Config): BulkheadInternal => {
  // (all three change on a reload, see `reconfigure`; a call reads them as it goes)
  let config = initial
  let adaptive: AdaptiveLimit.AdaptiveLimit | undefined = typeof config.limit === "number" ? undefined : config.limit
  const pool = new Pool(adaptive === undefined ? config.limit as number : adaptive.initial, config.queue, config.order === "lifo")
  let controller = adaptive === undefined ? undefined : Controller.make(adaptive, seeded(name))
  let admitted = 0
  const rejected: { -readonly [K in RejectionReason]: number } = { full: 0, queue_timeout: 0, evicted: 0 }

  // the last rejection per reason, shared while the figures it carries are the same (under overload they are:
  // the bulkhead is full and its queue too), built without a stack trace
  const last = new Map<RejectionReason, readonly [BulkheadFullError, Effect.Effect<never, BulkheadFullError>]>()
  const reject = (reason: RejectionReason, onRejected: OnRejected): Effect.Effect<any, any, any> => {
    rejected[reason]++
    const cached = last.get(reason)
    if (
      cached !== undefined && cached[0].limit === pool.limit && cached[0].inFlight === pool.inFlight &&
      cached[0].queued === pool.queued
    ) return onRejected === undefined ? cached[1] : onRejected(cached[0])
    const error = stackless(() =>
      new BulkheadFullError({
        bulkhead: name,
        reason,
        limit: pool.limit,
        inFlight: pool.inFlight,
        queued: pool.queued,
        retryAfterMillis: config.retryAfterMillis
      }, { disableChecks: true })
    )
    const failed = Effect.fail(error)
    last.set(reason, [error, failed])
    return onRejected === undefined ? failed : onRejected(error)
  }

  // (no effect after the release: `onExitPrimitive` then skips a step on every call)
  const release = () => {
    pool.release()
    return undefined
  }

  // one call's latency sample: successes and typed failures are samples (those `drops` names are drops);
  // interruptions and defects say nothing about the dependency's latency
  const sample = (
    exit: Exit.Exit<unknown, unknown>,
    rttMillis: number,
    inFlight: number,
    started: Controller.Controller
  ) => {
    // a call admitted under a controller a reload replaced says nothing to the new one
    if (started !== controller) return
    let dropped = false
    if (Exit.isFailure(exit)) {
      // a typed failure is a sample even beside interrupted siblings (a failed `Effect.all`); an interruption
      // alone or a defect is not
      const cause = exit.cause
      if (Cause.hasDies(cause)) return
      const found = Cause.findError(cause)
      if (found._tag !== "Success") return
      dropped = config.drops(found.success)
    }
    const next = started.update({ rttMillis, inFlight, dropped })
    if (next !== pool.limit) pool.limit = next
  }

  // a call that holds a place: it gives the place back however it ends
  const run = <A, E, R>(
    self: Effect.Effect<A, E, R>,
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
  ): Effect.Effect<A, E, R> => {
    admitted++
    const started = controller
    if (started === undefined) return Effect.onExitPrimitive(restore(self), release)
    return Effect.withFiber((fiber) => {
      const clock = fiber.getRef(Clock.Clock)
      const start = clock.currentTimeNanosUnsafe()
      const inFlight = pool.inFlight
      return Effect.onExitPrimitive(restore(self), (exit) => {
        // (the place is given back even when a `drops` predicate throws: that is a defect of the call's exit)
        try {
          sample(exit, Number(clock.currentTimeNanosUnsafe() - start) / 1e6, inFlight, started)
        } finally {
          pool.release()
        }
        return undefined
      })
    })
  }

  const wait = (waiter: Waiter) =>
    Effect.callback<void>((resume) => {
      if (waiter.granted || waiter.evicted) return resume(Effect.void)
      waiter.wake = () => resume(Effect.void)
    })

  // a call that found no free place: it queues, and waits until it is given one, its queue timeout passes, a
  // newer waiter evicts it (LIFO), or it is interrupted; a place it was given after it gave up is passed on
  const queue = <A, E, R>(
    self: Effect.Effect<A, E, R>,
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
    onRejected: OnRejected
  ): Effect.Effect<A, E | BulkheadFullError, R> =>
    Effect.withFiber((fiber) => {
      // (an evicted waiter counts its own refusal when it wakes)
      const waiter = pool.enqueue(fiber)
      if (waiter === undefined) return reject("full", onRejected)
      const waiting = config.queueTimeoutMillis === undefined
        ? wait(waiter)
        : Effect.asVoid(Effect.timeoutOption(wait(waiter), config.queueTimeoutMillis))
      return Effect.flatMap(
        Effect.onExitPrimitive(restore(waiting), (exit) => {
          if (Exit.isFailure(exit)) {
            if (waiter.granted) pool.release()
            else pool.remove(waiter)
          }
          return undefined
        }),
        (): Effect.Effect<A, E | BulkheadFullError, R> => {
          if (waiter.granted) return run(self, restore)
          pool.remove(waiter)
          if (waiter.evicted) return reject("evicted", onRejected)
          return reject("queue_timeout", onRejected)
        }
      )
    })

  // (a refusal answered by `onRejected` runs outside the bulkhead, interruptible again: it holds no place)
  const admit = (self: Effect.Effect<any, any, any>, onRejected: OnRejected): Effect.Effect<any, any, any> =>
    Effect.uninterruptibleMask((restore) => {
      if (pool.tryAcquire()) return run(self, restore)
      if (config.queue === 0) return reject("full", onRejected)
      return queue(self, restore, onRejected)
    })
  const execute = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadFullError, R> =>
    admit(self, undefined)
  const guard = <A, E, R, E2, R2>(
    self: Effect.Effect<A, E, R>,
    onRejected: (error: BulkheadFullError) => Effect.Effect<A, E2, R2>
  ): Effect.Effect<A, E | E2, R | R2> => admit(self, (error) => Effect.interruptible(onRejected(error)))

  const stateNow = (): State => {
    const figures = controller?.figures()
    return {
      name,
      limit: pool.limit,
      inFlight: pool.inFlight,
      queued: pool.queued,
      queue: config.queue,
      order: config.order,
      admitted,
      rejected: { ...rejected },
      ...(adaptive === undefined ? {} : {
        adaptive: {
          algorithm: adaptive._tag,
          ...(figures?.minRttMillis !== undefined ? { minRttMillis: figures.minRttMillis } : {}),
          ...(figures?.gradient !== undefined ? { gradient: figures.gradient } : {})
        }
      })
    }
  }

  const reconfigure = (next: Config): string | undefined => {
    let reset: string | undefined
    const nextAdaptive = typeof next.limit === "number" ? undefined : next.limit
    if (nextAdaptive === undefined) {
      adaptive = undefined
      controller = undefined
      pool.limit = next.limit as number
    } else if (adaptive === undefined || !sameAdaptive(adaptive, nextAdaptive)) {
      reset = adaptive === undefined
        ? `the limit became adaptive (${nextAdaptive._tag}): it starts from its initial limit, ${nextAdaptive.initial}`
        : `the adaptive limit changed: its controller starts again from its initial limit, ${nextAdaptive.initial}`
      adaptive = nextAdaptive
      controller = Controller.make(nextAdaptive, seeded(name))
      pool.limit = nextAdaptive.initial
    }
    pool.capacity = next.queue
    pool.reorder(next.order === "lifo")
    config = next
    // the cached refusals carry the old retry-after hint
    last.clear()
    // a higher limit gives the waiters their places at once
    pool.handOver()
    return reset
  }

  return { name, execute, guard, state: Effect.sync(stateNow), stateUnsafe: stateNow, reconfigure }
}
