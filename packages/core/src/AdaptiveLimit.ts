/**
 * Adaptive limits: how a bulkhead finds its own concurrency limit from the calls it lets through, instead of a
 * number picked once and wrong as soon as the dependency slows down. Each algorithm is a small plain value (a
 * `_tag` and its numbers), given to a bulkhead as its `limit`; the bulkhead keeps the algorithm's state and moves
 * its limit after every call, between `min` and `max`. The three are Netflix concurrency-limits' algorithms, with
 * its update rules and defaults (Gradient2 with two fixes proposed upstream: see {@link Gradient2}).
 *
 * - {@link aimd}: additive increase, multiplicative decrease, driven by drops (a call that timed out or failed
 *   with an overload error, or took longer than `timeout`): one more place per call while the bulkhead is at least
 *   half used, `backoffRatio` of the limit on a drop. The simplest, and the one to use when the dependency says
 *   when it is overloaded (503, 429) but its latency says little. A timeout tells it of overload only once a
 *   whole cohort of calls has waited that long, so its limit saws up and down; set `timeout` to the latency you
 *   accept (a few times the dependency's unloaded latency) for it to back off before calls time out.
 * - {@link gradient2}: latency-driven: compares each call's latency with a long-term average and shrinks the limit
 *   as latency grows (by at most half; a drop takes the full step), growing it by `queueSize` while latency
 *   holds. Netflix's recommended algorithm, and the one to start with: it reacts before anything times out, and
 *   it does not chase a single fast outlier.
 * - {@link vegas}: TCP Vegas: estimates the queue in front of the dependency from the lowest latency seen (the
 *   latency with no load), re-measured from time to time, and keeps that queue between `alpha` and `beta` times
 *   log10 of the limit. Use it for a dependency with a stable no-load latency (one kind of request, a database
 *   with a steady query mix); a dependency whose fast path varies widely misleads its minimum.
 *
 * {@link AdaptiveLimit} is the Schema that checks a limit value (a bulkhead's options are checked with it),
 * whatever built it: a constructor, a hand-written value, JSON.
 *
 * @since 0.3.0
 */
import { Duration, Schema } from "effect"
import { guarded, type KeyIssue, knownKeys, unknownKeys } from "./internal/unknownKeys.js"

/**
 * Additive increase, multiplicative decrease. After each call, with `L` the current limit: on a drop, or when the
 * call took longer than `timeout`, `L` becomes `⌊L × backoffRatio⌋` (at least one less, and at least `min`);
 * otherwise, when the calls in flight were at least half of `L`, `L + 1` (at most `max`).
 *
 * @since 0.3.0
 * @category models
 */
export interface Aimd {
  readonly _tag: "Aimd"
  readonly initial: number
  readonly min: number
  readonly max: number
  readonly backoffRatio: number
  readonly timeout: Duration.Duration
}

/**
 * Netflix's Gradient2. After each call, with `L` the current limit (a real number, the limit being its floor):
 * the long-term latency is an exponential average over `longWindow` calls (a plain average over the first 10);
 * `gradient = clamp(rttTolerance × long / latency of this call, 0.5, 1)`, or 0.5 for a drop; `L` becomes
 * `L × (1 − smoothing) + (L × gradient + growth) × smoothing`, within `[min, max]`, where `growth` is `queueSize`
 * when the gradient is 1 and 0 otherwise. It holds when fewer than half of `L` calls were in flight (the caller,
 * not the dependency, limits the traffic) and the call was not dropped, and when the long-term latency is more
 * than twice this call's (the dependency has recovered) it decays it by 5%.
 *
 * Two rules differ from Netflix's, both proposed upstream (concurrency-limits PR #134): Netflix ignores drops,
 * so a dependency whose every call times out (each latency the timeout, the average converging to it) holds the
 * limit at `max`; and it adds `queueSize` whatever the gradient, which balances a gradient below 1 and settles
 * the limit far above a saturated dependency's capacity, its queue timing calls out.
 *
 * @since 0.3.0
 * @category models
 */
