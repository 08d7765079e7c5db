/**
 * The one place the retry rules live: a Layer-provided service mapping each error type to its {@link Policy},
 * and {@link retry}, the `Schedule` that applies them (`program.pipe(Effect.retry(PolicyService.retry))`).
 *
 * @since 0.1.0
 */
import { Cause, Context, Effect, Layer, Pull, Schedule } from "effect"
import { BreakerOpenError } from "./CircuitBreaker.js"
import * as CommonErrors from "./CommonErrors.js"
import * as ErrorFamily from "./ErrorFamily.js"
import * as ErrorLogger from "./ErrorLogger.js"
import { logRetry, makeDispatcher, type RetryDecision as Decision } from "./internal/dispatch.js"
import { recorderFor } from "./internal/track.js"
import { isRecord, knownKeys, optionIssues, show, suggest } from "./internal/unknownKeys.js"
import * as Policy from "./Policy.js"

/**
 * The policy service.
 *
 * @since 0.1.0
 * @category models
 */
export interface PolicyServiceShape {
  /** The policy for error types that have none of their own (recoverable and unclassified errors). */
  readonly defaultPolicy: Policy.Policy<unknown>
  /** The policies given per error tag. */
  readonly policies: ReadonlyMap<string, Policy.Policy<any>>
  /** The families the policies were bound to with `Policy.forFamily`. */
  readonly families: ReadonlyArray<ErrorFamily.Any>
  /**
   * The policy that applies to an error: its tag's own policy if there is one; otherwise no retry for business
   * errors and circuit breaker rejections (logged at `"Debug"`) and unrecoverable errors (logged at `"Error"`);
   * otherwise the default policy.
   */
  readonly policyFor: (error: unknown) => Policy.Policy<any>
}

/**
 * The service holding the policies. `ErrorLayer` provides it; {@link layer} provides it alone.
 *
 * @since 0.1.0
 * @category services
 */
export class PolicyService extends Context.Service<PolicyService, PolicyServiceShape>()(
  "@effect-resilience/core/PolicyService"
) {}

