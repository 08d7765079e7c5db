/**
 * A circuit breaker: fails fast while a dependency is unhealthy, and lets a few probe calls through to see whether
 * it has recovered.
 *
 * - **closed**: calls run; their outcomes feed the {@link TripRule}s, and the first rule that trips opens it.
 * - **open**: calls are rejected at once with a {@link BreakerOpenError} carrying `retryAfter`, for a duration
 *   taken from the `openDuration` schedule, stepped once per consecutive opening (so it can grow, capped).
 * - **half_open**: the first call after the open duration is a probe, and up to `halfOpenProbes` probes run at
 *   once; other calls are rejected. `closeAfter` successful probes close it; a failed probe opens it again.
 * - Manual states: **forced_open** (isolated: every call rejected), **forced_closed** (every call runs, nothing
 *   trips) and **disabled** (every call runs and is recorded; trips are only counted, as `wouldOpen`). `reset`
 *   returns to closed with fresh counts.
 *
 * The state machine lives in a `TxRef` and every transition is an `Effect.tx` transaction that checks the state
 * it starts from, so each transition happens once however many fibers race for it. The per-call path runs no
 * transaction: it reads the committed state and updates the trip counts in one synchronous step, which no other
 * fiber can interleave with (the same atomicity `Ref.modify` gives, without allocating an effect per call).
 *
 * @since 0.1.0
 */
