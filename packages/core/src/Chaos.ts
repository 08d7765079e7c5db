/**
 * Chaos: faults injected into `protect`ed calls on purpose, to rehearse failures in tests or in staging without
 * touching production code. Provide {@link layer} and the calls its rules match get, at a rate or every Nth
 * attempt, a typed failure, a defect, added latency or an interruption; remove the layer and they are gone.
 *
 * **Details**
 *
 * - **Where.** The faults are injected innermost, into each attempt, inside the timeout and the breaker (Polly's
 *   advice for Simmy): the real rules see them as they would see the dependency fail. A retried call is several
 *   attempts, each one a chance of injection; `everyNth` counts attempts.
 * - **Reproducible.** Whether an attempt is hit is decided with effect's `Random` (so `Random.withSeed` replays a
 *   run exactly) or counted exactly (`everyNth`); an injected delay sleeps on the `Clock`, so under `TestClock` a
 *   30-second delay is instantaneous.
 * - **Seen.** Every injection is logged at `Warning` with the annotation `chaos` (its kind), counted by the
 *   service ({@link Chaos.stats}) and exported by it as `resilience_chaos_injected_total{kind,operation}` (one
 *   series per kind and operation, however many metrics services watch), and the injections into protected calls
 *   are in the figures: the `ResilienceMetrics` snapshot's `chaos`, each operation's `chaos` in the `LiveView`
 *   frames, a "chaos" badge on the dashboard. So a rehearsal is never mistaken for an outage.
 * - **Free when off.** With no `Chaos` layer, or no enabled rule for an operation, that operation's pipeline is
 *   exactly what it is without this module (the stage wraps nothing); a call pays a comparison (the stage keeps
 *   the service of the last context it saw). A matching rule that does not fire costs one decision per attempt.
 * - **The fleet's Redis.** With this layer in a `RedisBreakerStore`'s context, `redis` ({@link RedisFaults})
 *   cuts or slows its Redis commands and drops or delays the breakers' messages from other replicas.
 * - **As data.** {@link fromConfig} reads the rules from an effect `Config` (an environment variable of a staging
 *   deployment) and {@link fromDocument} from any JSON value; a `fail` fault there names an error family by its
 *   tag, and each injection is an error of that family decoded by its own Schema.
 * - **Switchable.** {@link Chaos.set} replaces the rules (a call already running injects nothing after a change) (validated whole: on an error nothing changes) and
 *   {@link Chaos.enable} / {@link Chaos.disable} turn them all on and off while the service runs.
 *
 * **Gotchas**
 *
 * - An injected failure should be one the operation can really fail with (an error of its own error union): the
 *   layer cannot see a call's type, so a rule is written for the operations it names. Its policy, breaker and
 *   fallback then treat it as the real one.
 * - A rule with no `operations` matches every protected call.
 *
 * @since 0.6.0
 */
import type { Config, Scope } from "effect"
import { Cause, Context, Duration, Effect, Exit, Layer, Random, Result, Schedule, Schema } from "effect"
import * as CommonErrors from "./CommonErrors.js"
import * as ConfigError from "./ConfigError.js"
import type * as ErrorFamily from "./ErrorFamily.js"
import { addCounterSource } from "./internal/metricSeries.js"
import { bumpEpoch } from "./internal/reloadable.js"
import { isRecord, optionIssues, show, unknownKeyMessage } from "./internal/unknownKeys.js"

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * What a rule injects (made with {@link fail}, {@link die}, {@link latency} and {@link interrupt}):
 *
 * - `Fail`: the attempt fails with `error(operation)`, instead of running.
 * - `Die`: the attempt dies with `defect(operation)`, instead of running.
 * - `Latency`: the attempt runs after a delay: a fixed one, or the next of a `Schedule`'s delays at each
 *   injection (its last one once it ends).
 * - `Interrupt`: the attempt is interrupted, instead of running.
 *
 * @since 0.6.0
 * @category models
 */
export type Fault =
  | { readonly _tag: "Fail"; readonly error: (operation: string) => unknown }
  | { readonly _tag: "Die"; readonly defect: (operation: string) => unknown }
  | { readonly _tag: "Latency"; readonly delay: Duration.Duration | Schedule.Schedule<unknown, unknown> }
  | { readonly _tag: "Interrupt" }

