/**
 * `ErrorLayer`: the one Layer a user provides to get the error registry, the policies, the circuit breakers, the
 * error tracker and its metrics, the alert hub and the error logger.
 *
 * @since 0.1.0
 */
import type { Config } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import * as Alerts from "./Alerts.js"
import * as BreakerRegistry from "./BreakerRegistry.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import type * as ErrorFamily from "./ErrorFamily.js"
import * as ErrorLogger from "./ErrorLogger.js"
import * as ErrorRegistry from "./ErrorRegistry.js"
import * as ErrorTracker from "./ErrorTracker.js"
import { knownKeys, optionIssues } from "./internal/unknownKeys.js"
import type * as Policy from "./Policy.js"
import * as PolicyService from "./PolicyService.js"
import * as ResilienceMetrics from "./ResilienceMetrics.js"

/**
 * Options of {@link layer}.
 *
 * - `errors`: your families, listed in the registry with the common ones and those `policies` name.
 * - `defaultPolicy`, `policies` and `undeclaredTags` (tags of policies meant for error types that are not declared
 *   families): see `PolicyService.Options`.
 * - `logFormat`: `"pretty"` or `"json"`; without it, `LOG_FORMAT` is read. `false` leaves the logger alone.
 * - `alertCapacity`: alerts buffered per subscriber before the oldest are dropped (default 1024).
 * - `tracker`: options of the error tracker (history size, rate window, buffers), see `ErrorTracker.Options`.
 * - `breakers`: options of the circuit breakers, the default ones and per name, see `BreakerRegistry.Options`.
 *
 * An unknown key (a misspelt `polices`) fails the build with an {@link ErrorLayerConfigError} naming the nearest
 * known one; the sections refuse their unknown keys too, each with its own error.
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
  readonly alertCapacity?: number | undefined
  readonly tracker?: ErrorTracker.Options | undefined
  readonly breakers?: BreakerRegistry.Options | undefined
}

const optionKeys = knownKeys<Options>({
  errors: true,
  defaultPolicy: true,
  policies: true,
  undeclaredTags: true,
  logFormat: true,
  alertCapacity: true,
  tracker: true,
  breakers: true
})

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
  | Alerts.Alerts

/**
 * Options of {@link layer} with a problem of their own, before any section is looked at: one issue per unknown
 * key, with its path and the reason (naming the nearest known key). Nothing is built.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorLayer } from "@effect-resilience/core"
 *
 * const error = new ErrorLayer.ErrorLayerConfigError({
 *   issues: [{ path: ["polices"], message: "Unknown key \"polices\", did you mean \"policies\"?" }]
 * })
 * error.message // 'Invalid ErrorLayer options: polices: Unknown key "polices", did you mean "policies"?'
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ErrorLayerConfigError extends Schema.TaggedError<ErrorLayerConfigError>()("ErrorLayerConfigError", {
  issues: Schema.Array(Schema.Struct({ path: Schema.Array(Schema.String), message: Schema.String }))
}) {
  override get message(): string {
    const issues = this.issues.map((i) => i.path.length === 0 ? i.message : `${i.path.join(".")}: ${i.message}`)
    return `Invalid ErrorLayer options: ${issues.join("; ")}`
  }
}

/**
 * Why building `ErrorLayer` can fail: an unknown option, an invalid policy config (a policy for a tag no declared
 * family has among them), a duplicate error code or tag, invalid tracker or breaker options, or an invalid
 * `LOG_FORMAT`. Nothing is provided from a layer that failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type Error =
  | ErrorLayerConfigError
  | Policy.PolicyConfigError
  | ErrorRegistry.ErrorRegistryError
  | ErrorTracker.ErrorTrackerConfigError
  | CircuitBreaker.BreakerConfigError
  | Config.ConfigError

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
export const layer = (options: Options = {}): Layer.Layer<Services, Error> => {
  // an unknown key fails the build before any section is built, so no section runs with options that were meant
  // for another
  const issues = optionIssues(options, optionKeys)
  if (issues.length > 0) {
    return Layer.unwrap(Effect.fail(new ErrorLayerConfigError({ issues })) as Effect.Effect<never, Error>)
  }
  // Policies first, then the registry of the listed families plus those the policies name: a failure in either
  // fails the whole build, so nothing is provided half-configured.
  const core = Layer.effectContext(
    Effect.gen(function*() {
      const policies = yield* PolicyService.make({
        default: options.defaultPolicy,
        policies: options.policies,
        errors: options.errors,
        undeclaredTags: options.undeclaredTags
      })
      const registry = yield* ErrorRegistry.make([...(options.errors ?? []), ...policies.families])
      return Context.make(PolicyService.PolicyService, policies).pipe(
        Context.add(ErrorRegistry.ErrorRegistry, registry)
      )
    })
  )
  // the tracker's fiber lives as long as the layer; its ErrorReporter is installed next to any already there
  const tracking = ResilienceMetrics.layer.pipe(Layer.provideMerge(ErrorTracker.layer(options.tracker)))
  // the breakers record their state changes in the tracker
  const monitored = BreakerRegistry.layer(options.breakers).pipe(Layer.provideMerge(tracking))
  const alerts = Alerts.layer({ capacity: options.alertCapacity })
  const logger = options.logFormat === false ? Layer.empty : ErrorLogger.layer({ format: options.logFormat })
  return Layer.mergeAll(core, monitored, alerts, logger)
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
export const layerDefault: Layer.Layer<Services, Error> = layer()