import type { Fiber } from "effect"
import { Cause, Clock, Duration, Effect, Exit, PubSub, Schedule, Schema, Scope, Stream, TxRef } from "effect"
import { dual } from "effect/Function"
import * as ErrorFamily from "./ErrorFamily.js"
import { makeTripper, needsClock, slowThreshold, type Tripper, type TripReason } from "./internal/tripWindow.js"
import { isRecord, knownKeys, optionIssues } from "./internal/unknownKeys.js"
import * as TripRule from "./TripRule.js"

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * The states of a breaker: the three of the automatic state machine and the three set by hand.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Status = Schema.Literals(["closed", "open", "half_open", "forced_open", "forced_closed", "disabled"])

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * Why a breaker changed state.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literals([
  "consecutive_failures",
  "failure_rate",
  "slow_call_rate",
  "open_elapsed",
  "probe_failed",
  "probes_succeeded",
  "isolated",
  "forced_closed",
  "disabled",
  "reset"
])

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * One state change. `openings` is the number of consecutive openings so far and `openMillis` how long an opening
 * lasts (set when `to` is `"open"`). `generation` increases by one per change of that breaker, so consumers can
 * order and de-duplicate them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Transition = Schema.Struct({
  breaker: Schema.String,
  from: Status,
  to: Status,
  reason: Reason,
  at: Schema.Number,
  generation: Schema.Number,
  openings: Schema.Number,
  openMillis: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Transition = typeof Transition.Type

/**
 * Calls through a breaker by outcome. `ignored` counts the calls that ended in a failure that does not count (see
 * {@link Counts}) or were interrupted, whether they interrupted themselves or were interrupted from outside (a
 * timeout or a race around the breaker, a caller going away); `rejected` counts calls the breaker did not run.
 * So `success + failure + ignored + rejected` is the number of calls made, whatever the trip rules. `slow`
 * counts calls slower than the slow-call threshold (they are also counted as `success` or `failure`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Calls = Schema.Struct({
  success: Schema.Number,
  failure: Schema.Number,
  ignored: Schema.Number,
  rejected: Schema.Number,
  slow: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Calls = typeof Calls.Type

/**
 * A breaker's state as read: its status and since when, its `generation` (the number of state changes so far, as
 * in {@link Transition}), the consecutive openings, how long until an open breaker
 * lets a probe through (`retryAfterMillis`), the probes running and succeeded in half-open, the calls by outcome,
 * and `wouldOpen`, the trips counted while disabled.
 *
 * @since 0.1.0
 * @category schemas
 */
export const State = Schema.Struct({
  breaker: Schema.String,
  status: Status,
  since: Schema.Number,
  generation: Schema.Number,
  openings: Schema.Number,
  retryAfterMillis: Schema.optional(Schema.Number),
  probes: Schema.Struct({ running: Schema.Number, succeeded: Schema.Number, limit: Schema.Number }),
  calls: Calls,
  wouldOpen: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type State = typeof State.Type

/**
 * The rejection of a call by an open, half-open (all probe slots taken) or isolated breaker. It carries the
 * breaker's name, its state and `retryAfter`: how long until the breaker lets a probe through (zero in half-open,
 * where probes are already running; the first open duration when isolated by hand). The HTTP edge turns it into
 * a 503 with `Retry-After`.
 *
 * **Details**
 *
 * A recoverable error that `PolicyService` does not retry unless given a policy of its own, so `protect` never
 * spends retries on rejections. Rejections are built without a stack trace and shared between calls rejected in
 * the same millisecond, which keeps a rejection about as cheap as `Effect.fail` of a ready value.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * declare const charge: Effect.Effect<string, CircuitBreaker.BreakerOpenError>
 *
 * const answer = charge.pipe(
 *   Effect.catchTag("BreakerOpenError", (e) =>
 *     Effect.succeed(`payments unavailable, retry in ${e.retryAfterMillis} ms`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BreakerOpenError extends ErrorFamily.TaggedError<BreakerOpenError>()("BreakerOpenError", {
  breaker: Schema.String,
  status: Schema.Literals(["open", "half_open", "forced_open"]),
  retryAfterMillis: Schema.Number
}, {
  code: "resilience.E0008",
  kind: "recoverable",
  severity: "medium",
  publicMessage: "The service is temporarily unavailable. Please try again later."
}) {
  /**
   * `retryAfterMillis` as a `Duration`.
   *
   * @since 0.1.0
   */
  get retryAfter(): Duration.Duration {
    return Duration.millis(this.retryAfterMillis)
  }
}

/**
 * Which failures count against a breaker: a predicate on the error, or the error tags that count. Either way,
 * interruptions count as neither success nor failure (they are counted as `ignored` and never trip the breaker),
 * and defects count as failures, even in a cause that also holds an error that does not count. A cause with
 * several typed errors counts when any of them does.
 *
 * @since 0.1.0
 * @category models
 */
export type Counts = ((error: unknown) => boolean) | ReadonlyArray<string>

/**
 * Options of a breaker.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `trip` | one {@link TripRule} or several (the first that trips opens the breaker) | `TripRule.consecutive(5)` |
 * | `openDuration` | how long it stays open: a duration, or a `Schedule` stepped once per consecutive opening (input: the opening's number, from 1); when the schedule ends its last duration is kept | exponential from 5 s, capped at 1 min |
 * | `halfOpenProbes` | probe calls allowed at once in half-open | `1` |
 * | `closeAfter` | successful probes that close it | `halfOpenProbes` |
 * | `counts` | which failures count (see {@link Counts}) | every error but business errors |
 *
 * Consecutive openings start again from the first duration once the breaker has stayed closed at least as long
 * as it was last open, so a dependency that flaps keeps its longer open durations.
 *
 * An unknown key (a misspelt `openDuraton`) is refused, with the nearest option name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly trip?: TripRule.TripRule | ReadonlyArray<TripRule.TripRule> | undefined
  readonly openDuration?: Duration.Input | Schedule.Schedule<unknown, number> | undefined
  readonly halfOpenProbes?: number | undefined
  readonly closeAfter?: number | undefined
  readonly counts?: Counts | undefined
}

/**
 * Breaker options that failed validation: one issue per problem, each naming the breaker, the path to the option
 * and the reason. Nothing is built from options with a problem. An issue about the options of a registry
 * themselves (an unknown key of `BreakerRegistry.Options`) names no breaker: its `breaker` is `""`.
 *
 * **Example**
 *
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * const error = new CircuitBreaker.BreakerConfigError({
 *   issues: [{ breaker: "payments", path: ["halfOpenProbes"], message: "Expected an integer of at least 1, got 0" }]
 * })
 * error.message // 'Invalid circuit breaker options: payments.halfOpenProbes: Expected an integer of at least 1, got 0'
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BreakerConfigError extends Schema.TaggedError<BreakerConfigError>()("BreakerConfigError", {
  issues: Schema.Array(Schema.Struct({
    breaker: Schema.String,
    path: Schema.Array(Schema.String),
    message: Schema.String
  }))
}) {
  override get message(): string {
    const issues = this.issues.map((i) => `${[i.breaker, ...i.path].filter((s) => s !== "").join(".")}: ${i.message}`)
    return `Invalid circuit breaker options: ${issues.join("; ")}`
  }
}

/**
 * A named circuit breaker.
 *
 * - `execute(effect)` runs an effect through the breaker, adding {@link BreakerOpenError} to its error type.
 * - `state` reads the current {@link State}; `changes` streams every {@link Transition} from when it is run (each
 *   consumer has a buffer of 1 024 transitions; a consumer that falls further behind loses the oldest).
 * - `isolate`, `forceClosed`, `disable` and `reset` set the state by hand (each one a transition).
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  readonly name: string
  readonly execute: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BreakerOpenError, R>
  readonly state: Effect.Effect<State>
  readonly changes: Stream.Stream<Transition>
  readonly isolate: Effect.Effect<void>
  readonly forceClosed: Effect.Effect<void>
  readonly disable: Effect.Effect<void>
  readonly reset: Effect.Effect<void>
}

/**
 * Options after validation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly rules: ReadonlyArray<TripRule.TripRule>
  readonly openDuration: Schedule.Schedule<unknown, number> | Duration.Duration
  readonly halfOpenProbes: number
  readonly closeAfter: number
  readonly counts: (error: unknown) => boolean
}

// ---------------------------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------------------------

const defaultOpenDuration: Schedule.Schedule<unknown, number> = Schedule.min([
  Schedule.exponential("5 seconds"),
  Schedule.spaced("1 minute")
]) as Schedule.Schedule<unknown, number>

// the first duration a schedule gives, stepped on a fresh step; undefined when it gives none (or cannot be run
// synchronously)
const firstStepMillis = (schedule: Schedule.Schedule<unknown, number>): number | undefined => {
  const exit = Effect.runSyncExit(
    Effect.map(Effect.flatMap(Schedule.toStep(schedule), (s) => s(0, 1)), ([, d]) => Duration.toMillis(d)) as Effect.Effect<
      number,
      unknown
    >
  )
  return Exit.isSuccess(exit) && exit.value >= 0 ? exit.value : undefined
}

const optionKeys = knownKeys<Options>({
  trip: true,
  openDuration: true,
  halfOpenProbes: true,
  closeAfter: true,
  counts: true
})

const countsBusiness = (error: unknown) => !(ErrorFamily.isClassified(error) && error.kind === "business")

/**
 * Validates breaker options. Every problem is reported at once in a {@link BreakerConfigError}, an unknown key
 * among them (`openDuraton`: `Unknown key "openDuraton", did you mean "openDuration"?`).
 *
 * **Example**
 *
 * ```ts
 * import { CircuitBreaker, TripRule } from "@effect-resilience/core"
 *
 * const config = CircuitBreaker.validate("payments", { trip: TripRule.consecutive(3), openDuration: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (name: string, options: Options = {}): Effect.Effect<Config, BreakerConfigError> =>
  Effect.suspend(() => {
    const issues: Array<{ breaker: string; path: Array<string>; message: string }> = []
    const add = (path: ReadonlyArray<string | number>, message: string) =>
      issues.push({ breaker: name, path: path.map(String), message })
    // options read from JSON are not typed: a value that is not an object has no options to read
    for (const issue of optionIssues(options, optionKeys)) add(issue.path, issue.message)
    if (!isRecord(options)) return Effect.fail(new BreakerConfigError({ issues }))
    const rules = options.trip === undefined
      ? [TripRule.consecutive(5)]
      : Array.isArray(options.trip)
      ? options.trip as ReadonlyArray<TripRule.TripRule>
      : [options.trip as TripRule.TripRule]
    const many = Array.isArray(options.trip)
    if (rules.length === 0) add(["trip"], "Expected at least one trip rule")
    rules.forEach((rule, i) => {
      for (const issue of TripRule.validate(rule)) {
        add(many ? ["trip", i, ...issue.path] : ["trip", ...issue.path], issue.message)
      }
    })
    const count = (key: "halfOpenProbes" | "closeAfter", value: unknown) => {
      if (value !== undefined && !(typeof value === "number" && Number.isInteger(value) && value >= 1)) {
        add([key], `Expected an integer of at least 1, got ${String(value)}`)
      }
    }
    count("halfOpenProbes", options.halfOpenProbes)
    count("closeAfter", options.closeAfter)
    let openDuration: Config["openDuration"] = defaultOpenDuration
    if (options.openDuration !== undefined) {
      if (Schedule.isSchedule(options.openDuration)) {
        openDuration = options.openDuration
        if (firstStepMillis(openDuration) === undefined) {
          add(["openDuration"], "Expected a Schedule that gives at least one duration")
        }
      } else {
        const duration = Duration.fromInput(options.openDuration as Duration.Input)
        if (
          (typeof options.openDuration === "number" && !(options.openDuration >= 0)) ||
          duration._tag === "None" || !Duration.isFinite(duration.value) ||
          !(Duration.toMillis(duration.value) >= 0)
        ) {
          add(
            ["openDuration"],
            `Expected a finite, non-negative duration or a Schedule, got ${JSON.stringify(options.openDuration)}`
          )
        } else {
          openDuration = duration.value
        }
      }
    }
    const counts = options.counts
    if (counts !== undefined && typeof counts !== "function" && !Array.isArray(counts)) {
      add(["counts"], "Expected a predicate or a list of error tags")
    }
    if (issues.length > 0) return Effect.fail(new BreakerConfigError({ issues }))
    const halfOpenProbes = options.halfOpenProbes ?? 1
    return Effect.succeed<Config>({
      rules,
      openDuration,
      halfOpenProbes,
      closeAfter: options.closeAfter ?? halfOpenProbes,
      counts: counts === undefined
        ? countsBusiness
        : typeof counts === "function"
        ? counts
        : ((tags) => (error: unknown) => {
          const tag = ErrorFamily.tagOf(error)
          return tag !== undefined && tags.has(tag)
        })(new Set(counts as ReadonlyArray<string>))
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// the breaker
// ---------------------------------------------------------------------------------------------------------------

// The committed state. Every transition commits a new object with the next generation; `tripper` holds the trip
// counts of a closed period and is replaced with the state.
interface Core {
  readonly status: Status
  readonly generation: number
  readonly since: number
  readonly sinceMono: number
  readonly openings: number
  readonly epoch: number
  readonly openUntil: number
  readonly lastOpenMillis: number
  readonly probes: number
  readonly probeSuccesses: number
  readonly tripper: Tripper
}

const V8Error = Error as unknown as { stackTraceLimit: number | undefined }

// Durations, windows and open periods are measured on the monotonic clock, so a step of the wall clock (NTP, a
// suspended machine) neither reopens nor stretches anything; wall time is only reported (`since`, `at`).
const monotonicMillis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1e6

interface Now {
  readonly mono: number
  readonly wall: number
}

/** @internal */
export interface Hooks {
  readonly publish: (transition: Transition) => void
}

type Outcome = "success" | "failure" | "ignored"

// what `Effect.uninterruptibleMask` passes: the interruptibility of the caller
type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * Builds a breaker from validated options; `hooks.publish` receives every transition once committed.
 *
 * @internal
 */
export const makeUnsafe = (name: string, config: Config, hooks: Hooks, changes: Stream.Stream<Transition>): CircuitBreaker => {
  const { closeAfter, counts, halfOpenProbes, rules } = config
  const timed = needsClock(rules)
  const slowMillis = slowThreshold(rules)
  const calls = { success: 0, failure: 0, ignored: 0, rejected: 0, slow: 0 }
  let wouldOpen = 0
  let dryRun: Tripper = makeTripper(rules)
  let dryRunFor: Core | undefined

  const ref = TxRef.makeUnsafe<Core>({
    status: "closed",
    generation: 0,
    since: 0,
    sinceMono: -Infinity,
    openings: 0,
    epoch: 0,
    openUntil: 0,
    lastOpenMillis: 0,
    probes: 0,
    probeSuccesses: 0,
    tripper: makeTripper(rules)
  })

  // --- open durations: stepped once per consecutive opening and remembered, so a transaction that runs again
  // gets the same duration for the same opening
  let delayEpoch = -1
  let delays: Array<number> = []
  let step: ((now: number, input: number) => Effect.Effect<[unknown, Duration.Duration], unknown, unknown>) | undefined
  const openMillis = (epoch: number, opening: number, now: number): Effect.Effect<number> => {
    const fixed = config.openDuration
    if (Duration.isDuration(fixed)) return Effect.succeed(Duration.toMillis(fixed))
    return Effect.suspend(() => {
      if (epoch !== delayEpoch) {
        delayEpoch = epoch
        delays = []
        step = undefined
      }
      if (opening <= delays.length) return Effect.succeed(delays[opening - 1]!)
      const next = (s: NonNullable<typeof step>): Effect.Effect<number> =>
        s(now, delays.length + 1).pipe(
          Effect.map(([, duration]) => Math.max(0, Duration.toMillis(duration))),
          // the schedule ended: keep the last duration
          Effect.catchCause(() => Effect.succeed(delays.length === 0 ? 0 : delays[delays.length - 1]!)),
          Effect.flatMap((millis) => {
            delays.push(millis)
            return opening <= delays.length ? Effect.succeed(delays[opening - 1]!) : next(s)
          })
        ) as Effect.Effect<number>
      if (step !== undefined) return next(step)
      return Effect.flatMap(Schedule.toStep(fixed as Schedule.Schedule<unknown, number>), (s) => {
        step = s as NonNullable<typeof step>
        return next(step)
      })
    })
  }

  // --- transitions: each a transaction from the state it was decided on; none if another fiber got there first
  // Transitions are published in generation order (each generation has exactly one), even when the fiber that
  // committed one pauses before publishing it and another commits and publishes the next.
  let nextGeneration = 1
  const unpublished = new Map<number, Transition>()
  const publish = (transition: Transition) => {
    unpublished.set(transition.generation, transition)
    for (let t = unpublished.get(nextGeneration); t !== undefined; t = unpublished.get(nextGeneration)) {
      unpublished.delete(nextGeneration++)
      hooks.publish(t)
    }
  }

  // Uninterruptible from the transaction to the publication, so a committed transition is always published.
  const commit = (
    decide: (core: Core, now: Now) => Effect.Effect<readonly [Core, Reason | undefined] | undefined>
  ): Effect.Effect<Core | undefined> =>
    Effect.uninterruptible(Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const now: Now = { mono: monotonicMillis(clock), wall: clock.currentTimeMillisUnsafe() }
        return Effect.tx(Effect.flatMap(TxRef.get(ref), (core) =>
          Effect.flatMap(decide(core, now), (decided) =>
            decided === undefined
              ? Effect.succeed(undefined)
              : Effect.as(TxRef.set(ref, decided[0]), [core, decided[0], decided[1], now.wall] as const))))
      }).pipe(Effect.map((committed) => {
        if (committed === undefined) return undefined
        const [from, to, reason, at] = committed
        if (reason !== undefined) {
          publish({
            breaker: name,
            from: from.status,
            to: to.status,
            reason,
            at,
            generation: to.generation,
            openings: to.openings,
            ...(to.status === "open" ? { openMillis: to.lastOpenMillis } : {})
          })
        }
        return to
      }))
    ))

  const next = (core: Core, status: Status, now: Now, changes?: Partial<Core>): Core => ({
    ...core,
    status,
    generation: core.generation + 1,
    since: now.wall,
    sinceMono: now.mono,
    probes: 0,
    probeSuccesses: 0,
    ...changes
  })

  const opened = (core: Core, now: Now): Effect.Effect<Core> => {
    // openings carry on from a half-open probe, or when the breaker closed less time ago than it was last open
    const keep = core.status === "half_open" || (core.openings > 0 && now.mono - core.sinceMono < core.lastOpenMillis)
    const epoch = keep ? core.epoch : core.epoch + 1
    const openings = keep ? core.openings + 1 : 1
    return Effect.map(openMillis(epoch, openings, now.wall), (millis) =>
      next(core, "open", now, { openings, epoch, openUntil: now.mono + millis, lastOpenMillis: millis }))
  }

  const trip = (from: Core, reason: TripReason) =>
    commit((core, now) =>
      core !== from ? Effect.succeed(undefined) : Effect.map(opened(core, now), (open) => [open, reason] as const)
    )

  // claims a probe slot: from open once its duration is over (becoming half-open), or in half-open while a slot
  // is free. Returns the half-open state the probe belongs to.
  const claim = (from: Core) =>
    commit((core, now) => {
      if (core.generation !== from.generation) return Effect.succeed(undefined)
      if (core.status === "open" && now.mono >= core.openUntil) {
        return Effect.succeed([next(core, "half_open", now, { probes: 1 }), "open_elapsed"] as const)
      }
      if (core.status === "half_open" && core.probes < halfOpenProbes) {
        return Effect.succeed([{ ...core, probes: core.probes + 1 }, undefined] as const)
      }
      return Effect.succeed(undefined)
    })

  const settleProbe = (generation: number, outcome: Outcome) =>
    commit((core, now) => {
      if (core.generation !== generation || core.status !== "half_open") return Effect.succeed(undefined)
      if (outcome === "ignored") return Effect.succeed([{ ...core, probes: core.probes - 1 }, undefined] as const)
      if (outcome === "failure") return Effect.map(opened(core, now), (open) => [open, "probe_failed"] as const)
      const succeeded = core.probeSuccesses + 1
      return Effect.succeed(
        succeeded >= closeAfter
          ? [next(core, "closed", now, { tripper: makeTripper(rules) }), "probes_succeeded"] as const
          : [{ ...core, probes: core.probes - 1, probeSuccesses: succeeded }, undefined] as const
      )
    })

  // a manual state entered again changes nothing; reset always starts afresh
  const manual = (status: Status, reason: Reason) =>
    Effect.asVoid(commit((core, now) => {
      if (status === "closed") {
        return Effect.succeed([
          next(core, "closed", now, { openings: 0, epoch: core.epoch + 1, lastOpenMillis: 0, tripper: makeTripper(rules) }),
          reason
        ] as const)
      }
      if (core.status === status) return Effect.succeed(undefined)
      return Effect.succeed([next(core, status, now), reason] as const)
    }))

  // --- outcomes
  const counted = (error: unknown): boolean => {
    try {
      return counts(error)
    } catch {
      // a predicate that throws cannot say the failure is harmless
      return true
    }
  }

  // A failure counts when any of its reasons does: a defect always, a typed error when `counts` says so, so
  // neither a defect nor an outage can hide behind an error the breaker ignores (a business error failing
  // alongside it). Interruptions count as neither, and so does a cause of interruptions and ignored errors only.
  const classify = (cause: Cause.Cause<unknown>): Outcome => {
    const reasons = cause.reasons
    if (reasons.length === 0) return "failure"
    for (let i = 0; i < reasons.length; i++) {
      const reason = reasons[i]!
      if (Cause.isDieReason(reason)) return "failure"
      if (Cause.isFailReason(reason) && counted(reason.error)) return "failure"
    }
    return "ignored"
  }

  const count = (outcome: Outcome, millis: number) => {
    calls[outcome]++
    if (outcome !== "ignored" && millis > slowMillis) calls.slow++
  }

  // a call admitted in `core` (closed or disabled) completed: count it, and trip if a rule says so
  const settle = (core: Core, outcome: Outcome, millis: number, now: number): Effect.Effect<unknown> | undefined => {
    count(outcome, millis)
    if (outcome === "ignored") return undefined
    if (ref.value !== core) return undefined
    if (core.status === "disabled") {
      // counts of its own, started afresh with each disabled period and after each trip they count
      if (dryRunFor !== core) {
        dryRunFor = core
        dryRun = makeTripper(rules)
      }
      if (dryRun.record(outcome === "failure", millis, now) !== undefined) {
        wouldOpen++
        dryRun = makeTripper(rules)
      }
      return undefined
    }
    if (core.status !== "closed") return undefined
    const reason = core.tripper.record(outcome === "failure", millis, now)
    return reason === undefined ? undefined : trip(core, reason)
  }

  // the last rejection per status, as a ready failed effect
  const cache = new Map<string, readonly [BreakerOpenError, Effect.Effect<never, BreakerOpenError>]>()
  const reject = (status: "open" | "half_open" | "forced_open", retryAfterMillis: number) => {
    calls.rejected++
    const millis = Math.max(0, Math.ceil(retryAfterMillis))
    const cached = cache.get(status)
    if (cached !== undefined && cached[0].retryAfterMillis === millis) return cached[1]
    let error: BreakerOpenError
    {
      // no stack: a rejection is a value about the breaker, not about where the call was made
      const limit = V8Error.stackTraceLimit
      V8Error.stackTraceLimit = 0
      try {
        error = new BreakerOpenError({ breaker: name, status, retryAfterMillis: millis }, { disableChecks: true })
      } finally {
        V8Error.stackTraceLimit = limit
      }
    }
    const failed = Effect.fail(error)
    cache.set(status, [error, failed])
    return failed
  }

  // the hint an isolated breaker gives: the first open duration
  const firstOpenMillis = Duration.isDuration(config.openDuration)
    ? Duration.toMillis(config.openDuration)
    : firstStepMillis(config.openDuration) ?? 0

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
    let cachedFor: Core | undefined
    let cachedRestore: Restore | undefined
    let cached: Effect.Effect<A, E, R> = self
    const closedUntimed = (core: Core, restore: Restore): Effect.Effect<A, E, R> => {
      if (cachedFor !== core || cachedRestore !== restore) {
        cachedFor = core
        cachedRestore = restore
        // a success can trip a rate rule too, by bringing the window to its minimum number of calls
        cached = Effect.onExitPrimitive(restore(self), (exit) =>
          settle(core, Exit.isSuccess(exit) ? "success" : classify(exit.cause), 0, 0))
      }
      return cached
    }

    // a call whose duration matters (slow-call rules, time windows, probes)
    const timedRun = (
      clock: Clock.Clock,
      done: (outcome: Outcome, millis: number, now: number) => Effect.Effect<unknown> | undefined,
      restore: Restore
    ): Effect.Effect<A, E, R> => {
      const start = monotonicMillis(clock)
      return Effect.onExitPrimitive(restore(self), (exit) => {
        const now = monotonicMillis(clock)
        const outcome = Exit.isSuccess(exit) ? "success" : classify(exit.cause)
        return done(outcome, now - start, now)
      })
    }

    const probe = (
      fiber: Fiber.Fiber<unknown, unknown>,
      from: Core,
      restore: Restore
    ): Effect.Effect<A, E | BreakerOpenError, R> =>
      Effect.flatMap(claim(from), (halfOpen) => {
        // another fiber changed the state first: the call is admitted afresh, still in the same region
        if (halfOpen === undefined) return admitting(restore)
        const clock = fiber.getRef(Clock.Clock)
        // the probe's slot is given back however it ends, interruption included
        return timedRun(clock, (outcome, millis) => {
          count(outcome, millis)
          // a slow probe fails when slow calls can trip the breaker
          const verdict = outcome === "success" && millis > slowMillis ? "failure" : outcome
          return settleProbe(halfOpen.generation, verdict)
        }, restore)
      })

    // runs uninterruptibly (see above)
    const admit = (
      fiber: Fiber.Fiber<unknown, unknown>,
      restore: Restore
    ): Effect.Effect<A, E | BreakerOpenError, R> => {
      const core = ref.value
      switch (core.status) {
        case "closed":
          return timed
            ? timedRun(fiber.getRef(Clock.Clock), (outcome, millis, now) => settle(core, outcome, millis, now), restore)
            : closedUntimed(core, restore)
        case "open": {
          const wait = core.openUntil - monotonicMillis(fiber.getRef(Clock.Clock))
          return wait > 0 ? reject("open", wait) : probe(fiber, core, restore)
        }
        case "half_open":
          return core.probes >= halfOpenProbes ? reject("half_open", 0) : probe(fiber, core, restore)
        case "forced_open":
          return reject("forced_open", firstOpenMillis)
        case "forced_closed":
        case "disabled":
          return timedRun(fiber.getRef(Clock.Clock), (outcome, millis, now) =>
            core.status === "disabled" ? settle(core, outcome, millis, now) : (count(outcome, millis), undefined), restore)
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
      const core = ref.value
      return core.status === "closed" && !timed ? closedUntimed(core, restore) : admitting(restore)
    })
  }

  const state = Effect.clockWith((clock) =>
    Effect.sync((): State => {
      const core = ref.value
      const now = monotonicMillis(clock)
      return {
        breaker: name,
        status: core.status,
        since: core.since,
        generation: core.generation,
        openings: core.openings,
        ...(core.status === "open" ? { retryAfterMillis: Math.max(0, Math.ceil(core.openUntil - now)) } : {}),
        probes: { running: core.probes, succeeded: core.probeSuccesses, limit: halfOpenProbes },
        calls: { ...calls },
        wouldOpen
      }
    })
  )

  return {
    name,
    execute,
    state,
    changes,
    isolate: manual("forced_open", "isolated"),
    forceClosed: manual("forced_closed", "forced_closed"),
    disable: manual("disabled", "disabled"),
    reset: manual("closed", "reset")
  }
}