/**
 * The kinds of fault, as the metrics label them.
 *
 * @since 0.6.0
 * @category models
 */
export type Kind =
  | "fail"
  | "die"
  | "latency"
  | "interrupt"
  | "redis_cut"
  | "redis_delay"
  | "message_drop"
  | "message_delay"

/**
 * The kinds of fault a rule injects into a protected call (the others, `redis_*` and `message_*`, are the fleet's
 * Redis faults): the kinds the `ResilienceMetrics` snapshot and the `LiveView` frames count per operation.
 *
 * **Example**
 *
 * ```ts
 * import { Chaos } from "@effect-resilience/core"
 *
 * const kinds: ReadonlyArray<Chaos.CallKind> = ["fail", "die", "latency", "interrupt"]
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export type CallKind = Extract<Kind, "fail" | "die" | "latency" | "interrupt">

/**
 * One rule: the operations it applies to (every protected call without `operations`), its fault, and how often
 * it fires: at `rate` (the share of attempts, `0` to `1`, decided with `Random`; `1` when neither is given) or on
 * every `everyNth` attempt exactly (the Nth, the 2Nth, …, counted per rule). A rule with `enabled: false` is kept
 * but does nothing.
 *
 * @since 0.6.0
 * @category models
 */
export interface Rule {
  readonly operations?: ReadonlyArray<string> | undefined
  readonly fault: Fault
  readonly rate?: number | undefined
  readonly everyNth?: number | undefined
  readonly enabled?: boolean | undefined
}

/**
 * Faults of the fleet's Redis (with a `RedisBreakerStore` built with this layer in its context), to rehearse
 * what the fleet promises when Redis misbehaves:
 *
 * - `cut`: the share of Redis commands (the breakers' and limiters' calls, the health check's `PING`) that fail
 *   as if Redis were gone (`1`: all of them; the store degrades, and comes back once the rule is lifted).
 * - `delay`: added to every Redis command (inside the store's timeout: a delay over it degrades the store).
 * - `drop`: the share of the breakers' messages from other replicas that are lost on arrival (the resync then has
 *   to catch up).
 * - `messageDelay`: how late each of those messages is handled.
 *
 * @since 0.6.0
 * @category models
 */
export interface RedisFaults {
  readonly cut?: number | undefined
  readonly delay?: Duration.Input | undefined
  readonly drop?: number | undefined
  readonly messageDelay?: Duration.Input | undefined
}

/**
 * The options of {@link layer}: the rules, tried in order for each attempt (the first that fires injects), the
 * faults of the fleet's Redis (`redis`), and `enabled` (default `true`), which turns them all off when `false`.
 *
 * @since 0.6.0
 * @category models
 */
export interface Options {
  readonly enabled?: boolean | undefined
  readonly rules: ReadonlyArray<Rule>
  readonly redis?: RedisFaults | undefined
}

/**
 * The injections so far, one entry per operation and kind.
 *
 * @since 0.6.0
 * @category models
 */
export interface Injected {
  readonly operation: string
  readonly kind: Kind
  readonly count: number
}

/**
 * The chaos service: its rules, switchable while it runs, and what it injected.
 *
 * @since 0.6.0
 * @category models
 */
export interface Chaos {
  /** Replaces the rules, validated whole: on a `ConfigError` (every problem named) the current ones stay. */
  readonly set: (options: Options) => Effect.Effect<void, ConfigError.ConfigError>
  /** Turns the rules on (as `enabled: true`). */
  readonly enable: Effect.Effect<void>
  /** Turns the rules off (as `enabled: false`): no call is touched until `enable` or `set`. */
  readonly disable: Effect.Effect<void>
  /** The injections so far, by operation and kind. */
  readonly stats: Effect.Effect<ReadonlyArray<Injected>>
}

// ---------------------------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------------------------