export interface Gradient2 {
  readonly _tag: "Gradient2"
  readonly initial: number
  readonly min: number
  readonly max: number
  readonly smoothing: number
  readonly queueSize: number
  readonly longWindow: number
  readonly rttTolerance: number
}

/**
 * TCP Vegas. The no-load latency is the lowest latency seen, measured afresh every `jitter × probeMultiplier × L`
 * calls (jitter drawn in [0.5, 1)). After each call, with `L` the current limit and `log = max(1, ⌊log10 L⌋)`:
 * the queue is `⌈L × (1 − noLoad / latency)⌉`; on a drop `L` becomes `L − log`; otherwise, while at least half of
 * `L` calls were in flight, `L + beta × log` when the queue is at most `log`, `L + log` when it is under
 * `alpha × log`, `L − log` when it is over `beta × log`, and holds in between; the new value is smoothed:
 * `L × (1 − smoothing) + new × smoothing`, within `[min, max]`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Vegas {
  readonly _tag: "Vegas"
  readonly initial: number
  readonly min: number
  readonly max: number
  readonly smoothing: number
  readonly alpha: number
  readonly beta: number
  readonly probeMultiplier: number
}

/**
 * An adaptive limit: one of the algorithms, with its settings.
 *
 * @since 0.3.0
 * @category models
 */
export type AdaptiveLimit = Aimd | Gradient2 | Vegas

/**
 * Options of {@link aimd}.
 *
 * @since 0.3.0
 * @category models
 */