/**
 * Builds a standalone breaker, outside any registry (`BreakerRegistry` gives named breakers shared by a whole
 * program). Its `changes` stream ends when the scope closes.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { CircuitBreaker, CommonErrors, TripRule } from "@effect-resilience/core"
 *
 * declare const charge: Effect.Effect<string, CommonErrors.NetworkError>
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make("payments", {
 *     trip: [TripRule.consecutive(5), TripRule.failureRate({ threshold: 0.5, lastCalls: 20 })],
 *     openDuration: Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("30 seconds")]),
 *     halfOpenProbes: 2
 *   })
 *   return yield* breaker.execute(charge)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  name: string,
  options?: Options
): Effect.Effect<CircuitBreaker, BreakerConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* validate(name, options)
    const pubsub = yield* PubSub.sliding<Transition>(1024)
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    return makeUnsafe(name, config, { publish: (t) => PubSub.publishUnsafe(pubsub, t) }, Stream.fromPubSub(pubsub))
  })

/**
 * Runs an effect through a breaker.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * declare const charge: Effect.Effect<string, Error>
 *
 * const guarded = charge.pipe(CircuitBreaker.execute(breaker))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const execute: {
  (breaker: CircuitBreaker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BreakerOpenError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker): Effect.Effect<A, E | BreakerOpenError, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker) => breaker.execute(self))
