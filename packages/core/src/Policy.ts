/**
 * A policy is the rule set for one error type: its retry `Schedule` (which receives the failed error as input),
 * an optional per-attempt timeout, the log level of its failures and an optional cleanup. Policies are built in
 * code from `Schedule` values, or from a plain config object validated with Schema.
 *
 * **Gotchas**
 *
 * - A policy's schedule is stepped once per failure of its own error type, so `Schedule.upTo({ times: 4 })`
 *   means four retries of that type, however many other errors the run sees.
 * - `timeout` and `cleanup` are applied by `protect` only (a policy's `timeout` only where the call sets a
 *   `timeout` of its own); `Effect.retry(PolicyService.retry)` reads the schedule alone.
 * - An invalid config is a `ConfigError` whose paths start at the config; `PolicyService` roots them at its own
 *   options.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Predicate, Random, Schedule, Schema } from "effect"
import type { Severity as LogLevel } from "effect/LogLevel"
import * as ConfigError from "./ConfigError.js"
import type * as ErrorFamily from "./ErrorFamily.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-resilience/core/Policy")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The rules for one error type.
 *
 * - `schedule` decides whether and when to retry; its input is the error, so `Schedule.while` can look at it.
 *   The schedule is stepped once per failure of its error type, so `Schedule.upTo({ times: 4 })` means four
 *   retries of that type.
 * - `timeout` bounds each attempt made to retry this error type (see `protect`).
 * - `logLevel` is the level its failures are logged at.
 * - `cleanup` runs once when an unrecoverable error of this type ends an operation.
 * - `maxRetryAfter` (default 30 seconds) bounds the server's pushback: an error carrying a retry-after hint
 *   (`Pushback`) is retried after at least that hint, and not at all when the hint is longer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy<in E = unknown> {
  readonly [TypeId]: TypeId
  readonly schedule: Schedule.Schedule<unknown, E>
  readonly timeout: Duration.Duration | undefined
  readonly logLevel: LogLevel
  readonly cleanup: ((error: E) => Effect.Effect<void>) | undefined
  /**
   * The longest retry-after hint (`retryAfterMillis` on the error, see `Pushback`) the retry waits for: a hint up
   * to it replaces a shorter backoff delay, a longer one ends the retries at once (counted as suppressed, reason
   * `"pushback"`).
   */
  readonly maxRetryAfter: Duration.Duration
}