export interface AimdOptions {
  readonly initial?: number | undefined
  readonly min?: number | undefined
  readonly max?: number | undefined
  readonly backoffRatio?: number | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * Options of {@link gradient2}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Gradient2Options {
  readonly initial?: number | undefined
  readonly min?: number | undefined
  readonly max?: number | undefined
  readonly smoothing?: number | undefined
  readonly queueSize?: number | undefined
  readonly longWindow?: number | undefined
  readonly rttTolerance?: number | undefined
}

/**
 * Options of {@link vegas}.
 *
 * @since 0.3.0
 * @category models
 */
export interface VegasOptions {
  readonly initial?: number | undefined
  readonly min?: number | undefined
  readonly max?: number | undefined
  readonly smoothing?: number | undefined
  readonly alpha?: number | undefined
  readonly beta?: number | undefined
  readonly probeMultiplier?: number | undefined
}

// The unknown keys of a constructor's options (`{ backofRatio: 0.5 }` from a config file) are kept on the value it
// built, out of sight of comparisons and JSON, so that the Schema (and so the bulkhead that gets the value)
// reports them instead of dropping them.
const optionIssuesKey: unique symbol = Symbol.for("effect-resilience/AdaptiveLimit/optionIssues")

const withOptionIssues = <A extends AdaptiveLimit>(limit: A, issues: ReadonlyArray<KeyIssue>): A =>
  issues.length === 0 ? limit : Object.defineProperty(limit, optionIssuesKey, { value: issues, enumerable: false })

const aimdKeys = knownKeys<AimdOptions>({ initial: true, min: true, max: true, backoffRatio: true, timeout: true })
const gradient2Keys = knownKeys<Gradient2Options>({
  initial: true,
  min: true,
  max: true,
  smoothing: true,
  queueSize: true,
  longWindow: true,
  rttTolerance: true
})
const vegasKeys = knownKeys<VegasOptions>({
  initial: true,
  min: true,
  max: true,
  smoothing: true,
  alpha: true,
  beta: true,
  probeMultiplier: true
})

// the keys each kind of value has: a value written by hand or read from JSON is checked against them
const valueKeys: Record<AdaptiveLimit["_tag"], ReadonlyArray<string>> = {
  Aimd: ["_tag", ...aimdKeys],
  Gradient2: ["_tag", ...gradient2Keys],
  Vegas: ["_tag", ...vegasKeys]
}

const isCount = (n: unknown, least: number): n is number =>
  typeof n === "number" && Number.isSafeInteger(n) && n >= least

// The bounds and the starting point. A default that would fall outside the bounds given follows them
// (`gradient2({ max: 10 })` starts at 10 with a minimum of 10, not at 20 over a maximum of 10); bounds given that
// contradict each other are left as they are, for the Schema to report.
const bounds = (
  options: { readonly initial?: number | undefined; readonly min?: number | undefined; readonly max?: number | undefined },
  defaults: { readonly initial: number; readonly min: number; readonly max: number }
) => {
  // only valid counts move a default: an invalid one is reported on its own key, not on the defaults too
  const given = (n: unknown): number | undefined => isCount(n, 1) ? n : undefined
  const max = options.max ?? Math.max(defaults.max, given(options.initial) ?? 0, given(options.min) ?? 0)
  const min = options.min ?? Math.min(defaults.min, given(options.initial) ?? Infinity, given(max) ?? Infinity)
  const initial = options.initial ?? Math.min(Math.max(defaults.initial, given(min) ?? 0), given(max) ?? Infinity)
  return { initial, min, max }
}

const durationOf = (input: Duration.Input): Duration.Duration =>
  Duration.fromInput(input).pipe((o) => o._tag === "Some" ? o.value : Duration.infinity)

/**
 * AIMD (additive increase, multiplicative decrease), driven by drops: a call that the bulkhead counts as dropped
 * (a timeout, an overload error: the bulkhead's `drops`) or that took longer than `timeout`.
 *
 * | Option | Meaning | Default |
 * |---|---|---|
 * | `initial` | the limit to start from | 10 |
 * | `min` | the lowest limit | 1 |
 * | `max` | the highest limit | 200 |
 * | `backoffRatio` | the share of the limit kept on a drop, in [0.5, 1) | 0.9 |
 * | `timeout` | a call slower than this counts as a drop | 5 seconds |
 *
 * The start of 10 is Netflix's first AIMDLimit's; its later versions start at 20 with a minimum of 20.
 *
 * **Example**
 *
 * ```ts
 * import { AdaptiveLimit } from "@effect-resilience/core"
 *
 * // start at 10, halve on a timeout, never above 50
 * const limit = AdaptiveLimit.aimd({ max: 50, backoffRatio: 0.5, timeout: "2 seconds" })
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const aimd = (options: AimdOptions = {}): Aimd =>
  withOptionIssues({
    _tag: "Aimd",
    ...bounds(options, { initial: 10, min: 1, max: 200 }),
    backoffRatio: options.backoffRatio ?? 0.9,
    timeout: durationOf(options.timeout ?? "5 seconds")
  }, unknownKeys(options, aimdKeys))

/**
 * Gradient2, Netflix's recommended algorithm: the limit follows the ratio of the long-term latency to the latency
 * of each call, so it shrinks as a queue builds in front of the dependency and grows by `queueSize` while latency
 * holds.
 *
 * | Option | Meaning | Default |
 * |---|---|---|
 * | `initial` | the limit to start from | 20 |
 * | `min` | the lowest limit | 20 |
 * | `max` | the highest limit | 200 |
 * | `smoothing` | how much of each new estimate is taken, in (0, 1] | 0.2 |
 * | `queueSize` | how many places the limit grows by while latency holds | 4 |
 * | `longWindow` | the calls the long-term latency averages over | 600 |
 * | `rttTolerance` | how much slower than the long-term latency a call may be before the limit shrinks, at least 1 | 1.5 |
 *
 * Netflix's minimum of 20 keeps a service from shedding its own traffic when one slow call looks like a queue;
 * lower it for a dependency that only takes a few calls at once.
 *
 * **Example**
 *
 * ```ts
 * import { AdaptiveLimit } from "@effect-resilience/core"
 *
 * // a database that serves about 8 queries at once
 * const limit = AdaptiveLimit.gradient2({ initial: 8, min: 2, max: 64 })
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const gradient2 = (options: Gradient2Options = {}): Gradient2 =>
  withOptionIssues({
    _tag: "Gradient2",
    ...bounds(options, { initial: 20, min: 20, max: 200 }),
    smoothing: options.smoothing ?? 0.2,
    queueSize: options.queueSize ?? 4,
    longWindow: options.longWindow ?? 600,
    rttTolerance: options.rttTolerance ?? 1.5
  }, unknownKeys(options, gradient2Keys))

/**
 * TCP Vegas: estimates the queue in front of the dependency from the lowest latency seen (re-measured every
 * `probeMultiplier × limit` calls or so) and keeps it between `alpha` and `beta`, both multiples of `log10` of
 * the limit.
 *
 * | Option | Meaning | Default |
 * |---|---|---|
 * | `initial` | the limit to start from | 20 |
 * | `min` | the lowest limit | 1 |
 * | `max` | the highest limit | 1000 |
 * | `smoothing` | how much of each new estimate is taken, in (0, 1] | 1 |
 * | `alpha` | below `alpha × log10(limit)` queued calls, the limit grows | 3 |
 * | `beta` | above `beta × log10(limit)` queued calls, the limit shrinks | 6 |
 * | `probeMultiplier` | the no-load latency is measured afresh every `jitter × probeMultiplier × limit` calls | 30 |
 *
 * **Example**
 *
 * ```ts
 * import { AdaptiveLimit } from "@effect-resilience/core"
 *
 * const limit = AdaptiveLimit.vegas({ initial: 10, max: 100, smoothing: 0.5 })
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const vegas = (options: VegasOptions = {}): Vegas =>
  withOptionIssues({
    _tag: "Vegas",
    ...bounds(options, { initial: 20, min: 1, max: 1000 }),
    smoothing: options.smoothing ?? 1,
    alpha: options.alpha ?? 3,
    beta: options.beta ?? 6,
    probeMultiplier: options.probeMultiplier ?? 30
  }, unknownKeys(options, vegasKeys))

const tags: ReadonlyArray<string> = ["Aimd", "Gradient2", "Vegas"]

/**
 * Whether a value is an adaptive limit: an object whose `_tag` is one of the algorithms'. It does not check the
 * settings (the {@link AdaptiveLimit} Schema does); a bulkhead uses it to tell a limit value from a fixed number.
 *
 * **Example**
 *
 * ```ts
 * import { AdaptiveLimit } from "@effect-resilience/core"
 *
 * const describe = (limit: number | AdaptiveLimit.AdaptiveLimit): string =>
 *   AdaptiveLimit.isAdaptiveLimit(limit) ? `adaptive (${limit._tag})` : `fixed at ${limit}`
 * ```
 *
 * @since 0.3.0
 * @category guards
 */
export const isAdaptiveLimit = (u: unknown): u is AdaptiveLimit =>
  typeof u === "object" && u !== null && !Array.isArray(u) &&
  tags.includes((u as { readonly _tag?: unknown })._tag as string)

const positiveFinite = (d: unknown): d is Duration.Duration =>
  Duration.isDuration(d) && Duration.isFinite(d) && Duration.toMillis(d) > 0

// the problems of a limit value, each with the path to the field at fault (empty when the value is valid)
const limitIssues = (limit: AdaptiveLimit): Array<{ readonly path: ReadonlyArray<string>; readonly issue: string }> => {
  const issues: Array<{ path: ReadonlyArray<string>; issue: string }> = []
  const add = (key: string, issue: string) => issues.push({ path: [key], issue })
  const count = (key: string, value: unknown, least = 1): value is number => {
    if (isCount(value, least)) return true
    add(key, `Expected an integer of at least ${least}, got ${String(value)}`)
    return false
  }
  const between = (key: string, value: unknown, low: number, lowOpen: boolean, high: number, highOpen: boolean) => {
    const fits = typeof value === "number" && (lowOpen ? value > low : value >= low) &&
      (highOpen ? value < high : value <= high)
    if (!fits) {
      add(key, `Expected a number in ${lowOpen ? "(" : "["}${low}, ${high}${highOpen ? ")" : "]"}, got ${String(value)}`)
    }
  }
  for (const issue of (limit as { readonly [optionIssuesKey]?: ReadonlyArray<KeyIssue> })[optionIssuesKey] ?? []) {
    issues.push({ path: issue.path, issue: issue.message })
  }
  const known = valueKeys[limit._tag] as ReadonlyArray<string> | undefined
  if (known === undefined) {
    add("_tag", `Unknown adaptive limit ${JSON.stringify((limit as { readonly _tag?: unknown })._tag)}`)
    return issues
  }
  for (const issue of unknownKeys(limit, known)) issues.push({ path: issue.path, issue: issue.message })
  const initial = count("initial", limit.initial)
  const min = count("min", limit.min)
  const max = count("max", limit.max)
  if (min && max && limit.min > limit.max) add("min", `Expected at most max (${limit.max}), got ${limit.min}`)
  else if (initial && min && limit.initial < limit.min) {
    add("initial", `Expected at least min (${limit.min}), got ${limit.initial}`)
  } else if (initial && max && limit.initial > limit.max) {
    add("initial", `Expected at most max (${limit.max}), got ${limit.initial}`)
  }
  switch (limit._tag) {
    case "Aimd": {
      between("backoffRatio", limit.backoffRatio, 0.5, false, 1, true)
      if (!positiveFinite(limit.timeout)) add("timeout", "Expected a finite, positive duration such as \"5 seconds\"")
      break
    }
    case "Gradient2": {
      between("smoothing", limit.smoothing, 0, true, 1, false)
      count("queueSize", limit.queueSize)
      count("longWindow", limit.longWindow)
      if (!(typeof limit.rttTolerance === "number" && limit.rttTolerance >= 1 && Number.isFinite(limit.rttTolerance))) {
        add("rttTolerance", `Expected a finite number of at least 1, got ${String(limit.rttTolerance)}`)
      }
      break
    }
    case "Vegas": {
      between("smoothing", limit.smoothing, 0, true, 1, false)
      const alpha = count("alpha", limit.alpha)
      if (count("beta", limit.beta) && alpha && limit.beta < limit.alpha) {
        add("beta", `Expected at least alpha (${limit.alpha}), got ${limit.beta}`)
      }
      count("probeMultiplier", limit.probeMultiplier)
      break
    }
  }
  return issues
}

// an object to check as a limit (its fields are checked by `limitIssues`)
const isLimitValue = (u: unknown): u is AdaptiveLimit => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * An adaptive limit as a Schema. A limit is a value (built by the constructors, written by hand or read from
 * JSON): it decodes to itself when it is well formed; otherwise every problem is reported, each with the field at
 * fault: counts that must be integers (`initial`, `min`, `max`, `queueSize`, `longWindow`, `alpha`, `beta`,
 * `probeMultiplier`), `min <= initial <= max`, ratios in their ranges. Unknown keys are problems too, those given
 * to a constructor among them (`aimd({ backofRatio: 0.5 })` reads
 * `Unknown key "backofRatio", did you mean "backoffRatio"?`). A bulkhead's options are checked with it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { AdaptiveLimit, ConfigError } from "@effect-resilience/core"
 *
 * // fails with a ConfigError: "Invalid options: initial: Expected at most max (4), got 8;
 * // smoothing: Expected a number in (0, 1], got 2"
 * const checked = Schema.decodeUnknownEffect(AdaptiveLimit.AdaptiveLimit)(
 *   AdaptiveLimit.gradient2({ initial: 8, min: 1, max: 4, smoothing: 2 }),
 *   { errors: "all" }
 * ).pipe(Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })))
 * ```
 *
 * @since 0.3.0
 * @category schemas
 */
export const AdaptiveLimit = guarded(
  isLimitValue,
  (u) => `Expected an adaptive limit (AdaptiveLimit.aimd, gradient2, vegas), got ${String(u)}`
).check(Schema.makeFilter(limitIssues))