/**
 * A typed failure: `error`, or `error(operation)` for a fresh one per injection.
 *
 * **Example**
 *
 * ```ts
 * import { Chaos, CommonErrors } from "@effect-resilience/core"
 *
 * const storageDown = Chaos.fail((operation) => new CommonErrors.StorageError({ operation, detail: "chaos" }))
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const fail: {
  <E>(error: (operation: string) => E): Fault
  <E>(error: E): Fault
} = <E>(error: E | ((operation: string) => E)): Fault => ({
  _tag: "Fail",
  error: typeof error === "function" ? (error as (operation: string) => E) : () => error
})

/**
 * A defect: `defect` (by default an `Error` naming the operation), or `defect(operation)`.
 *
 * **Example**
 *
 * ```ts
 * import { Chaos } from "@effect-resilience/core"
 *
 * const crash = Chaos.die((operation) => new Error(`chaos: ${operation} crashed`))
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const die: {
  (defect?: (operation: string) => unknown): Fault
  (defect: unknown): Fault
} = (defect?: unknown): Fault => ({
  _tag: "Die",
  defect: typeof defect === "function"
    ? defect as (operation: string) => unknown
    : defect === undefined
    ? (operation) => new Error(`chaos: a defect injected into ${operation}`)
    : () => defect
})

/**
 * Added latency before the attempt: a duration, or a `Schedule` whose delays are taken one per injection (its
 * last one once it ends).
 *
 * **Example**
 *
 * ```ts
 * import { Schedule } from "effect"
 * import { Chaos } from "@effect-resilience/core"
 *
 * const slow = Chaos.latency("30 seconds")
 * const slower = Chaos.latency(Schedule.exponential("100 millis"))
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const latency = (delay: Duration.Input | Schedule.Schedule<unknown, unknown>): Fault => {
  if (Schedule.isSchedule(delay)) return { _tag: "Latency", delay: delay as Schedule.Schedule<unknown, unknown> }
  const duration = Duration.fromInput(delay as Duration.Input)
  // a delay that is not a duration is kept as given, for validation to name it
  return { _tag: "Latency", delay: duration._tag === "Some" ? duration.value : delay as unknown as Duration.Duration }
}

/**
 * An interruption of the attempt.
 *
 * **Example**
 *
 * ```ts
 * import { Chaos } from "@effect-resilience/core"
 *
 * const cut = { operations: ["payments.charge"], fault: Chaos.interrupt, everyNth: 10 }
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const interrupt: Fault = { _tag: "Interrupt" }

// ---------------------------------------------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------------------------------------------

const optionKeys = ["enabled", "rules", "redis"]
const redisKeys = ["cut", "delay", "drop", "messageDelay"]
const ruleKeys = ["operations", "fault", "rate", "everyNth", "enabled"]

const isFault = (u: unknown): u is Fault => {
  if (!isRecord(u)) return false
  const f = u as { readonly _tag?: unknown; readonly error?: unknown; readonly defect?: unknown; readonly delay?: unknown }
  switch (f._tag) {
    case "Fail":
      return typeof f.error === "function"
    case "Die":
      return typeof f.defect === "function"
    case "Latency":
      return Schedule.isSchedule(f.delay) ||
        (Duration.isDuration(f.delay) && Duration.toMillis(f.delay) >= 0 && Duration.isFinite(f.delay))
    case "Interrupt":
      return true
    default:
      return false
  }
}

/**
 * Checks options as {@link layer} and {@link Chaos.set} do: every problem at once, each with its path (unknown
 * keys named with the nearest known one).
 *
 * **Example**
 *
 * ```ts
 * import { Chaos } from "@effect-resilience/core"
 *
 * // fails: rate must be between 0 and 1, and "rat" is not a key
 * const checked = Chaos.validate({ rules: [{ fault: Chaos.interrupt, rate: 2 }, { fault: Chaos.interrupt, rat: 1 } as Chaos.Rule] })
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const validate = (options: Options): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(compile(options))

interface Compiled {
  readonly enabled: boolean
  readonly rules: ReadonlyArray<CompiledRule>
  readonly redis: CompiledRedis | undefined
}

/** @internal */
export interface CompiledRedis {
  readonly cut: number
  readonly delayMillis: number
  readonly drop: number
  readonly messageDelayMillis: number
}

const rateOk = (u: unknown) => u === undefined || (typeof u === "number" && u >= 0 && u <= 1)
const millisOrIssue = (u: unknown): number | string => {
  if (u === undefined) return 0
  const d = Duration.fromInput(u as Duration.Input)
  return d._tag === "Some" && Duration.toMillis(d.value) >= 0 && Number.isFinite(Duration.toMillis(d.value))
    ? Duration.toMillis(d.value)
    : `Expected a duration such as "200 millis", got ${show(u)}`
}

interface CompiledRule {
  readonly index: number
  readonly operations: ReadonlySet<string> | undefined
  readonly fault: Fault
  readonly kind: CallKind
  readonly rate: number
  readonly everyNth: number | undefined
  readonly enabled: boolean
}