/**
 * Options of {@link make}: the default policy and the per-type ones, each a built `Policy` or a plain config.
 *
 * - `policies` is either a list of `Policy.forFamily(Family, policy)` (typed, and registers the families) and
 *   `Policy.forTag(tag, policy)` entries, or a record keyed by error tag (convenient for config files).
 * - A policy keyed by a tag must be for a declared family: a common one (`CommonErrors`), `BreakerOpenError`, one
 *   listed in `errors` or one bound with `Policy.forFamily`. Any other tag is refused (a misspelt tag would never
 *   apply), unless it is given with `Policy.forTag(tag, policy, { undeclared: true })`, or listed in
 *   `undeclaredTags` (the form a config file can say), for an error type that is not a declared family.
 * - `errors`: the families declared besides the common ones and those bound with `Policy.forFamily`
 *   (`ErrorLayer` passes its own `errors`).
 * - Without `default`, the default policy is `{ maxAttempts: 3, baseDelay: "100 millis", factor: 2 }`.
 * - Unknown keys are refused, with the nearest known name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly default?: Policy.Input | undefined
  readonly policies?:
    | ReadonlyArray<Policy.ForFamily | Policy.ForTag>
    | Readonly<Record<string, Policy.Input<any>>>
    | undefined
  readonly errors?: ReadonlyArray<ErrorFamily.Any> | undefined
  readonly undeclaredTags?: ReadonlyArray<string> | undefined
}

const optionKeys = knownKeys<Options>({ default: true, policies: true, errors: true, undeclaredTags: true })

const businessPolicy = Policy.noRetry({ logLevel: "Debug" })
const unrecoverablePolicy = Policy.noRetry({ logLevel: "Error" })
const rejectionPolicy = Policy.noRetry({ logLevel: "Debug" })
const builtinDefault = Policy.make({ schedule: Policy.scheduleFromConfig({}) })

const undeclaredTagMessage = (tag: string, declared: Iterable<string>): string => {
  const near = suggest(tag, declared)
  const undeclared = `Policy.forTag(${JSON.stringify(tag)}, policy, { undeclared: true })`
  return near === undefined
    ? `No declared error family has the tag ${JSON.stringify(tag)}: list its family in \`errors\`, or bind a ` +
      `policy for an error type that is not a family with ${undeclared} (or list the tag in \`undeclaredTags\`)`
    : `No declared error family has the tag ${JSON.stringify(tag)}, did you mean ${JSON.stringify(near)}? A ` +
      `policy for an error type that is not a family is bound with ${undeclared}, or its tag listed in ` +
      "`undeclaredTags`"
}

// a declared family: a class carrying its static description
const isFamily = (u: unknown): u is ErrorFamily.Any =>
  typeof u === "function" && isRecord((u as { readonly family?: unknown }).family) &&
  typeof (u as ErrorFamily.Any).family.tag === "string"

const toPolicy = (input: Policy.Input<any>, name: string) =>
  Policy.isPolicy(input) ? Effect.succeed(input) : Policy.fromConfig(input, name)

/**
 * Validates the options and builds the service. All invalid configs are reported together in one
 * `PolicyConfigError` (each issue names its policy and field), and no service is built from a partly valid set.
 * A policy keyed by a tag no declared family has is one of them (see {@link Options}), named with the nearest
 * declared tag; an unknown key of the options is another (its policy is `""`).
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors, Policy, PolicyService } from "@effect-resilience/core"
 *
 * const service = PolicyService.make({
 *   default: { maxAttempts: 2, baseDelay: "50 millis" },
 *   policies: [Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 5, baseDelay: "100 millis" })]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<PolicyServiceShape, Policy.PolicyConfigError> =>
  Effect.gen(function*() {
    const issues: Array<Policy.PolicyConfigError["issues"][number]> = optionIssues(options, optionKeys).map(
      (issue) => ({ policy: "", path: issue.path, message: issue.message })
    )
    if (!isRecord(options)) return yield* new Policy.PolicyConfigError({ issues })
    const entries: Array<readonly [string, Policy.Input<any>]> = []
    const families: Array<ErrorFamily.Any> = []
    // tags bound by tag alone, which must be those of declared families unless said to be undeclared
    const checkedTags: Array<string> = []
    const fail = (path: Array<string>, message: string) => issues.push({ policy: "", path, message })
    // a malformed section is reported and the rest still checked, with what of it is well formed
    let undeclaredTags: ReadonlyArray<string> = []
    if (options.undeclaredTags !== undefined) {
      const given: unknown = options.undeclaredTags
      if (Array.isArray(given) && given.every((tag) => typeof tag === "string")) undeclaredTags = given
      else {
        fail(["undeclaredTags"], `Expected a list of error tags, got ${show(given)}`)
        undeclaredTags = Array.isArray(given) ? given.filter((tag): tag is string => typeof tag === "string") : []
      }
    }
    let errors: ReadonlyArray<ErrorFamily.Any> = []
    if (options.errors !== undefined) {
      const given: unknown = options.errors
      if (Array.isArray(given) && given.every(isFamily)) errors = given
      else {
        fail(["errors"], `Expected a list of error families (ErrorFamily.TaggedError classes), got ${show(given)}`)
        errors = Array.isArray(given) ? given.filter(isFamily) : []
      }
    }
    if (Array.isArray(options.policies)) {
      for (const [index, entry] of (options.policies as ReadonlyArray<Policy.ForFamily | Policy.ForTag>).entries()) {
        const wellFormed = isRecord(entry) &&
          ("family" in entry ? isFamily(entry.family) : "tag" in entry && typeof entry.tag === "string")
        if (!wellFormed) {
          fail(["policies", String(index)], `Expected Policy.forFamily(...) or Policy.forTag(...), got ${show(entry)}`)
        } else if ("family" in entry) {
          families.push(entry.family)
          entries.push([entry.family.family.tag, entry.policy])
        } else {
          if (entry.undeclared !== undefined && typeof entry.undeclared !== "boolean") {
            fail(["policies", String(index), "undeclared"], `Expected true or false, got ${show(entry.undeclared)}`)
          } else if (!entry.undeclared) checkedTags.push(entry.tag)
          entries.push([entry.tag, entry.policy])
        }
      }
    } else if (options.policies !== undefined && !isRecord(options.policies)) {
      fail(
        ["policies"],
        `Expected a list of Policy.forFamily / Policy.forTag entries or a record by error tag, got ${show(options.policies)}`
      )
    } else if (options.policies !== undefined) {
      for (const entry of Object.entries(options.policies as Record<string, Policy.Input<any>>)) {
        checkedTags.push(entry[0])
        entries.push(entry)
      }
    }
    if (checkedTags.length > 0) {
      const declared = new Set(
        [...CommonErrors.families, BreakerOpenError, ...errors, ...families].map((f) => f.family.tag)
      )
      for (const tag of checkedTags) {
        if (undeclaredTags.includes(tag)) continue
        if (!declared.has(tag)) issues.push({ policy: tag, path: [], message: undeclaredTagMessage(tag, declared) })
      }
    }
    const collect = <A>(effect: Effect.Effect<A, Policy.PolicyConfigError>) =>
      Effect.catch(effect, (error) => {
        issues.push(...error.issues)
        return Effect.succeed(undefined)
      })
    const defaultPolicy = options.default === undefined
      ? builtinDefault
      : yield* collect(toPolicy(options.default, "default"))
    const policies = new Map<string, Policy.Policy<any>>()
    for (const [tag, input] of entries) {
      const policy = yield* collect(toPolicy(input, tag))
      if (policy !== undefined) policies.set(tag, policy)
    }
    if (issues.length > 0 || defaultPolicy === undefined) {
      return yield* new Policy.PolicyConfigError({ issues })
    }
    return {
      defaultPolicy,
      policies,
      families,
      policyFor: (error) => {
        const tag = ErrorFamily.tagOf(error)
        const own = tag === undefined ? undefined : policies.get(tag)
        if (own !== undefined) return own
        if (tag === BreakerOpenError.family.tag) return rejectionPolicy
        if (ErrorFamily.isClassified(error)) {
          if (error.kind === "business") return businessPolicy
          if (error.kind === "unrecoverable") return unrecoverablePolicy
        }
        return defaultPolicy
      }
    } satisfies PolicyServiceShape
  })

/**
 * A layer providing the service; its build fails with `PolicyConfigError` when a config is invalid.
 *
 * **Example**
 *
 * ```ts
 * import { PolicyService } from "@effect-resilience/core"
 *
 * const Policies = PolicyService.layer({
 *   policies: { StorageError: { maxAttempts: 5, baseDelay: "100 millis" }, ValidationError: { maxAttempts: 1 } }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<PolicyService, Policy.PolicyConfigError> =>
  Layer.effect(PolicyService, make(options))

/**
 * What {@link retry} outputs for each failure it decides on: the error's tag, how many failures of that tag
 * (`attempt`) and of any tag (`total`) the run has seen, and the policy that decided.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryDecision = Decision

const logger = ErrorLogger.make("effect-resilience/retry")

/**
 * The policy schedule: its input is the failed error, and each failure is handed to the schedule of that error's
 * policy. Every error type keeps its own attempt count and backoff state for the run, so two types failing
 * alternately do not use up each other's attempts; the run stops as soon as the failing type's schedule is done.
 * Each retried failure is logged at its policy's level, annotated with `attempt` (the run's attempt number) and
 * `tagAttempt` (failures of that tag so far).
 *
 * **Details**
 *
 * Policy timeouts and cleanups are applied by `protect`, not by this schedule, which only decides on retries.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, ErrorLayer, PolicyService } from "@effect-resilience/core"
 *
 * declare const save: Effect.Effect<void, CommonErrors.StorageError | CommonErrors.ValidationError>
 *
 * // StorageError retried per its policy, ValidationError (business) never; the error type is unchanged
 * const program = save.pipe(Effect.retry(PolicyService.retry), Effect.provide(ErrorLayer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category schedules
 */
