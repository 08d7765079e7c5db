// A bulkhead's options, decoded by Schema into its config.
import { Duration, Effect, Result, Schema, SchemaParser } from "effect"
import * as AdaptiveLimit from "../../AdaptiveLimit.js"
import type { Config, Options } from "../../Bulkhead.js"
import * as ConfigError from "../../ConfigError.js"
import * as ErrorFamily from "../../ErrorFamily.js"
import { guarded, objectOf, show } from "../unknownKeys.js"

const isLimit = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u) && u >= 1
const isQueue = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u) && u >= 0

// a number of places, or an adaptive limit (checked by its own Schema, so its fields are named)
const decodeAdaptive = SchemaParser.decodeUnknownResult(AdaptiveLimit.AdaptiveLimit)
const LimitSchema = Schema.Unknown.check(Schema.makeFilter((input, _ast, options) => {
  if (isLimit(input)) return undefined
  if (typeof input !== "object" || input === null) {
    return `Expected an integer of at least 1 or an adaptive limit (AdaptiveLimit.aimd, gradient2, vegas), got ${show(input)}`
  }
  const decoded = decodeAdaptive(input, options)
  return Result.isSuccess(decoded) ? undefined : decoded.failure
}, undefined, true)).pipe(Schema.refine((_: unknown): _ is number | AdaptiveLimit.AdaptiveLimit => true))

const positiveDuration = (u: unknown): Duration.Duration | undefined => {
  if (typeof u === "number" && !(u > 0)) return undefined
  const duration = Duration.fromInput(u as Duration.Input)
  return duration._tag === "Some" && Duration.toMillis(duration.value) > 0 ? duration.value : undefined
}
const PositiveDuration = guarded(
  (u: unknown): u is Duration.Input => positiveDuration(u) !== undefined,
  (u) => `Expected a positive duration, got ${show(u)}`
)

const DropsSchema = guarded(
  (u: unknown): u is NonNullable<Options["drops"]> =>
    typeof u === "function" || (Array.isArray(u) && u.every((tag) => typeof tag === "string")),
  (u) => `Expected a predicate or a list of error tags, got ${show(u)}`
)

// the keys in the order of `Options` (the order an unknown key's message lists them in)
const OptionsSchema = objectOf(Schema.Struct({
  limit: Schema.optional(LimitSchema),
  queue: Schema.optional(guarded(isQueue, (u) => `Expected an integer of at least 0, got ${show(u)}`)),
  queueTimeout: Schema.optional(PositiveDuration),
  order: Schema.optional(Schema.Literals(["fifo", "lifo"])),
  retryAfter: Schema.optional(PositiveDuration),
  drops: Schema.optional(DropsSchema)
}))

const decodeOptions = Schema.decodeUnknownEffect(OptionsSchema)

/** The tags of the failures that count as drops by default: timeouts and overload. */
export const defaultDrops: ReadonlyArray<string> = [
  "TimeoutError",
  "UnavailableError",
  "BulkheadFullError",
  "RateLimitedError",
  "BreakerOpenError"
]

const dropsOf = (drops: Options["drops"]): Config["drops"] => {
  if (typeof drops === "function") return drops
  const tags = new Set(drops ?? defaultDrops)
  return (error) => {
    const tag = ErrorFamily.tagOf(error)
    return tag !== undefined && tags.has(tag)
  }
}

/** Decodes bulkhead options into their config: every problem at once, with paths from the options object. */
export const decode = (options: unknown): Effect.Effect<Config, ConfigError.ConfigError> =>
  decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })),
    Effect.map((decoded): Config => {
      const limit = decoded.limit ?? 25
      return {
        limit,
        queue: decoded.queue ?? 0,
        queueTimeoutMillis: decoded.queueTimeout === undefined
          ? undefined
          : Duration.toMillis(positiveDuration(decoded.queueTimeout)!),
        order: decoded.order ?? "fifo",
        retryAfterMillis: decoded.retryAfter === undefined ? 1000 : Duration.toMillis(positiveDuration(decoded.retryAfter)!),
        drops: dropsOf(decoded.drops)
      }
    })
  )
