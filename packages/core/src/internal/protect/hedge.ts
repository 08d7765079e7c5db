/**
 * The hedge stage: an attempt still running after a delay gets a second one started beside it (up to
 * `maxHedges`), each through the stages inside (the breaker, the timeout); the first success wins, the others are
 * interrupted and awaited (their finalizers run before the call goes on). When every started attempt has failed,
 * the primary's failure is the attempt's. The delay is fixed, or adaptive: a percentile of the primary attempts'
 * recent durations at this call site. Hedges spend the call's retry budget, when it names one. Only for
 * operations the call site marks idempotent.
 */
import { Cause, Clock, Context, Deferred, Duration, Effect, Exit, Fiber, Option, Schema } from "effect"
import * as ConfigError from "../../ConfigError.js"
import { RetryBudgetRegistry } from "../../RetryBudgetRegistry.js"
import type { BudgetInternal } from "../budget/budget.js"
import { monotonicMillis } from "../breaker/store.js"
import { CachedQuantile, LatencyWindow } from "../latency.js"
import { CurrentObserver, type Hedge, type Observer } from "../observation.js"
import { guarded, objectOf, show } from "../unknownKeys.js"
import * as Stage from "./stage.js"

/** A percentile of the primary attempts' recent durations: `"p95"`, `"p99"`, `"p99.9"`. */
export type Percentile = `p${number}`

/** The options of a hedge. */
export interface HedgeOptions {
  /**
   * Says that running the operation twice is safe (at-most-once effects are not): required, and only `true`, so
   * that a hedge is never added by a config that forgot what the operation does.
   */
  readonly idempotent: true
  /**
   * When the next hedge starts, from the start of the previous attempt: a duration, or a percentile of the primary
   * attempts' recent durations (`"p95"`, the delay "The Tail at Scale" recommends), recomputed at most once a second
   * or every 100 attempts, kept within `minDelay` and `maxDelay`.
   */
  readonly delay: Duration.Input | Percentile
  /** Hedges beside the primary, at most (1 to 4; default 1). */
  readonly maxHedges?: number | undefined
  /** Adaptive delay: its floor (default 1 millisecond). */
  readonly minDelay?: Duration.Input | undefined
  /** Adaptive delay: its ceiling, and the delay used until `minSamples` durations are known (default 1 second). */
  readonly maxDelay?: Duration.Input | undefined
  /** Adaptive delay: the durations needed before the percentile is used (default 20). */
  readonly minSamples?: number | undefined
}

/** The option the stage reads. */
export interface Options {
  /**
   * Hedges each attempt (see {@link HedgeOptions}); the call's `budget`, when set, pays for each hedge as for a
   * retry.
   */
  readonly hedge?: HedgeOptions | undefined
}

/** The stage's types: a hedge changes no type (the primary's failure is the program's own). */
export interface Types extends Stage.Types {
  readonly Options: Options
  readonly Success: this["In"]
  readonly Error: this["In"]
  readonly Services: this["In"]
}

interface Config {
  readonly fixedMillis: number | undefined
  readonly quantile: number | undefined
  readonly maxHedges: number
  readonly minDelayMillis: number
  readonly maxDelayMillis: number
  readonly minSamples: number
}

const percentile = /^p(\d{1,2}(?:\.\d+)?)$/
const quantileOf = (u: unknown): number | undefined => {
  if (typeof u !== "string") return undefined
  const match = percentile.exec(u)
  if (match === null) return undefined
  const p = Number(match[1])
  return p > 0 && p < 100 ? p / 100 : undefined
}
const millisOf = (u: unknown, positive: boolean): number | undefined => {
  if (typeof u === "number" && !Number.isFinite(u)) return undefined
  const duration = Duration.fromInput(u as Duration.Input)
  if (Option.isNone(duration) || !Duration.isFinite(duration.value)) return undefined
  const millis = Duration.toMillis(duration.value)
  return millis > 0 || (!positive && millis === 0) ? millis : undefined
}
const duration = (positive: boolean) =>
  guarded(
    (u: unknown): u is Duration.Input => millisOf(u, positive) !== undefined,
    (u) => `Expected a ${positive ? "positive" : "finite"} duration, got ${show(u)}`
  )
const integer = (min: number, max: number) =>
  guarded(
    (u: unknown): u is number => typeof u === "number" && Number.isInteger(u) && u >= min && u <= max,
    (u) => `Expected an integer from ${min} to ${max}, got ${show(u)}`
  )

