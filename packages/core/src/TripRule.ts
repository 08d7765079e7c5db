/**
 * Trip rules: when a circuit breaker opens. Each rule is a small plain value (a `_tag` and its numbers), so rules
 * can be swapped, combined (a breaker opens when any of its rules trips), compared and written in config.
 *
 * - {@link consecutive}: a number of counted failures in a row.
 * - {@link failureRate}: the share of failures over the last N calls, or over the last T seconds in buckets, once a
 *   minimum number of calls has been seen.
 * - {@link slowCallRate}: the share of calls slower than a threshold, over the same kinds of window.
 *
 * {@link TripRule} is the Schema that checks a rule value (a breaker's options are checked with it), whatever
 * built it: a constructor, a hand-written value, JSON.
 *
 * @since 0.1.0
 */
import { Duration, Schema } from "effect"
import { guarded, type KeyIssue, knownKeys, unknownKeys } from "./internal/unknownKeys.js"

/**
 * Opens the breaker after `failures` counted failures in a row; a success starts the count again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Consecutive {
  readonly _tag: "Consecutive"
  readonly failures: number
}

/**
 * The calls a rate is taken over: the last `size` calls, or the calls of the last `duration`, kept in `buckets`
 * buckets (the window slides one bucket at a time).
 *
 * @since 0.1.0
 * @category models
 */
export type Window =
  | { readonly _tag: "Calls"; readonly size: number }
  | { readonly _tag: "Time"; readonly duration: Duration.Duration; readonly buckets: number }

/**
 * Opens the breaker when failures are at least `threshold` (0 to 1) of the calls in the window, once the window
 * holds at least `minimumCalls` calls.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailureRate {
  readonly _tag: "FailureRate"
  readonly threshold: number
  readonly minimumCalls: number
  readonly window: Window
}

/**
 * Opens the breaker when calls that took longer than `slowerThan` (successes and failures alike) are at least
 * `threshold` (0 to 1) of the calls in the window, once the window holds at least `minimumCalls` calls.
 *
 * @since 0.1.0
 * @category models
 */
export interface SlowCallRate {
  readonly _tag: "SlowCallRate"
  readonly threshold: number
  readonly minimumCalls: number
  readonly slowerThan: Duration.Duration
  readonly window: Window
}

/**
 * A trip rule.
 *
 * @since 0.1.0
 * @category models
 */
export type TripRule = Consecutive | FailureRate | SlowCallRate

/**
 * The window of a rate rule: `lastCalls` for a count window, or `lastDuration` (with `buckets`, default 10) for a
 * time window.
 *
 * @since 0.1.0
 * @category models
 */
export type WindowInput =
  | { readonly lastCalls: number; readonly lastDuration?: undefined; readonly buckets?: undefined }
  | { readonly lastDuration: Duration.Input; readonly buckets?: number | undefined; readonly lastCalls?: undefined }

/**
 * Options of {@link failureRate}.
 *
 * @since 0.1.0
 * @category models
 */
export type FailureRateOptions = WindowInput & {
  readonly threshold: number
  readonly minimumCalls?: number | undefined
}

/**
 * Options of {@link slowCallRate}.
 *
 * @since 0.1.0
 * @category models
 */
export type SlowCallRateOptions = FailureRateOptions & { readonly slowerThan: Duration.Input }