/**
 * Whether a value is a {@link Policy}.
 *
 * **Example**
 *
 * ```ts
 * import { Policy } from "@effect-resilience/core"
 *
 * Policy.isPolicy(Policy.noRetry()) // true
 * Policy.isPolicy({ maxAttempts: 3 }) // false: a config, not yet a policy
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPolicy = (u: unknown): u is Policy<any> => Predicate.hasProperty(u, TypeId)

/**
 * Builds a policy from a `Schedule`. The log level defaults to `"Warn"`.
 *
 * **Example**
 *
 * ```ts
 * import { Schedule } from "effect"
 * import { CommonErrors, Policy } from "@effect-resilience/core"
 *
 * // 4 retries (5 attempts), 100 ms doubling, capped at 1 s, each retry attempt limited to 2 s
 * const storage = Policy.make<CommonErrors.StorageError>({
 *   schedule: Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("1 second")]).pipe(
 *     Schedule.upTo({ times: 4 })
 *   ),
 *   timeout: "2 seconds",
 *   logLevel: "Warn"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = unknown>(options: Options<E>): Policy<E> => ({
  [TypeId]: TypeId,
  schedule: options.schedule,
  timeout: options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout),
  logLevel: options.logLevel ?? "Warn",
  cleanup: options.cleanup,
  maxRetryAfter: options.maxRetryAfter === undefined ? defaultMaxRetryAfter : Duration.fromInputUnsafe(options.maxRetryAfter)
})

const defaultMaxRetryAfter = Duration.seconds(30)

const never = Schedule.recurs(0)

/**
 * A policy that never retries. Business and unrecoverable errors get one by default (log level `"Debug"` and
 * `"Error"`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Policy } from "@effect-resilience/core"
 *
 * const fatal = Policy.noRetry({ logLevel: "Error", cleanup: () => Effect.log("closing connections") })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const noRetry = <E = unknown>(options?: Omit<Options<E>, "schedule">): Policy<E> =>
  make({ ...options, schedule: never })

// ---------------------------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------------------------

// DurationConfig admits any string; it only decodes strings that Duration.fromInput parses
const toInput = (value: string | number): Duration.Input => value as Duration.Input

const isFiniteDuration = (input: string | number): boolean => {
  const duration = Duration.fromInput(toInput(input))
  return Option.isSome(duration) && Duration.isFinite(duration.value) &&
    Duration.isGreaterThanOrEqualTo(duration.value, Duration.zero)
}

/**
 * A duration in a config: milliseconds as a number, or a string such as `"100 millis"` or `"2 seconds"`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationConfig = Schema.Union([
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  Schema.String.check(
    Schema.makeFilter((s: string) =>
      isFiniteDuration(s)
        ? undefined
        : `Expected a finite duration such as "100 millis" or "2 seconds", got ${JSON.stringify(s)}`
    )
  )
])

/**
 * The plain config of a backoff policy, validated with Schema. Every field is optional:
 *
 * | field | meaning | default |
 * | --- | --- | --- |
 * | `maxAttempts` | total attempts, the first included (integer, at least 1) | `3` |
 * | `baseDelay` | delay before the first retry | `"100 millis"` |
 * | `factor` | growth of the delay per retry (at least 1) | `2` |
 * | `maxDelay` | cap on any delay (at least `baseDelay`) | no cap |
 * | `jitter` | each delay is scaled by a random factor in `[1 - jitter, 1 + jitter]`, before the cap (0 to 1) | `0` |
 * | `timeout` | limit on each attempt that retries this error type | none |
 * | `logLevel` | `"Trace"`, `"Debug"`, `"Info"`, `"Warn"`, `"Error"` or `"Fatal"` | `"Warn"` |
 * | `maxRetryAfter` | longest retry-after hint waited for; a longer one ends the retries (see `Pushback`) | `"30 seconds"` |
 *
 * Unknown fields are rejected, so a misspelt field is an error, not a silently ignored one: `maxAtempts` reads
 * `Unknown key "maxAtempts", did you mean "maxAttempts"?`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PolicyConfig = Schema.Struct({
  maxAttempts: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  baseDelay: Schema.optional(DurationConfig),
  factor: Schema.optional(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1))),
  maxDelay: Schema.optional(DurationConfig),
  jitter: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  timeout: Schema.optional(DurationConfig),
  logLevel: Schema.optional(Schema.Literals(["Trace", "Debug", "Info", "Warn", "Error", "Fatal"])),
  maxRetryAfter: Schema.optional(DurationConfig)
}).check(
  Schema.makeFilter((config) => {
    if (config.maxDelay === undefined || !isFiniteDuration(config.maxDelay)) return undefined
    const base = config.baseDelay ?? defaults.baseDelay
    if (!isFiniteDuration(base)) return undefined
    return Duration.toMillis(toInput(config.maxDelay)) < Duration.toMillis(toInput(base))
      ? { path: ["maxDelay"], issue: `Expected at least baseDelay (${JSON.stringify(base)})` }
      : undefined
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type PolicyConfig = typeof PolicyConfig.Type

const defaults = {
  maxAttempts: 3,
  baseDelay: "100 millis" as string | number,
  factor: 2,
  jitter: 0
}

// `Schedule.jittered` scales every delay by a fixed random factor in [0.8, 1.2]; a config chooses its own range,
// so the scaling is done here, over `Schedule.modifyDelay`
const jittered = (jitter: number) => <Out, In>(self: Schedule.Schedule<Out, In>): Schedule.Schedule<Out, In> =>
  Schedule.modifyDelay(self, ({ duration }) =>
    Effect.map(Random.next, (r) => Duration.millis(Duration.toMillis(duration) * (1 - jitter + 2 * jitter * r))))

/**
 * The retry `Schedule` a config describes: exponential backoff from `baseDelay` by `factor`, jittered, capped at
 * `maxDelay`, for `maxAttempts - 1` retries. The config is assumed valid: use {@link fromConfig} for input that
 * has not been decoded.
 *
 * **Example**
 *
 * ```ts
 * import { Policy } from "@effect-resilience/core"
 *
 * // waits 100, 200, 400, 500 ms: 5 attempts in all
 * const schedule = Policy.scheduleFromConfig({ maxAttempts: 5, baseDelay: 100, maxDelay: "500 millis" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const scheduleFromConfig = (config: PolicyConfig): Schedule.Schedule<unknown> => {
  const retries = (config.maxAttempts ?? defaults.maxAttempts) - 1
  if (retries <= 0) return never
  const jitter = config.jitter ?? defaults.jitter
  let schedule: Schedule.Schedule<unknown> = Schedule.exponential(
    toInput(config.baseDelay ?? defaults.baseDelay),
    config.factor ?? defaults.factor
  )
  if (jitter > 0) schedule = jittered(jitter)(schedule)
  if (config.maxDelay !== undefined) schedule = Schedule.min([schedule, Schedule.spaced(toInput(config.maxDelay))])
  return Schedule.upTo(schedule, { times: retries })
}

const decodeConfig = Schema.decodeUnknownEffect(PolicyConfig)

/**
 * Validates a plain config and builds its policy. Every problem is reported at once in a `ConfigError` whose
 * paths start at the config (`["maxAttempts"]`); nothing is built from a config that has one. `PolicyService`
 * roots the same issues at its own options (`["policies", "StorageError", "maxAttempts"]`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Policy } from "@effect-resilience/core"
 *
 * const storage = Policy.fromConfig({ maxAttempts: 5, baseDelay: "100 millis", timeout: "2 seconds" })
 * const invalid = Policy.fromConfig({ maxAttempts: 0 }).pipe(Effect.flip)
 * // ConfigError: Invalid options: maxAttempts: Expected a value greater than or equal to 1
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig = (config: unknown): Effect.Effect<Policy, ConfigError.ConfigError> =>
  decodeConfig(config, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })),
    Effect.map((decoded) =>
      make({
        schedule: scheduleFromConfig(decoded),
        timeout: decoded.timeout === undefined ? undefined : toInput(decoded.timeout),
        logLevel: decoded.logLevel,
        maxRetryAfter: decoded.maxRetryAfter === undefined ? undefined : toInput(decoded.maxRetryAfter)
      })
    )
  )

/**
 * What a policy can be given as: a built {@link Policy}, or a plain config to validate.
 *
 * @since 0.1.0
 * @category models
 */
