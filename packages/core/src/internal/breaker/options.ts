// A breaker's options, decoded by Schema into its config.
import { Duration, Effect, Result, Schedule, Schema, SchemaIssue, SchemaParser, SchemaTransformation } from "effect"
import type { Config, Counts, Options, Share } from "../../CircuitBreaker.js"
import * as ConfigError from "../../ConfigError.js"
import * as ErrorFamily from "../../ErrorFamily.js"
import * as TripRule from "../../TripRule.js"
import { guarded, isRecord, objectOf, show } from "../unknownKeys.js"
import { firstMillis } from "./openDuration.js"
import { Count } from "./schemas.js"

// --- trip: one rule, or a non-empty list of them (the first that trips opens the breaker). A rule's problems are
// reported under `trip` for one rule, under `trip.<index>` for a list.
const decodeRule = SchemaParser.decodeUnknownResult(TripRule.TripRule)
const decodeRules = SchemaParser.decodeUnknownResult(
  Schema.Array(TripRule.TripRule).check(
    Schema.makeFilter((rules) => rules.length > 0 ? undefined : "Expected at least one trip rule")
  )
)
// (a union of the two would also report, for a list, that it is not a rule)
const Trip = Schema.Unknown.check(Schema.makeFilter((input, _ast, options) => {
  const result: Result.Result<unknown, SchemaIssue.Issue> = Array.isArray(input)
    ? decodeRules(input, options)
    : decodeRule(input, options)
  return Result.isSuccess(result) ? undefined : result.failure
}, undefined, true)).pipe(
  // checked by the filter above
  Schema.refine((_: unknown): _ is TripRule.TripRule | ReadonlyArray<TripRule.TripRule> => true)
)

// --- openDuration: a finite, non-negative duration, or a Schedule that gives at least one duration. Decoded with
// its first duration, the `retryAfter` of an isolated breaker.
interface OpenDuration {
  readonly openDuration: Config["openDuration"]
  readonly firstOpenMillis: number
}

const finiteDuration = (input: unknown): Duration.Duration | undefined => {
  if (typeof input === "number" && !(input >= 0)) return undefined
  const duration = Duration.fromInput(input as Duration.Input)
  return duration._tag === "Some" && Duration.isFinite(duration.value) && Duration.toMillis(duration.value) >= 0
    ? duration.value
    : undefined
}

const isOpenDurationInput = (u: unknown): u is NonNullable<Options["openDuration"]> =>
  Schedule.isSchedule(u) || finiteDuration(u) !== undefined

const openDurationOf = (input: NonNullable<Options["openDuration"]>): Effect.Effect<OpenDuration | undefined> => {
  if (!Schedule.isSchedule(input)) {
    const duration = finiteDuration(input)!
    return Effect.succeed({ openDuration: duration, firstOpenMillis: Duration.toMillis(duration) })
  }
  return Effect.map(firstMillis(input), (first) =>
    first === undefined ? undefined : { openDuration: input, firstOpenMillis: first })
}

const OpenDurationSchema = guarded(
  isOpenDurationInput,
  (u) => `Expected a finite, non-negative duration or a Schedule, got ${show(u)}`
).pipe(Schema.decodeTo(
  Schema.declare((u: unknown): u is OpenDuration => isRecord(u)),
  SchemaTransformation.transformEffect({
    decode: (input, options) =>
      Effect.flatMap(openDurationOf(input), (decoded) =>
        decoded !== undefined
          ? Effect.succeed(decoded)
          : Effect.fail(
            new SchemaIssue.InvalidValue(
              { message: "Expected a Schedule that gives at least one duration" },
              input,
              options
            )
          )),
    encode: (decoded) => Effect.succeed(decoded.openDuration)
  })
))

// exponential from 5 s, capped at 1 min
const defaultOpenDuration: Schedule.Schedule<unknown, number> = Schedule.min([
  Schedule.exponential("5 seconds"),
  Schedule.spaced("1 minute")
]) as Schedule.Schedule<unknown, number>

// --- counts: a predicate, or the tags of the errors that count
const CountsSchema = guarded(
  (u: unknown): u is Counts => typeof u === "function" || Array.isArray(u),
  () => "Expected a predicate or a list of error tags"
)