const kindOf = (fault: Fault): CallKind =>
  fault._tag === "Fail" ? "fail" : fault._tag === "Die" ? "die" : fault._tag === "Latency" ? "latency" : "interrupt"

const compile = (options: Options): Effect.Effect<Compiled, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const issues: Array<ConfigError.Issue> = [...optionIssues(options, optionKeys)]
    if (!isRecord(options)) return Effect.fail(new ConfigError.ConfigError({ issues }))
    const o = options as Options
    if (o.enabled !== undefined && typeof o.enabled !== "boolean") {
      issues.push({ path: ["enabled"], message: `Expected true or false, got ${show(o.enabled)}` })
    }
    const rules: Array<CompiledRule> = []
    if (!Array.isArray(o.rules)) {
      issues.push({ path: ["rules"], message: `Expected a list of rules, got ${show(o.rules)}` })
    } else {
      o.rules.forEach((rule: Rule, index: number) => {
        const path = ["rules", index]
        const at = (key: string) => [...path, key]
        const before = issues.length
        issues.push(...optionIssues(rule, ruleKeys, ["rules", String(index)]).map((i) => ({ ...i, path: i.path.map(pathSegment) })))
        if (!isRecord(rule)) return
        if (!isFault(rule.fault)) {
          issues.push({
            path: at("fault"),
            message: isRecord(rule.fault) && (rule.fault as { readonly _tag?: unknown })._tag === "Latency"
              ? `Expected a finite delay of at least 0, or a Schedule, got ${show((rule.fault as { readonly delay?: unknown }).delay)}`
              : `Expected a fault made with Chaos.fail, Chaos.die, Chaos.latency or Chaos.interrupt, got ${show(rule.fault)}`
          })
        }
        if (
          rule.operations !== undefined &&
          !(Array.isArray(rule.operations) && rule.operations.length > 0 &&
            rule.operations.every((n) => typeof n === "string" && n !== ""))
        ) {
          issues.push({
            path: at("operations"),
            message: `Expected a non-empty list of operation names (leave it out for every operation), got ${show(rule.operations)}`
          })
        }
        if (rule.rate !== undefined && !(typeof rule.rate === "number" && rule.rate >= 0 && rule.rate <= 1)) {
          issues.push({ path: at("rate"), message: `Expected a number from 0 to 1, got ${show(rule.rate)}` })
        }
        if (rule.everyNth !== undefined && !(Number.isInteger(rule.everyNth) && rule.everyNth >= 1)) {
          issues.push({ path: at("everyNth"), message: `Expected an integer of at least 1, got ${show(rule.everyNth)}` })
        }
        if (rule.rate !== undefined && rule.everyNth !== undefined) {
          issues.push({ path: at("everyNth"), message: "Expected either rate or everyNth, not both" })
        }
        if (rule.enabled !== undefined && typeof rule.enabled !== "boolean") {
          issues.push({ path: at("enabled"), message: `Expected true or false, got ${show(rule.enabled)}` })
        }
        if (issues.length > before) return
        rules.push({
          index,
          operations: rule.operations === undefined ? undefined : new Set(rule.operations),
          fault: rule.fault,
          kind: kindOf(rule.fault),
          rate: rule.rate ?? 1,
          everyNth: rule.everyNth,
          enabled: rule.enabled ?? true
        })
      })
    }
    let redis: CompiledRedis | undefined
    if (o.redis !== undefined) {
      issues.push(...optionIssues(o.redis, redisKeys, ["redis"]))
      if (isRecord(o.redis)) {
        const r = o.redis as RedisFaults
        for (const key of ["cut", "drop"] as const) {
          if (!rateOk(r[key])) issues.push({ path: ["redis", key], message: `Expected a number from 0 to 1, got ${show(r[key])}` })
        }
        const delay = millisOrIssue(r.delay)
        const messageDelay = millisOrIssue(r.messageDelay)
        if (typeof delay === "string") issues.push({ path: ["redis", "delay"], message: delay })
        if (typeof messageDelay === "string") issues.push({ path: ["redis", "messageDelay"], message: messageDelay })
        if (typeof delay === "number" && typeof messageDelay === "number") {
          redis = { cut: r.cut ?? 0, delayMillis: delay, drop: r.drop ?? 0, messageDelayMillis: messageDelay }
        }
      }
    }
    return issues.length > 0
      ? Effect.fail(new ConfigError.ConfigError({ issues }))
      : Effect.succeed({ enabled: o.enabled ?? true, rules, redis })
  })

