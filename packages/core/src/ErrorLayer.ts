/**
 * `ErrorLayer`: the one Layer a user provides to get the whole rule set: the error registry, the policies, the
 * circuit breakers, the bulkheads, the rate limiters, the error tracker, the metrics service and the error
 * logger.
 *
 * **Gotchas**
 *
 * - Unless `logFormat: false`, the layer installs the library's logger (pretty or JSON lines, `LOG_FORMAT`),
 *   replacing the program's own for the effects it is provided to.
 * - Each `ErrorLayer` is its own root for what the strategies emit: an `ErrorLayer` provided inside another
 *   keeps the failures, calls and breakers of the effects it is provided to in its own tracker and metrics.
 *   Errors reported to effect's `ErrorReporter` still reach the outer tracker too (reporters add up).
 * - Its breakers and rate limiters are local to the process unless a shared store is provided to the layer
 *   (`Layer.provide(RedisBreakerStore.layerFrom(...))`): then they share their state with every replica on the
 *   same Redis and prefix (see `RedisBreakerStore` and `RateLimiterRegistry`). Bulkheads are always local.
 * - Its policies (`defaultPolicy`, `policies`, `undeclaredTags`) and `bulkheads` can be reloaded while it runs,
 *   from a call, a watched file or a polled `Config`: provide `ConfigReload.layer` over it.
 * - Every section is checked before anything is built: an invalid build fails with one `ConfigError` listing
 *   every problem of every section, and nothing is provided.
 *   A `ConfigError`'s paths start at these options (`["breakers", "breakers", "storage", "openDuration"]`,
 *   `["defaultPolicy", "maxAttempts"]`).
 *
 * @since 0.1.0
 */
import type { Config } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import * as BreakerRegistry from "./BreakerRegistry.js"
import * as BulkheadRegistry from "./BulkheadRegistry.js"
import * as ConfigError from "./ConfigError.js"
import type * as ErrorFamily from "./ErrorFamily.js"
import * as ErrorLogger from "./ErrorLogger.js"
import * as ErrorRegistry from "./ErrorRegistry.js"
import * as ErrorTracker from "./ErrorTracker.js"
import * as LiveView from "./LiveView.js"
import { CurrentObserver, noObserver } from "./internal/observation.js"
import * as PolicyService from "./PolicyService.js"
import * as RateLimiterRegistry from "./RateLimiterRegistry.js"
import { freshSites } from "./internal/protect/hedge.js"
import * as RetryBudgetRegistry from "./RetryBudgetRegistry.js"
import * as ResilienceMetrics from "./ResilienceMetrics.js"