// A refusal of a bulkhead or a rate limiter inside the breaker (`Bulkhead.execute` around the dependency call) is
// this service's own overload, not the dependency failing: it never counts by default
const refusals: ReadonlySet<string> = new Set(["BulkheadFullError", "RateLimitedError"])
const countsBusiness = (error: unknown) =>
  !(ErrorFamily.isClassified(error) && (error.kind === "business" || refusals.has(error._tag)))

const countsOf = (counts: Counts | undefined): Config["counts"] => {
  if (counts === undefined) return countsBusiness
  if (typeof counts === "function") return counts
  const tags = new Set(counts)
  return (error) => {
    const tag = ErrorFamily.tagOf(error)
    return tag !== undefined && tags.has(tag)
  }
}

// --- share: "any", "off", or a quorum of replicas within a window (one message for a value of neither shape)
const Quorum = objectOf(Schema.Struct({
  quorum: Count,
  within: guarded(
    (u: unknown): u is Duration.Input => {
      const duration = finiteDuration(u)
      return duration !== undefined && Duration.toMillis(duration) > 0
    },
    (u) => `Expected a finite, positive duration, got ${show(u)}`
  )
}))
const decodeQuorum = SchemaParser.decodeUnknownResult(Quorum)
type ShareInput = "any" | "off" | typeof Quorum.Type

const ShareSchema = Schema.Unknown.check(Schema.makeFilter((input, _ast, options) => {
  if (input === "any" || input === "off") return undefined
  if (!isRecord(input)) return `Expected "any", "off" or { quorum, within }, got ${show(input)}`
  const result = decodeQuorum(input, options)
  return Result.isSuccess(result) ? undefined : result.failure
}, undefined, true)).pipe(
  // checked by the filter above
  Schema.refine((_: unknown): _ is ShareInput => true)
)

const shareOf = (share: ShareInput | undefined): Share =>
  share === undefined || share === "any"
    ? { _tag: "any" }
    : share === "off"
    ? { _tag: "off" }
    : { _tag: "quorum", quorum: share.quorum, withinMillis: Duration.toMillis(finiteDuration(share.within)!) }

// FNV-1a over the JSON of the rules: replicas compare it, so it only has to tell configurations apart
const fingerprintOf = (fields: Record<string, unknown>): string => {
  const text = JSON.stringify(fields, (_key, value) =>
    Duration.isDuration(value) ? `${Duration.toMillis(value)}ms` : typeof value === "bigint" ? String(value) : value)
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16).padStart(8, "0")
}

// the keys in the order of `Options` (the order an unknown key's message lists them in)
const OptionsFields = Schema.Struct({
  trip: Schema.optional(Trip),
  openDuration: Schema.optional(OpenDurationSchema),
  halfOpenProbes: Schema.optional(Count),
  closeAfter: Schema.optional(Count),
  counts: Schema.optional(CountsSchema),
  share: Schema.optional(ShareSchema)
})

const OptionsSchema = objectOf(OptionsFields)

const decodeOptions = Schema.decodeUnknownEffect(OptionsSchema)

/** Decodes breaker options into their config: every problem at once, with paths from the options object. */
export const decode = (options: unknown): Effect.Effect<Config, ConfigError.ConfigError> =>
  decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })),
    Effect.flatMap((decoded) =>
      Effect.map(
        decoded.openDuration !== undefined
          ? Effect.succeed(decoded.openDuration)
          : Effect.map(openDurationOf(defaultOpenDuration), (d) => d!),
        ({ firstOpenMillis, openDuration }): Config => {
          const halfOpenProbes = decoded.halfOpenProbes ?? 1
          const rules = decoded.trip === undefined
            ? [TripRule.consecutive(5)]
            : Array.isArray(decoded.trip)
            ? decoded.trip as ReadonlyArray<TripRule.TripRule>
            : [decoded.trip as TripRule.TripRule]
          const closeAfter = decoded.closeAfter ?? halfOpenProbes
          const share = shareOf(decoded.share)
          return {
            rules,
            openDuration,
            firstOpenMillis,
            halfOpenProbes,
            closeAfter,
            counts: countsOf(decoded.counts),
            share,
            fingerprint: fingerprintOf({
              rules,
              openDuration: Duration.isDuration(openDuration) ? openDuration : "schedule",
              halfOpenProbes,
              closeAfter,
              counts: decoded.counts === undefined
                ? "default"
                : typeof decoded.counts === "function"
                ? "predicate"
                : [...decoded.counts].sort(),
              share
            })
          }
        }
      )
    )
  )