const HedgeSchema = objectOf(Schema.Struct({
  idempotent: guarded(
    (u: unknown): u is true => u === true,
    (u) => `Expected true (hedging runs the operation more than once: only for idempotent operations), got ${show(u)}`
  ),
  delay: guarded(
    (u: unknown): u is Duration.Input | Percentile => quantileOf(u) !== undefined || millisOf(u, false) !== undefined,
    (u) => `Expected a duration or a percentile such as "p95", got ${show(u)}`
  ),
  maxHedges: Schema.optional(integer(1, 4)),
  minDelay: Schema.optional(duration(false)),
  maxDelay: Schema.optional(duration(true)),
  minSamples: Schema.optional(integer(1, 100_000))
}))
const decodeHedge = Schema.decodeUnknownExit(HedgeSchema)

/** Decodes the `hedge` option: its config, or a `ConfigError` naming every problem under `hedge`. */
export const decode = (hedge: unknown): Config | ConfigError.ConfigError => {
  const decoded = decodeHedge(hedge, { errors: "all", onExcessProperty: "error" })
  if (Exit.isFailure(decoded)) {
    const issues: Array<ConfigError.Issue> = []
    for (const reason of decoded.cause.reasons) {
      if (Cause.isFailReason(reason)) issues.push(...ConfigError.fromSchemaIssue(reason.error.issue))
    }
    return ConfigError.under(new ConfigError.ConfigError({ issues }), ["hedge"])
  }
  const options = decoded.value
  const minDelayMillis = options.minDelay === undefined ? 1 : millisOf(options.minDelay, false)!
  const maxDelayMillis = options.maxDelay === undefined ? Math.max(1000, minDelayMillis) : millisOf(options.maxDelay, true)!
  if (maxDelayMillis < minDelayMillis) {
    return new ConfigError.ConfigError({
      issues: [{ path: ["hedge", "maxDelay"], message: `Expected at least minDelay (${minDelayMillis} ms)` }]
    })
  }
  const quantile = quantileOf(options.delay)
  return {
    fixedMillis: quantile === undefined ? millisOf(options.delay, false) : undefined,
    quantile,
    maxHedges: options.maxHedges ?? 1,
    minDelayMillis,
    maxDelayMillis,
    minSamples: options.minSamples ?? 20
  }
}

type Attempt = Effect.Effect<unknown, unknown, unknown>

/**
 * What the hedges of one operation share (per operation and config, whatever its call sites: a `protect` built per
 * request learns from the calls before it): its config, its delay, and its hedge events.
 */
interface Site {
  readonly config: Config
  readonly delayMillis: (now: number) => number
  readonly record: (millis: number, now: number) => void
  readonly events: { readonly [K in Hedge["result"]]: Hedge }
}

/**
 * The sites of the hedged operations, by operation and config: `ErrorLayer` provides a map of its own, so that its
 * figures are not another layer's; without it, one map for the process.
 */
export const HedgeSites: Context.Reference<Map<string, Site>> = Context.Reference<Map<string, Site>>(
  "@effect-resilience/core/internal/HedgeSites",
  { defaultValue: () => new Map() }
)

/** The context `ErrorLayer` adds: a map of hedge sites of its own. */
export const freshSites = (): Context.Context<never> =>
  Context.make(HedgeSites, new Map()) as Context.Context<never>

const siteOf = (sites: Map<string, Site>, key: string, operation: string, config: Config): Site => {
  let site = sites.get(key)
  if (site === undefined) sites.set(key, site = makeSite(operation, config))
  return site
}

const makeSite = (operation: string, config: Config): Site => {
  const event = (result: Hedge["result"]): Hedge => ({ _tag: "Hedge", operation, result })
  const events = { started: event("started"), won: event("won"), lost: event("lost"), suppressed: event("suppressed") }
  if (config.quantile === undefined) {
    const fixed = config.fixedMillis!
    return { config, delayMillis: () => fixed, record: () => {}, events }
  }
  const window = new LatencyWindow()
  const cached = new CachedQuantile(window, config.quantile)
  return {
    config,
    events,
    record: (millis, now) => window.record(millis, now),
    delayMillis: (now) => {
      if (window.count(now) < config.minSamples) return config.maxDelayMillis
      const q = cached.get(now)
      return q === undefined
        ? config.maxDelayMillis
        : Math.min(config.maxDelayMillis, Math.max(config.minDelayMillis, q))
    }
  }
}

/**
 * One hedged attempt: `attempt` started now, and again after each delay while none has succeeded, up to the
 * site's `maxHedges` and while the budget (if any) gives one.
 */