export type Input<E = unknown> = Policy<E> | typeof PolicyConfig.Encoded

/**
 * A policy bound to the error family it is for, as listed in `PolicyService` options. Binding through the class
 * types the schedule's input and registers the family with the `ErrorRegistry`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ForFamily {
  readonly family: ErrorFamily.Any
  readonly policy: Input<any>
}

/**
 * Binds a policy to an error family.
 *
 * **Example**
 *
 * ```ts
 * import { Schedule } from "effect"
 * import { CommonErrors, Policy } from "@effect-resilience/core"
 *
 * const storage = Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 5, baseDelay: "100 millis" })
 * const network = Policy.forFamily(CommonErrors.NetworkError, Policy.make({
 *   schedule: Schedule.spaced("1 second").pipe(
 *     Schedule.setInputType<CommonErrors.NetworkError>(),
 *     Schedule.while(({ input }) => input.target !== "payments")
 *   )
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const forFamily = <F extends ErrorFamily.Any>(family: F, policy: Input<InstanceType<F>>): ForFamily => ({
  family,
  policy
})

/**
 * A policy bound to an error tag, as listed in `PolicyService` options next to {@link forFamily} entries.
 * `undeclared` says the tag is meant for an error type that is not a declared family; without it, a tag that no
 * declared family has is refused when the policies are built.
 *
 * @since 0.1.0
 * @category models
 */
export interface ForTag {
  readonly tag: string
  readonly policy: Input<any>
  readonly undeclared: boolean
}

/**
 * Binds a policy to an error tag. A policy keyed by a tag that no declared family has would never apply if the
 * tag were misspelt, so `PolicyService` (and `ErrorLayer`) refuse it with a `ConfigError` naming the tag and
 * the nearest declared one, unless it is given `{ undeclared: true }`: the policy is then meant for an
 * error type that is not a declared family (a `Data.TaggedError` of another library, say), whose tag is matched
 * as it is.
 *
 * **Example**
 *
 * ```ts
 * import { Data } from "effect"
 * import { Policy } from "@effect-resilience/core"
 *
 * class LegacyTimeout extends Data.TaggedError("LegacyTimeout")<{}> {}
 *
 * // not an ErrorFamily: without `undeclared: true` the layer build fails naming "LegacyTimeout"
 * const legacy = Policy.forTag<LegacyTimeout>("LegacyTimeout", { maxAttempts: 4, baseDelay: "50 millis" }, {
 *   undeclared: true
 * })
 * // a declared family's tag, checked like a record key
 * const storage = Policy.forTag("StorageError", { maxAttempts: 5 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const forTag = <E = any>(
  tag: string,
  policy: Input<E>,
  options?: { readonly undeclared?: boolean | undefined }
): ForTag => ({ tag, policy, undeclared: options?.undeclared === true })

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E> {
  readonly schedule: Schedule.Schedule<unknown, E>
  readonly timeout?: Duration.Input | undefined
  readonly logLevel?: LogLevel | undefined
  readonly cleanup?: ((error: E) => Effect.Effect<void>) | undefined
  readonly maxRetryAfter?: Duration.Input | undefined
}