// a rule's index is a number in a ConfigError's path
const pathSegment = (segment: string, i: number): string | number => i === 1 ? Number(segment) : segment

// ---------------------------------------------------------------------------------------------------------------
// the service
// ---------------------------------------------------------------------------------------------------------------

/**
 * The service. {@link layer} provides it; `protect` reads it from the context (with none, nothing is injected).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "@effect-resilience/core"
 *
 * const injected = Chaos.Chaos.use((chaos) => chaos.stats).pipe(
 *   Effect.provide(Chaos.layer({ rules: [{ fault: Chaos.latency("1 second"), rate: 0.1 }] }))
 * )
 * ```
 *
 * @since 0.6.0
 * @category services
 */
export const Chaos: Context.Service<Chaos, Chaos> = Context.Service<Chaos>("@effect-resilience/core/Chaos")

/**
 * What the `protect` stage reads: the rules in force (a new value on each change), the decision of an attempt,
 * and the counting of an injection.
 *
 * @internal
 */
export interface Current {
  readonly enabled: boolean
  readonly rules: ReadonlyArray<CompiledRule>
  readonly redis: CompiledRedis | undefined
  /** Whether `rule` fires for this attempt (an `everyNth` rule counts the attempt either way). */
  readonly decide: (rule: CompiledRule, random: Random.Random) => boolean
  /** Whether these are still the rules in force (a call started before a change injects nothing after it). */
  readonly inForce: () => boolean
  /** The delay of a latency rule's next injection, in milliseconds. */
  readonly delayOf: (rule: CompiledRule) => Effect.Effect<number>
  readonly injected: (operation: string, kind: Kind) => void
}

/**
 * Whether an event hit at `rate` (0 to 1) is hit now: always at 1 and never at 0, without a draw; otherwise one
 * draw of `random`.
 *
 * @internal
 */
export const fires = (rate: number, random: Random.Random): boolean =>
  rate >= 1 || (rate > 0 && random.nextDoubleUnsafe() < rate)

/** @internal */
export const currentKey: unique symbol = Symbol.for("@effect-resilience/core/Chaos/current")

/** @internal */
export const currentOf = (chaos: Chaos): Current | undefined => {
  // a Chaos service not made by `make` (a stub) injects nothing
  const current = (chaos as Chaos & { readonly [currentKey]?: () => Current })[currentKey]
  return typeof current === "function" ? current() : undefined
}