/**
 * Options of {@link layer}.
 *
 * - `errors`: your families, listed in the registry with the common ones and those `policies` name.
 * - `defaultPolicy`, `policies` and `undeclaredTags` (tags of policies meant for error types that are not declared
 *   families): see `PolicyService.Options` (`defaultPolicy` is its `default`).
 * - `logFormat`: `"pretty"` or `"json"`; without it, `LOG_FORMAT` is read. `false` leaves the logger alone.
 * - `tracker`: options of the error tracker (history size, rate window, buffers), see `ErrorTracker.Options`.
 * - `breakers`: options of the circuit breakers, the default ones and per name, see `BreakerRegistry.Options`.
 * - `bulkheads`: options of the bulkheads, see `BulkheadRegistry.Options`.
 * - `rateLimiters`: options of the rate limiters, see `RateLimiterRegistry.Options`.
 * - `budgets`: options of the retry budgets, see `RetryBudgetRegistry.Options`.
 * - `durations`: `false` records no call or attempt durations (see `ResilienceMetrics.Options`); default `true`.
 * - `live`: options of the live view behind `/events` and `/dashboard` (frame interval, client limits), see
 *   `LiveView.Options`.
 *
 * An unknown key (a misspelt `polices`), here or in any section, fails the build with a `ConfigError` naming the
 * nearest known one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly errors?: ReadonlyArray<ErrorFamily.Any> | undefined
  readonly defaultPolicy?: PolicyService.Options["default"]
  readonly policies?: PolicyService.Options["policies"]
  readonly undeclaredTags?: PolicyService.Options["undeclaredTags"]
  readonly logFormat?: ErrorLogger.Format | false | undefined
  readonly tracker?: ErrorTracker.Options | undefined
  readonly breakers?: BreakerRegistry.Options | undefined
  readonly bulkheads?: BulkheadRegistry.Options | undefined
  readonly rateLimiters?: RateLimiterRegistry.Options | undefined
  readonly budgets?: RetryBudgetRegistry.Options | undefined
  readonly durations?: boolean | undefined
  readonly live?: LiveView.Options | undefined
}

// the sections are checked by their own modules; here which keys there are, and the log format
const OptionsSchema = Schema.Struct({
  errors: Schema.optional(Schema.Unknown),
  defaultPolicy: Schema.optional(Schema.Unknown),
  policies: Schema.optional(Schema.Unknown),
  undeclaredTags: Schema.optional(Schema.Unknown),
  logFormat: Schema.optional(Schema.Literals(["pretty", "json", false])),
  tracker: Schema.optional(Schema.Unknown),
  breakers: Schema.optional(Schema.Unknown),
  bulkheads: Schema.optional(Schema.Unknown),
  rateLimiters: Schema.optional(Schema.Unknown),
  budgets: Schema.optional(Schema.Unknown),
  durations: Schema.optional(Schema.Boolean),
  live: Schema.optional(Schema.Unknown)
})

const decodeOptions = Schema.decodeUnknownExit(OptionsSchema)

/**
 * The services `ErrorLayer` provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | ErrorRegistry.ErrorRegistry
  | PolicyService.PolicyService
  | ErrorTracker.ErrorTracker
  | ResilienceMetrics.ResilienceMetrics
  | BreakerRegistry.BreakerRegistry
  | BulkheadRegistry.BulkheadRegistry
  | RateLimiterRegistry.RateLimiterRegistry
  | RetryBudgetRegistry.RetryBudgetRegistry
  | LiveView.LiveView

/**
 * Why building `ErrorLayer` can fail: invalid options anywhere (an unknown key, an invalid policy, tracker or
 * breaker option, a policy for a tag no declared family has, two families with one code or tag), as one
 * `ConfigError` whose paths start at the layer's options, or an invalid `LOG_FORMAT` (effect's
 * `Config.ConfigError`). Nothing is provided from a layer that failed.
 *
 * @since 0.2.0
 * @category errors
 */
export type LayerError = ConfigError.ConfigError | Config.ConfigError

// PolicyService's `default` is this layer's `defaultPolicy`
const policyPath = (error: ConfigError.ConfigError): ConfigError.ConfigError =>
  new ConfigError.ConfigError({
    issues: error.issues.map((issue) =>
      issue.path[0] === "default" ? { path: ["defaultPolicy", ...issue.path.slice(1)], message: issue.message } : issue
    )
  })

