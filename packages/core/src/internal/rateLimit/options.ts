// A rate limiter's options, decoded by Schema into its config.
import { Duration, Effect, Result, Schema, SchemaParser } from "effect"
import * as ConfigError from "../../ConfigError.js"
import type { Config, Options } from "../../RateLimiter.js"
import { guarded, isRecord, objectOf, show } from "../unknownKeys.js"

const isCount = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u) && u >= 1
const Count = guarded(isCount, (u) => `Expected an integer of at least 1, got ${show(u)}`)

const durationOf = (u: unknown): Duration.Duration | undefined => {
  if (typeof u === "number" && !(u >= 0)) return undefined
  const duration = Duration.fromInput(u as Duration.Input)
  return duration._tag === "Some" && Duration.isFinite(duration.value) ? duration.value : undefined
}
const WindowSchema = guarded(
  (u: unknown): u is Duration.Input => {
    const d = durationOf(u)
    return d !== undefined && Duration.toMillis(d) >= 1
  },
  (u) => `Expected a finite duration of at least 1 millisecond, got ${show(u)}`
)
const WaitSchema = guarded(
  (u: unknown): u is Duration.Input => durationOf(u) !== undefined,
  (u) => `Expected a finite, non-negative duration, got ${show(u)}`
)

const SharedSchema = objectOf(Schema.Struct({
  replicas: Schema.optional(Count),
  lease: Schema.optional(Count)
}))
const decodeShared = SchemaParser.decodeUnknownResult(SharedSchema)
type ShareInput = "any" | "off" | typeof SharedSchema.Type
const ShareSchema = Schema.Unknown.check(Schema.makeFilter((input, _ast, options) => {
  if (input === "any" || input === "off") return undefined
  if (!isRecord(input)) return `Expected "any", "off" or { replicas?, lease? }, got ${show(input)}`
  const result = decodeShared(input, options)
  return Result.isSuccess(result) ? undefined : result.failure
}, undefined, true)).pipe(Schema.refine((_: unknown): _ is ShareInput => true))

// the keys in the order of `Options` (the order an unknown key's message lists them in)
const OptionsSchema = objectOf(Schema.Struct({
  algorithm: Schema.optional(Schema.Literals(["token-bucket", "sliding-window", "fixed-window"])),
  limit: Count,
  window: WindowSchema,
  wait: Schema.optional(WaitSchema),
  keys: Schema.optional(Count),
  share: Schema.optional(ShareSchema)
}))

const decodeOptions = Schema.decodeUnknownEffect(OptionsSchema)

/** Decodes limiter options into their config: every problem at once, with paths from the options object. */
export const decode = (options: unknown): Effect.Effect<Config, ConfigError.ConfigError> =>
  decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })),
    Effect.map((decoded): Config => {
      const share = decoded.share === undefined || decoded.share === "any"
        ? { _tag: "any" as const }
        : decoded.share === "off"
        ? { _tag: "off" as const }
        : {
          _tag: "any" as const,
          ...(decoded.share.replicas !== undefined ? { replicas: decoded.share.replicas } : {}),
          ...(decoded.share.lease !== undefined ? { lease: decoded.share.lease } : {})
        }
      return {
        algorithm: decoded.algorithm ?? "token-bucket",
        limit: decoded.limit,
        windowMillis: Duration.toMillis(durationOf(decoded.window)!),
        waitMillis: decoded.wait === undefined ? 0 : Duration.toMillis(durationOf(decoded.wait)!),
        keys: decoded.keys ?? 10_000,
        share
      }
    })
  )

/** `Options` as given are checked; a missing `limit` or `window` is reported with the others. */
export type { Options }