const hedged = (
  key: string,
  operation: string,
  given: Config,
  attempt: () => Attempt,
  budget: BudgetInternal | undefined
): Attempt =>
  Effect.withFiber((parent) => {
    const observer: Observer = parent.getRef(CurrentObserver)
    const clock = parent.getRef(Clock.Clock)
    const site = siteOf(parent.getRef(HedgeSites), key, operation, given)
    const { config, events } = site
    return Effect.uninterruptibleMask((restore) => {
      const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
      const outcome = Deferred.makeUnsafe<unknown, unknown>()
      const start = monotonicMillis(clock)
      let ended = 0
      let primary: Exit.Exit<unknown, unknown> | undefined
      // the defects of the hedges that died: kept with the primary's failure when every attempt fails
      let defects: Array<Cause.Reason<unknown>> | undefined
      let winner = -1
      const settle = (exit: Exit.Exit<unknown, unknown>) => Deferred.doneUnsafe(outcome, exit)
      const launch = (index: number) =>
        Effect.map(Effect.forkChild(restore(attempt()), { startImmediately: true }), (fiber) => {
          fibers.push(fiber)
          fiber.addObserver((exit) => {
            ended++
            if (index === 0) {
              primary = exit
              // the primary's duration feeds the adaptive delay: one that ended on its own, or was interrupted
              // because a hedge won (it lasted at least the delay, so it still counts above the percentile); not
              // one interrupted from outside
              if (!Exit.isFailure(exit) || !Cause.hasInterruptsOnly(exit.cause) || winner > 0) {
                const end = monotonicMillis(clock)
                site.record(end - start, end)
              }
            } else if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) {
              ;(defects ??= []).push(...exit.cause.reasons.filter(Cause.isDieReason))
            }
            if (winner >= 0) return
            if (Exit.isSuccess(exit)) {
              winner = index
              settle(exit)
            } else if (ended === fibers.length && primary !== undefined) {
              // every attempt started has failed: the primary's failure is the attempt's, with any hedge's defect
              // (a defect is never dropped)
              settle(
                defects === undefined || Exit.isSuccess(primary)
                  ? primary
                  : Exit.failCause(Cause.fromReasons([...primary.cause.reasons, ...defects]))
              )
            }
          })
        })
      const emit = (event: Hedge) => {
        if (observer.active) observer.emit(event)
      }
      // starts the hedges, one per delay, until one succeeds, all fail, or none is left
      const hedges = (started: number): Effect.Effect<void, unknown, unknown> => {
        if (started > config.maxHedges || Deferred.isDoneUnsafe(outcome)) return Effect.void
        const wait = site.delayMillis(monotonicMillis(clock))
        // the whole wait is interruptible (the race's own sleep included): an interruption or a timeout around
        // the call ends it at once, starting no hedge
        return Effect.flatMap(
          restore(Effect.timeoutOption(Deferred.await(outcome), Duration.millis(wait))),
          (settled) => {
            if (Option.isSome(settled) || Deferred.isDoneUnsafe(outcome)) return Effect.void
            if (budget !== undefined && !budget.withdrawUnsafe(monotonicMillis(clock))) {
              emit(events.suppressed)
              return Effect.void
            }
            emit(events.started)
            return Effect.andThen(launch(started), hedges(started + 1))
          }
        )
      }
      const finish = Effect.suspend(() => {
        const losers = fibers.filter((_, i) => i !== winner)
        if (observer.active && fibers.length > 1) {
          if (winner > 0) observer.emit(events.won)
          for (let i = winner > 0 ? 2 : 1; i < fibers.length; i++) observer.emit(events.lost)
        }
        return Fiber.interruptAll(losers)
      })
      return launch(0).pipe(
        Effect.andThen(hedges(1)),
        Effect.andThen(restore(Deferred.await(outcome))),
        Effect.onExit(() => finish)
      )
    })
  }) as Attempt

/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "hedge",
  make: (options) => {
    const given = (options as Options).hedge
    if (given === undefined) return undefined
    const config = decode(given)
    if (config instanceof ConfigError.ConfigError) {
      const invalid = Effect.die(config)
      return { wrap: (inner) => ({ ...inner, attempt: () => invalid }) }
    }
    const operation = options.operation
    const key = JSON.stringify([operation, config])
    const budgetName = (options as { readonly budget?: string | true | undefined }).budget
    if (budgetName === undefined) {
      return {
        wrap: (inner) => ({
          ...inner,
          attempt: (retry) => hedged(key, operation, config, () => inner.attempt(retry), undefined)
        })
      }
    }
    const { read, resolve } = Stage.strategyReader(RetryBudgetRegistry, budgetName, operation, (registry, name) =>
      registry.budget(name))
    return {
      read,
      wrap: (inner, registry) => {
        const budget = resolve(registry) as BudgetInternal
        return { ...inner, attempt: (retry) => hedged(key, operation, config, () => inner.attempt(retry), budget) }
      }
    }
  }
}