/**
 * Builds the service from its options (a `ConfigError` naming every problem, and nothing built, when they are
 * invalid). Its metric series are removed with its scope.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "@effect-resilience/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const chaos = yield* Chaos.make({ enabled: false, rules: [{ fault: Chaos.interrupt, everyNth: 3 }] })
 *   yield* chaos.enable
 * }))
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Chaos, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const first = yield* compile(options)
    const context = yield* Effect.context<never>()
    const counts = new Map<string, { readonly operation: string; readonly kind: Kind; count: number }>()
    const removers: Array<() => void> = []
    yield* Effect.addFinalizer(() => Effect.sync(() => removers.splice(0).forEach((remove) => remove())))

    // per rule: how many attempts it saw (everyNth), and the steps of a latency schedule
    const seen = new WeakMap<CompiledRule, number>()
    const steppers = new WeakMap<CompiledRule, { step?: Step; last: number; count: number }>()
    type Step = (now: number, input: unknown) => Effect.Effect<[unknown, Duration.Duration], unknown, unknown>
    const clock = yield* Effect.clockWith(Effect.succeed)

    const decide = (rule: CompiledRule, random: Random.Random): boolean => {
      if (rule.everyNth !== undefined) {
        const n = (seen.get(rule) ?? 0) + 1
        seen.set(rule, n)
        return n % rule.everyNth === 0
      }
      return fires(rule.rate, random)
    }
    const delayOf = (rule: CompiledRule): Effect.Effect<number> => {
      const fault = rule.fault as Extract<Fault, { readonly _tag: "Latency" }>
      if (Duration.isDuration(fault.delay)) return Effect.succeed(Duration.toMillis(fault.delay))
      const schedule = fault.delay
      return Effect.suspend(() => {
        let state = steppers.get(rule)
        if (state === undefined) {
          state = { last: 0, count: 0 }
          steppers.set(rule, state)
        }
        const s = state
        const stepped = (step: Step) =>
          step(clock.currentTimeMillisUnsafe(), s.count++).pipe(
            Effect.map(([, duration]) => (s.last = Math.max(0, Duration.toMillis(duration)))),
            // the schedule ended: its last delay stays
            Effect.catchCause(() => Effect.succeed(s.last))
          ) as Effect.Effect<number>
        if (s.step !== undefined) return stepped(s.step)
        return Effect.flatMap(Schedule.toStep(schedule), (step) => {
          s.step = step as Step
          return stepped(s.step)
        })
      })
    }
    const injected = (operation: string, kind: Kind) => {
      const key = `${kind}\u0000${operation}`
      let entry = counts.get(key)
      if (entry === undefined) {
        const made = { operation, kind, count: 0 }
        entry = made
        counts.set(key, made)
        removers.push(addCounterSource(
          context,
          "resilience_chaos_injected_total",
          "Faults injected by the chaos layer, by kind and operation",
          { kind, operation },
          () => made.count
        ))
      }
      entry.count++
    }
    const currentFrom = (compiled: Compiled): Current => {
      const made: Current = { ...compiled, decide, delayOf, injected, inForce: () => current === made }
      // the protect call sites read the rules again (see the chaos stage's `read`)
      bumpEpoch()
      return made
    }
    let current = currentFrom(first)

    const service: Chaos = {
      set: (next) => Effect.map(compile(next), (compiled) => void (current = currentFrom(compiled))),
      enable: Effect.sync(() => {
        if (!current.enabled) current = currentFrom({ ...current, enabled: true })
      }),
      disable: Effect.sync(() => {
        if (current.enabled) current = currentFrom({ ...current, enabled: false })
      }),
      stats: Effect.sync(() => [...counts.values()].map(({ count, kind, operation }) => ({ operation, kind, count })))
    }
    Object.defineProperty(service, currentKey, { value: () => current })
    return service
  })

// ---------------------------------------------------------------------------------------------------------------
// documents
// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of {@link fromDocument} and {@link fromConfig}: the error families a `fail` fault may name by tag,
 * besides `CommonErrors`' (`StorageError`, `NetworkError`, `TimeoutError`, …), which are always known.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Chaos, ErrorFamily } from "@effect-resilience/core"
 *
 * class PaymentDeclined extends ErrorFamily.TaggedError<PaymentDeclined>()("PaymentDeclined", { reason: Schema.String }, {
 *   code: "shop.E0042",
 *   kind: "business",
 *   severity: "low"
 * }) {}
 *
 * const options: Chaos.DocumentOptions = { families: [PaymentDeclined] }
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface DocumentOptions {
  readonly families?: ReadonlyArray<ErrorFamily.Any> | undefined
}

const documentRuleKeys = ["operations", "fault", "rate", "everyNth", "enabled"]
const failKeys = ["fail", "detail", "fields"]

// one `fault` of a document as a Fault, or the issues that say why it is not one
const faultOf = (
  given: unknown,
  path: ReadonlyArray<string>,
  families: ReadonlyMap<string, ErrorFamily.Any>
): Fault | Array<ConfigError.Issue> => {
  const expected =
    `Expected "interrupt", "die", { "die": message }, { "latency": duration } or { "fail": error tag }, got ${show(given)}`
  if (given === "interrupt") return interrupt
  if (given === "die") return die()
  if (!isRecord(given)) return [{ path: [...path], message: expected }]
  const f = given as Record<string, unknown>
  if ("die" in f) {
    const issues = optionIssues(f, ["die"], path)
    if (typeof f.die !== "string") issues.push({ path: [...path, "die"], message: `Expected a message, got ${show(f.die)}` })
    if (issues.length > 0) return issues
    const message = f.die as string
    return die(() => new Error(message))
  }
  if ("latency" in f) {
    const issues = optionIssues(f, ["latency"], path)
    const millis = typeof f.latency === "string" || typeof f.latency === "number" ? millisOrIssue(f.latency) : undefined
    if (typeof millis !== "number") {
      issues.push({ path: [...path, "latency"], message: `Expected a duration such as "200 millis", got ${show(f.latency)}` })
    }
    return issues.length > 0 ? issues : latency(Duration.millis(millis as number))
  }
  if ("fail" in f) {
    const issues = optionIssues(f, failKeys, path)
    const family = typeof f.fail === "string" ? families.get(f.fail) : undefined
    if (family === undefined) {
      const known = [...families.keys()].sort()
      issues.push({
        path: [...path, "fail"],
        message: typeof f.fail === "string"
          ? unknownKeyMessage(f.fail, known).replace("Unknown key", "Unknown error family")
          : `Expected an error tag (one of ${known.map((tag) => JSON.stringify(tag)).join(", ")}), got ${show(f.fail)}`
      })
    }
    if (f.detail !== undefined && typeof f.detail !== "string") {
      issues.push({ path: [...path, "detail"], message: `Expected a string, got ${show(f.detail)}` })
    }
    if (f.fields !== undefined && !isRecord(f.fields)) {
      issues.push({ path: [...path, "fields"], message: `Expected an object of the error's fields, got ${show(f.fields)}` })
    }
    if (issues.length > 0 || family === undefined) return issues
    // the error as its family's Schema decodes it: its own fields checked (unknown ones named), the call's operation
    // given to a family that has an `operation` field, and a detail saying where it came from
    const schema = family as unknown as Schema.Decoder<unknown>
    const hasOperation = "operation" in ((family as { readonly fields?: object }).fields ?? {})
    const props = (operation: string) => ({
      ...(hasOperation ? { operation } : {}),
      detail: (f.detail as string | undefined) ?? "injected by chaos",
      ...(f.fields as object | undefined),
      _tag: family.family.tag
    })
    const decode = Schema.decodeUnknownExit(schema)
    const checked = decode(props("(operation)"), { errors: "all", onExcessProperty: "error" })
    if (Exit.isFailure(checked)) {
      const found = Cause.findError(checked.cause)
      return Result.isSuccess(found) && Schema.isSchemaError(found.success)
        ? ConfigError.fromSchemaIssue(found.success.issue, [...path, "fields"])
        : [{ path: [...path, "fields"], message: Cause.pretty(checked.cause) }]
    }
    return fail((operation: string) => {
      const made = decode(props(operation))
      return Exit.isSuccess(made) ? made.value : checked.value
    })
  }
  return [{ path: [...path], message: expected }]
}

/**
 * Reads the rules from a document (a JSON value: a file, an environment variable, a `Config`), for a staging
 * build that turns chaos on or scopes it without code. The document has {@link Options}' shape, with data for
 * the faults:
 *
 * | `fault` | injects |
 * | --- | --- |
 * | `"interrupt"` | an interruption |
 * | `"die"`, `{ "die": "message" }` | a defect (an `Error` with the message) |
 * | `{ "latency": "2 seconds" }` | a delay before the attempt |
 * | `{ "fail": "StorageError", "detail"?: "…", "fields"?: { … } }` | a typed failure of that error family, decoded by its Schema: the call's operation in its `operation` field when it has one, `detail` (default `"injected by chaos"`), and its other fields from `fields` |
 *
 * The families `fail` may name are `CommonErrors`' and `options.families`. Every problem is reported at once with
 * its path (`rules.0.fault.fail: Unknown error family "StorageErorr", did you mean "StorageError"?`,
 * `rules.1.fault.fields.reason: Missing key`), unknown keys named, as {@link validate} does.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "@effect-resilience/core"
 *
 * const options = Chaos.fromDocument({
 *   rules: [
 *     { operations: ["items.save"], fault: { fail: "StorageError" }, rate: 0.1 },
 *     { operations: ["search"], fault: { latency: "2 seconds" }, everyNth: 20 }
 *   ]
 * })
 * const Rehearsal = Effect.map(options, (o) => Chaos.layer(o))
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const fromDocument = (
  document: unknown,
  options: DocumentOptions = {}
): Effect.Effect<Options, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const families = new Map<string, ErrorFamily.Any>()
    for (const family of [...CommonErrors.families, ...(options.families ?? [])]) families.set(family.family.tag, family)
    if (!isRecord(document)) {
      return Effect.fail(
        new ConfigError.ConfigError({ issues: [{ path: [], message: `Expected an object of chaos rules, got ${show(document)}` }] })
      )
    }
    const d = document as { readonly rules?: unknown }
    const issues: Array<ConfigError.Issue> = []
    // the faults as data become faults; a rule whose fault is not one keeps a fault, so that the rest of it is
    // still checked, and its issues are the fault's
    const rules = Array.isArray(d.rules)
      ? d.rules.map((rule: unknown, index) => {
        if (!isRecord(rule)) return rule
        const r = rule as Record<string, unknown>
        issues.push(...optionIssues(r, documentRuleKeys, ["rules", String(index)]).filter((i) => i.path.length > 0))
        const fault = faultOf(r.fault, ["rules", String(index), "fault"], families)
        if (Array.isArray(fault)) issues.push(...fault)
        const { enabled, everyNth, operations, rate } = r
        return { operations, fault: Array.isArray(fault) ? interrupt : fault, rate, everyNth, enabled }
      })
      : d.rules
    const candidate = { ...(document as object), rules } as Options
    return Effect.flatMap(
      Effect.result(compile(candidate)),
      (compiled) => {
        // unknown keys of a rule were named above, with the document's own keys
        const all = [
          ...issues,
          ...(Result.isFailure(compiled) ? compiled.failure.issues : []).filter((issue) =>
            !issues.some((mine) => mine.path.join(".") === issue.path.join("."))
          )
        ]
        return all.length > 0 ? Effect.fail(new ConfigError.ConfigError({ issues: all })) : Effect.succeed(candidate)
      }
    )
  })

// ---------------------------------------------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------------------------------------------

/**
 * The chaos layer: provide it (in a test, or a staging build) and the calls its rules match get their faults.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer, Random } from "effect"
 * import { Chaos, CommonErrors, ErrorLayer, protect } from "@effect-resilience/core"
 *
 * const Rehearsal = Chaos.layer({
 *   rules: [
 *     { operations: ["items.save"], fault: Chaos.fail((operation) => new CommonErrors.StorageError({ operation })), rate: 0.2 },
 *     { operations: ["items.read"], fault: Chaos.latency("2 seconds"), everyNth: 10 }
 *   ]
 * })
 *
 * const save = Effect.void.pipe(protect({ operation: "items.save" }))
 * // the same seed, the same injections
 * const run = save.pipe(Random.withSeed("rehearsal-1"), Effect.provide(Layer.merge(ErrorLayer.layer(), Rehearsal)))
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Chaos, ConfigError.ConfigError> => Layer.effect(Chaos, make(options))

/**
 * The chaos layer, its rules read from an effect `Config` (the `ConfigProvider` of the context) as the layer is
 * built: a string value is read as JSON (an environment variable holding the rules), any other value is the
 * document itself (see {@link fromDocument}). So a staging deployment turns chaos on, off or onto other
 * operations by its environment, with no code change; {@link Chaos.set}, `enable` and `disable` still change it
 * while it runs. A `Config` that fails, or rules that are not valid, fail the layer with a `ConfigError` naming
 * each problem.
 *
 * **Example**
 *
 * ```ts
 * import { Config, Layer } from "effect"
 * import { Chaos, ErrorLayer } from "@effect-resilience/core"
 *
 * // CHAOS_RULES='{"rules":[{"operations":["items.save"],"fault":{"fail":"StorageError"},"rate":0.05}]}'
 * const Staging = Layer.merge(
 *   ErrorLayer.layer(),
 *   Chaos.fromConfig(Config.String("CHAOS_RULES").pipe(Config.withDefault(`{"enabled":false,"rules":[]}`)))
 * )
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const fromConfig = <A>(
  config: Config.Config<A>,
  options: DocumentOptions = {}
): Layer.Layer<Chaos, ConfigError.ConfigError> =>
  Layer.effect(
    Chaos,
    Effect.gen(function*() {
      const value = yield* Effect.mapError(
        config as Effect.Effect<A, Config.ConfigError>,
        (error) => new ConfigError.ConfigError({ issues: [{ path: [], message: `Config: ${error.message}` }] })
      )
      const document = typeof value === "string"
        ? yield* Effect.try({
          try: () => JSON.parse(value) as unknown,
          catch: (error) =>
            new ConfigError.ConfigError({
              issues: [{ path: [], message: `Invalid JSON: ${error instanceof Error ? error.message : String(error)}` }]
            })
        })
        : value
      return yield* make(yield* fromDocument(document, options))
    })
  )