/**
 * Opens after `failures` counted failures in a row.
 *
 * **Example**
 *
 * ```ts
 * import { TripRule } from "@effect-resilience/core"
 *
 * const rule = TripRule.consecutive(5)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const consecutive = (failures: number): TripRule => ({ _tag: "Consecutive", failures })

// the options' keys, listed so that the lists cannot fall behind the types
const rateOptionKeys = {
  threshold: true,
  minimumCalls: true,
  lastCalls: true,
  lastDuration: true,
  buckets: true
} as const
const failureRateKeys = knownKeys<FailureRateOptions>(rateOptionKeys)
const slowCallRateKeys = knownKeys<SlowCallRateOptions>({ ...rateOptionKeys, slowerThan: true })

// The unknown keys of a constructor's options (`{ treshold: 0.5 }` from a config file) are kept on the rule it
// built, out of sight of comparisons and JSON, so that the rule's Schema (and so the breaker that gets the rule)
// reports them instead of dropping them.
const optionIssuesKey: unique symbol = Symbol.for("effect-resilience/TripRule/optionIssues")

const withOptionIssues = (rule: TripRule, issues: ReadonlyArray<KeyIssue>): TripRule =>
  issues.length === 0 ? rule : Object.defineProperty(rule, optionIssuesKey, { value: issues, enumerable: false })

// the keys each kind of rule value has: a rule written by hand or read from JSON is checked against them
const ruleKeys: Record<TripRule["_tag"], ReadonlyArray<string>> = {
  Consecutive: ["_tag", "failures"],
  FailureRate: ["_tag", "threshold", "minimumCalls", "window"],
  SlowCallRate: ["_tag", "threshold", "minimumCalls", "slowerThan", "window"]
}
const windowKeys: Record<Window["_tag"], ReadonlyArray<string>> = {
  Calls: ["_tag", "size"],
  Time: ["_tag", "duration", "buckets"]
}

const windowOf = (input: WindowInput): Window =>
  input.lastCalls !== undefined
    ? { _tag: "Calls", size: input.lastCalls }
    : {
      _tag: "Time",
      duration: Duration.fromInput(input.lastDuration).pipe((o) => o._tag === "Some" ? o.value : Duration.infinity),
      buckets: input.buckets ?? 10
    }

/**
 * Opens when the failure rate over a window reaches `threshold`. `minimumCalls` defaults to the window size for a
 * count window, and to 10 for a time window.
 *
 * **Example**
 *
 * ```ts
 * import { TripRule } from "@effect-resilience/core"
 *
 * // half of the last 20 calls failed, once 10 calls were seen
 * const overCalls = TripRule.failureRate({ threshold: 0.5, lastCalls: 20, minimumCalls: 10 })
 * // half of the calls of the last 30 seconds (10 buckets of 3 seconds), once 20 calls were seen
 * const overTime = TripRule.failureRate({ threshold: 0.5, lastDuration: "30 seconds", minimumCalls: 20 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const failureRate = (options: FailureRateOptions): TripRule =>
  withOptionIssues({
    _tag: "FailureRate",
    threshold: options.threshold,
    minimumCalls: options.minimumCalls ?? (options.lastCalls ?? 10),
    window: windowOf(options)
  }, unknownKeys(options, failureRateKeys))

/**
 * Opens when the share of calls slower than `slowerThan` over a window reaches `threshold`: a dependency that
 * answers, but too slowly to be useful, is isolated like one that fails.
 *
 * **Example**
 *
 * ```ts
 * import { TripRule } from "@effect-resilience/core"
 *
 * // 80% of the last 50 calls took longer than 2 seconds
 * const slow = TripRule.slowCallRate({ slowerThan: "2 seconds", threshold: 0.8, lastCalls: 50 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const slowCallRate = (options: SlowCallRateOptions): TripRule =>
  withOptionIssues({
    _tag: "SlowCallRate",
    threshold: options.threshold,
    minimumCalls: options.minimumCalls ?? (options.lastCalls ?? 10),
    slowerThan: Duration.fromInput(options.slowerThan).pipe((o) => o._tag === "Some" ? o.value : Duration.infinity),
    window: windowOf(options)
  }, unknownKeys(options, slowCallRateKeys))

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 1

/**
 * The largest count window, and the most buckets of a time window: bounds on the memory of one rule.
 *
 * **Example**
 *
 * ```ts
 * import { TripRule } from "@effect-resilience/core"
 *
 * // the longest count window a rule may have
 * const widest = TripRule.failureRate({ threshold: 0.5, lastCalls: TripRule.limits.lastCalls })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const limits = { lastCalls: 100_000, buckets: 10_000 } as const

const positiveFinite = (d: unknown): d is Duration.Duration =>
  Duration.isDuration(d) && Duration.isFinite(d) && Duration.toMillis(d) > 0

// the problems of a rule value, each with the path to the field at fault (empty when the rule is valid)
const ruleIssues = (rule: TripRule): Array<{ readonly path: ReadonlyArray<string>; readonly issue: string }> => {
  const issues: Array<{ path: ReadonlyArray<string>; issue: string }> = []
  const add = (path: ReadonlyArray<string>, issue: string) => issues.push({ path, issue })
  const count = (path: Array<string>, value: unknown, max = Infinity) => {
    if (!isCount(value)) add(path, `Expected an integer of at least 1, got ${String(value)}`)
    else if (value > max) add(path, `Expected at most ${max}, got ${value}`)
  }
  for (const issue of (rule as { readonly [optionIssuesKey]?: ReadonlyArray<KeyIssue> })[optionIssuesKey] ?? []) {
    add(issue.path, issue.message)
  }
  const known = ruleKeys[rule._tag] as ReadonlyArray<string> | undefined
  if (known !== undefined) for (const issue of unknownKeys(rule, known)) add(issue.path, issue.message)
  switch (rule._tag) {
    case "Consecutive": {
      count(["failures"], rule.failures)
      break
    }
    case "FailureRate":
    case "SlowCallRate": {
      if (!(typeof rule.threshold === "number" && rule.threshold > 0 && rule.threshold <= 1)) {
        add(["threshold"], `Expected a rate between 0 (exclusive) and 1, got ${String(rule.threshold)}`)
      }
      count(["minimumCalls"], rule.minimumCalls)
      if (rule._tag === "SlowCallRate" && !positiveFinite(rule.slowerThan)) {
        add(["slowerThan"], "Expected a finite, positive duration such as \"2 seconds\"")
      }
      const window = rule.window
      if (typeof window !== "object" || window === null) {
        add(["window"], "Expected lastCalls or lastDuration")
      } else if (window._tag === "Calls") {
        for (const issue of unknownKeys(window, windowKeys.Calls, ["window"])) add(issue.path, issue.message)
        count(["lastCalls"], window.size, limits.lastCalls)
        if (isCount(window.size) && isCount(rule.minimumCalls) && rule.minimumCalls > window.size) {
          add(["minimumCalls"], `Expected at most lastCalls (${window.size}), got ${rule.minimumCalls}`)
        }
      } else {
        for (const issue of unknownKeys(window, windowKeys.Time, ["window"])) add(issue.path, issue.message)
        if (!positiveFinite(window.duration)) {
          add(["lastDuration"], "Expected a finite, positive duration such as \"30 seconds\"")
        }
        count(["buckets"], window.buckets, limits.buckets)
        if (
          positiveFinite(window.duration) && isCount(window.buckets) &&
          window.buckets > Duration.toMillis(window.duration)
        ) {
          add(["buckets"], `Expected at most one bucket per millisecond of lastDuration, got ${window.buckets}`)
        }
      }
      break
    }
    default: {
      add(["_tag"], `Unknown trip rule ${JSON.stringify((rule as { readonly _tag?: unknown })._tag)}`)
    }
  }
  return issues
}

// an object to check as a rule (its fields are checked by `ruleIssues`)
const isRuleValue = (u: unknown): u is TripRule => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * A trip rule as a Schema. A rule is a value (built by the constructors, written by hand or read from JSON): it
 * decodes to itself when it is well formed; otherwise every problem is reported, each with the path to the field
 * at fault, named as the constructors' options are (`lastCalls`, `lastDuration`, `buckets`). Unknown keys are
 * problems too, those given to a constructor among them (`failureRate({ treshold: 0.5, lastCalls: 20 })` reads
 * `Unknown key "treshold", did you mean "threshold"?`). A breaker's options are checked with it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ConfigError, TripRule } from "@effect-resilience/core"
 *
 * // fails with a ConfigError: "Invalid options: threshold: Expected a rate between 0 (exclusive) and 1, got 1.5;
 * // lastCalls: Expected an integer of at least 1, got 0"
 * const checked = Schema.decodeUnknownEffect(TripRule.TripRule)(
 *   TripRule.failureRate({ threshold: 1.5, lastCalls: 0 }),
 *   { errors: "all" }
 * ).pipe(Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })))
 * ```
 *
 * @since 0.2.0
 * @category schemas
 */
export const TripRule = guarded(
  isRuleValue,
  (u) => `Expected a trip rule (TripRule.consecutive, failureRate, slowCallRate), got ${String(u)}`
).check(Schema.makeFilter(ruleIssues))