export const retry: Schedule.Schedule<RetryDecision, unknown, never, PolicyService> = Schedule.fromStep(
  Effect.withFiber((fiber) => {
    const service = Context.getUnsafe(fiber.context, PolicyService)
    const recorder = recorderFor(fiber, "retry")
    const dispatch = makeDispatcher(service.policyFor)
    return Effect.succeed((now: number, error: unknown) =>
      dispatch(now, error).pipe(
        Effect.tap(([decision, delay]) => {
          recorder?.record(error, now, decision.total, "unobserved")
          return logRetry(logger, error, decision, delay)
        }),
        Pull.catchDone((decision) => {
          recorder?.record(error, now, (decision as RetryDecision).total, "none")
          return Cause.done(decision as RetryDecision)
        })
      )
    )
  })
) as Schedule.Schedule<RetryDecision, unknown, never, PolicyService>

/**
 * Reads the policy for an error from the service.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, PolicyService } from "@effect-resilience/core"
 *
 * const level = PolicyService.policyFor(new CommonErrors.NetworkError({ target: "bank" })).pipe(
 *   Effect.map((policy) => policy.logLevel),
 *   Effect.provide(PolicyService.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const policyFor = (error: unknown): Effect.Effect<Policy.Policy<any>, never, PolicyService> =>
  PolicyService.useSync((service) => service.policyFor(error))