/**
 * Builds the layer.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { CommonErrors, ErrorFamily, ErrorLayer, Policy, protect } from "@effect-resilience/core"
 *
 * class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
 *   code: "shop.E0001",
 *   kind: "business"
 * }) {}
 *
 * const ShopErrors = ErrorLayer.layer({
 *   errors: [OutOfStock],
 *   defaultPolicy: { maxAttempts: 3, baseDelay: "50 millis" },
 *   policies: [
 *     Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 5, baseDelay: "100 millis", logLevel: "Warn" })
 *   ]
 * })
 *
 * declare const save: Effect.Effect<void, CommonErrors.StorageError | OutOfStock>
 * const program = save.pipe(protect({ operation: "cart.save" }), Effect.provide(ShopErrors))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Services, LayerError> => {
  // an unknown key fails the build before any section is built, so no section runs with options that were meant
  // for another
  const decoded = decodeOptions(options, { errors: "all", onExcessProperty: "error" })
  if (decoded._tag === "Failure") {
    const issue = decoded.cause.reasons.find((r) => r._tag === "Fail")
    const issues = issue !== undefined && issue._tag === "Fail"
      ? ConfigError.fromSchemaIssue(issue.error.issue)
      : [{ path: [], message: "Invalid options" }]
    return Layer.unwrap(Effect.fail(new ConfigError.ConfigError({ issues })) as Effect.Effect<never, LayerError>)
  }
  // Every section is checked before anything is built, and all their problems are reported together, each rooted
  // at these options: nothing is provided half-configured. The policies and the registry (of the listed families
  // plus those the policies name) are built in the check itself; they are plain values.
  const core = Layer.effectContext(
    Effect.gen(function*() {
      const issues: Array<ConfigError.Issue> = []
      const gather = <A>(
        effect: Effect.Effect<A, ConfigError.ConfigError>,
        root: (error: ConfigError.ConfigError) => ConfigError.ConfigError
      ) =>
        Effect.catch(effect, (error) => {
          issues.push(...root(error).issues)
          return Effect.succeed(undefined)
        })
      const policies = yield* gather(
        PolicyService.make({
          default: options.defaultPolicy,
          policies: options.policies,
          errors: options.errors,
          undeclaredTags: options.undeclaredTags
        }),
        policyPath
      )
      const registry = policies === undefined
        ? undefined
        : yield* gather(ErrorRegistry.make([...(options.errors ?? []), ...policies.families]), (error) => error)
      yield* gather(ErrorTracker.validate(options.tracker), (error) => ConfigError.under(error, ["tracker"]))
      yield* gather(BreakerRegistry.validate(options.breakers), (error) => ConfigError.under(error, ["breakers"]))
      yield* gather(BulkheadRegistry.validate(options.bulkheads), (error) => ConfigError.under(error, ["bulkheads"]))
      yield* gather(
        RateLimiterRegistry.validate(options.rateLimiters),
        (error) => ConfigError.under(error, ["rateLimiters"])
      )
      yield* gather(RetryBudgetRegistry.validate(options.budgets), (error) => ConfigError.under(error, ["budgets"]))
      yield* gather(LiveView.validate(options.live), (error) => ConfigError.under(error, ["live"]))
      if (issues.length > 0 || policies === undefined || registry === undefined) {
        return yield* new ConfigError.ConfigError({ issues })
      }
      return Context.make(PolicyService.PolicyService, policies).pipe(
        Context.add(ErrorRegistry.ErrorRegistry, registry)
      )
    })
  )
  // The consumers of what the strategies emit, in order: the tracker (its fiber lives as long as the layer; its
  // ErrorReporter is installed next to any already there), then the metrics over it; the breakers, built last,
  // emit into both.
  // Each ErrorLayer is a root: its consumers start from no observer, so an ErrorLayer provided inside another
  // keeps its figures to itself instead of also emitting into the outer one's.
  const tracker = ErrorTracker.layer(options.tracker).pipe(
    Layer.provide(Layer.succeed(CurrentObserver, noObserver))
  )
  // `ResilienceMetrics.layer` is one value: fresh, so that it is built over this layer's tracker, never shared
  // (through a memo map) with another ErrorLayer's
  const metrics = options.durations === false ? ResilienceMetrics.layerWith({ durations: false }) : ResilienceMetrics.layer
  const observed = Layer.fresh(metrics).pipe(Layer.provideMerge(tracker))
  // (their options were checked with the others, in `core`; with a shared store, a configured breaker or limiter
  // name too long to store still fails here, as only the store knows)
  const breakers = Layer.mergeAll(
    BreakerRegistry.layer(options.breakers),
    BulkheadRegistry.layer(options.bulkheads),
    RateLimiterRegistry.layer(options.rateLimiters),
    RetryBudgetRegistry.layer(options.budgets),
    // the latency windows of the hedged operations: this layer's own
    Layer.effectContext(Effect.sync(freshSites))
  ).pipe(Layer.provideMerge(observed))
  // the live view reads the metrics, the breakers and the tracker (and a shared store, when one is provided)
  const live = LiveView.layer(options.live).pipe(Layer.provideMerge(breakers))
  const logger = options.logFormat === false ? Layer.empty : ErrorLogger.layer({ format: options.logFormat })
  // the check (in `core`) before the rest is built
  return Layer.mergeAll(live, logger).pipe(Layer.provideMerge(core))
}

/**
 * `ErrorLayer` with the defaults: the common families, the built-in default policy, `LOG_FORMAT` logging.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, ErrorLayer, protect } from "@effect-resilience/core"
 *
 * const program = Effect.fail(new CommonErrors.NetworkError({ target: "bank" })).pipe(
 *   protect({ operation: "bank.ping" }),
 *   Effect.provide(ErrorLayer.layerDefault)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault: Layer.Layer<Services, LayerError> = layer()
