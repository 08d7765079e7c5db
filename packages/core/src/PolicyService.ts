/**
 * The one place the retry rules live: a Layer-provided service mapping each error type to its {@link Policy},
 * and {@link retry}, the `Schedule` that applies them (`program.pipe(Effect.retry(PolicyService.retry))`).
 *
 * **Gotchas**
 *
 * - The schedule only decides on retries: policy timeouts and cleanups are applied by `protect`.
 * - A schedule does not see the retry it asked for succeed, so the failures it retries are recorded as
 *   `"unobserved"`; `protect` records them as pending and resolves them.
 * - A refusal (a breaker's `BreakerOpenError`, a bulkhead's `BulkheadFullError`, a rate limiter's
 *   `RateLimitedError`) is never retried unless it has a policy of its own.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Layer, Pull, References, Schedule, Schema } from "effect"
import { BulkheadFullError } from "./Bulkhead.js"
import { BreakerOpenError } from "./CircuitBreaker.js"
import * as CommonErrors from "./CommonErrors.js"
import * as ConfigError from "./ConfigError.js"
import * as ErrorFamily from "./ErrorFamily.js"
import * as ErrorLogger from "./ErrorLogger.js"
import { monotonicMillis } from "./internal/breaker/store.js"
import { CurrentBudget } from "./internal/budget/budget.js"
import { logRetry, logSuppressed, retryModule } from "./internal/logLines.js"
import { RateLimitedError } from "./RateLimiter.js"
import { CurrentObserver } from "./internal/observation.js"
import { makePolicyRun, type RetryDecision as Decision } from "./internal/policyRun.js"
import { currentPolicies, ReloadablePolicies } from "./internal/reloadable.js"
import { isRecord, show, suggest } from "./internal/unknownKeys.js"
import * as Policy from "./Policy.js"


// the refusals of the breakers, bulkheads and rate limiters: never retried unless they have a policy of their own
const refusals = [BreakerOpenError, BulkheadFullError, RateLimitedError]
const refusalTags: ReadonlySet<string> = new Set(refusals.map((f) => f.family.tag))

/**
 * The policy service: the policies, and the lookup of the one that applies to an error.
 *
 * @since 0.1.0
 * @category models
 */
export interface PolicyService {
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
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, PolicyService } from "@effect-resilience/core"
 *
 * const level = PolicyService.PolicyService.use((service) =>
 *   Effect.succeed(service.policyFor(new CommonErrors.StorageError({ operation: "save" })).logLevel)
 * ).pipe(Effect.provide(PolicyService.layer()))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export const PolicyService: Context.Service<PolicyService, PolicyService> = Context.Service<PolicyService>(
  "@effect-resilience/core/PolicyService"
)

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

const isTag = (u: unknown): u is string => typeof u === "string"

// a field that is well formed as a whole, or one issue naming the field, the expectation and the value
const field = (expected: string, is: (u: unknown) => boolean) =>
  Schema.optional(Schema.Unknown.check(Schema.makeFilter((u: unknown) =>
    is(u) ? undefined : `Expected ${expected}, got ${show(u)}`
  )))

// The shape of the options: which keys there are, and each section's kind. The entries of `policies` and the
// policy configs are checked one by one after, so every issue is found, each with its path.
const OptionsShape = Schema.Struct({
  default: Schema.optional(Schema.Unknown),
  policies: field(
    "a list of Policy.forFamily / Policy.forTag entries or a record by error tag",
    (u) => Array.isArray(u) || isRecord(u)
  ),
  errors: field(
    "a list of error families (ErrorFamily.TaggedError classes)",
    (u) => Array.isArray(u) && u.every(isFamily)
  ),
  undeclaredTags: field("a list of error tags", (u) => Array.isArray(u) && u.every(isTag))
})

const decodeShape = Schema.decodeUnknownExit(OptionsShape)

/**
 * Validates the options and builds the service. Every issue is reported together in one `ConfigError` whose
 * paths start at these options (`["policies", "StorageError", "maxAttempts"]`, `["policies", 2, "baseDelay"]`
 * for a list entry, `["default", "factor"]`, `["polices"]` for an unknown key), and no service is built from a
 * partly valid set. A policy keyed by a tag no declared family has is one of them (see {@link Options}), named
 * with the nearest declared tag.
 *
 * The service reads the policy set in force: `ConfigReload` can replace it as a whole, and a protected call (or
 * an `Effect.retry(PolicyService.retry)` run) keeps the set that was in force as it started.
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
export const make = (options: Options = {}): Effect.Effect<PolicyService, ConfigError.ConfigError> =>
  Effect.map(build(options), (set) => new ReloadablePolicies(set, options, build))

// the policy set of some options: what `make` returns reads one, which `ConfigReload` replaces as a whole
const build = (options: Options): Effect.Effect<PolicyService, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    if (!isRecord(options)) {
      return yield* new ConfigError.ConfigError({ issues: [{ path: [], message: `Expected an object, got ${show(options)}` }] })
    }
    const issues: Array<ConfigError.Issue> = []
    const fail = (path: ReadonlyArray<string | number>, message: string) => issues.push({ path, message })
    const shape = decodeShape(options, { errors: "all", onExcessProperty: "error" })
    if (shape._tag === "Failure") {
      for (const reason of shape.cause.reasons) {
        if (Cause.isFailReason(reason)) issues.push(...ConfigError.fromSchemaIssue(reason.error.issue))
      }
    }
    // a malformed section is reported (above) and the rest still checked, with what of it is well formed
    const listed = <A>(given: unknown, is: (u: unknown) => u is A): ReadonlyArray<A> =>
      Array.isArray(given) ? given.filter(is) : []
    const undeclaredTags = listed(options.undeclaredTags, isTag)
    const errors = listed(options.errors, isFamily)
    // each policy with the path of its config, and the tags bound by tag alone, which must be those of declared
    // families unless said to be undeclared
    const entries: Array<{ readonly tag: string; readonly input: Policy.Input<any>; readonly path: ReadonlyArray<string | number> }> = []
    const checkedTags: Array<{ readonly tag: string; readonly path: ReadonlyArray<string | number> }> = []
    const families: Array<ErrorFamily.Any> = []
    if (Array.isArray(options.policies)) {
      for (const [index, entry] of (options.policies as ReadonlyArray<Policy.ForFamily | Policy.ForTag>).entries()) {
        const path = ["policies", index]
        const wellFormed = isRecord(entry) &&
          ("family" in entry ? isFamily(entry.family) : "tag" in entry && typeof entry.tag === "string")
        if (!wellFormed) {
          fail(path, `Expected Policy.forFamily(...) or Policy.forTag(...), got ${show(entry)}`)
        } else if ("family" in entry) {
          families.push(entry.family)
          entries.push({ tag: entry.family.family.tag, input: entry.policy, path })
        } else {
          if (entry.undeclared !== undefined && typeof entry.undeclared !== "boolean") {
            fail([...path, "undeclared"], `Expected true or false, got ${show(entry.undeclared)}`)
          } else if (!entry.undeclared) checkedTags.push({ tag: entry.tag, path })
          entries.push({ tag: entry.tag, input: entry.policy, path })
        }
      }
    } else if (isRecord(options.policies)) {
      for (const [tag, input] of Object.entries(options.policies as Record<string, Policy.Input<any>>)) {
        const path = ["policies", tag]
        checkedTags.push({ tag, path })
        entries.push({ tag, input, path })
      }
    }
    if (checkedTags.length > 0) {
      const declared = new Set(
        [...CommonErrors.families, ...refusals, ...errors, ...families].map((f) => f.family.tag)
      )
      for (const { path, tag } of checkedTags) {
        if (!undeclaredTags.includes(tag) && !declared.has(tag)) fail(path, undeclaredTagMessage(tag, declared))
      }
    }
    const toPolicy = (input: Policy.Input<any>, path: ReadonlyArray<string | number>) =>
      Policy.isPolicy(input) ? Effect.succeed(input) : Policy.fromConfig(input).pipe(
        Effect.catch((error) => {
          issues.push(...ConfigError.under(error, path).issues)
          return Effect.succeed(undefined)
        })
      )
    const defaultPolicy = options.default === undefined ? builtinDefault : yield* toPolicy(options.default, ["default"])
    const policies = new Map<string, Policy.Policy<any>>()
    for (const { input, path, tag } of entries) {
      const policy = yield* toPolicy(input, path)
      if (policy !== undefined) policies.set(tag, policy)
    }
    if (issues.length > 0 || defaultPolicy === undefined) return yield* new ConfigError.ConfigError({ issues })
    return PolicyService.of({
      defaultPolicy,
      policies,
      families,
      policyFor: (error) => {
        const tag = ErrorFamily.tagOf(error)
        const own = tag === undefined ? undefined : policies.get(tag)
        if (own !== undefined) return own
        if (tag !== undefined && refusalTags.has(tag)) return rejectionPolicy
        if (ErrorFamily.isClassified(error)) {
          if (error.kind === "business") return businessPolicy
          if (error.kind === "unrecoverable") return unrecoverablePolicy
        }
        return defaultPolicy
      }
    })
  })

/**
 * A layer providing the service; its build fails with a `ConfigError` when an option is invalid.
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
export const layer = (options?: Options): Layer.Layer<PolicyService, ConfigError.ConfigError> =>
  Layer.effect(PolicyService, make(options))

const logger = ErrorLogger.make(retryModule)

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
 * With an `ErrorTracker` in the context, each failure the schedule decides on is recorded: as `"unobserved"` when
 * it is retried (the schedule does not see how the retry ends), and the one it gives up on as `gaveUp`.
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
    // the set in force as the run starts (a reload during the run does not change its rules): read once per run,
    // as the run's stepper is made
    const service = currentPolicies(Context.getUnsafe(fiber.context, PolicyService))
    const observer = fiber.getRef(CurrentObserver)
    const annotations = observer.active ? fiber.getRef(References.CurrentLogAnnotations) : undefined
    const failed = (
      error: unknown,
      timestamp: number,
      attempt: number,
      gaveUp: boolean,
      suppressed?: "budget" | "pushback"
    ) => {
      if (!observer.active) return
      const recovery = gaveUp ? "none" : "unobserved"
      observer.emit({
        _tag: "Failure",
        error,
        timestamp,
        attempt,
        recovery,
        source: "retry",
        annotations,
        gaveUp,
        suppressed
      })
    }
    // the budget `RetryBudgetRegistry.withBudget` provides around this retry, if any
    const budget = fiber.getRef(CurrentBudget)
    const clock = fiber.getRef(Clock.Clock)
    const step = makePolicyRun(service.policyFor, budget, () => monotonicMillis(clock))
    return Effect.succeed((now: number, error: unknown) => {
      // the tokens rule counts every failed attempt (the final success is counted by withBudget)
      budget?.recordUnsafe(true)
      return step(now, error).pipe(
        Effect.tap(([decision, delay]) => {
          failed(error, now, decision.total, false)
          return logRetry(logger, error, decision, delay)
        }),
        Pull.catchDone((done) => {
          const decision = done as RetryDecision
          failed(error, now, decision.total, true, decision.suppressed)
          if (decision.suppressed === undefined) return Cause.done(decision)
          if (observer.active) {
            observer.emit({
              _tag: "RetrySuppressed",
              operation: undefined,
              budget: decision.budget,
              reason: decision.suppressed
            })
          }
          return Effect.andThen(logSuppressed(logger, error, decision), Cause.done(decision))
        })
      )
    })
  })
) as Schedule.Schedule<RetryDecision, unknown, never, PolicyService>

/**
 * What {@link retry} outputs for each failure it decides on: the error's tag, how many failures of that tag
 * (`attempt`) and of any tag (`total`) the run has seen, and the policy that decided.
 *
 * @since 0.1.0
 * @category models
 */
export type RetryDecision = Decision

/**
 * Options of {@link make}: the default policy and the per-type ones, each a built `Policy` or a plain config.
 *
 * - `policies` is either a list of `Policy.forFamily(Family, policy)` (typed, and registers the families) and
 *   `Policy.forTag(tag, policy)` entries, or a record keyed by error tag (convenient for config files).
 * - A policy keyed by a tag must be for a declared family: a common one (`CommonErrors`), a refusal
 *   (`BreakerOpenError`, `BulkheadFullError`, `RateLimitedError`), one listed in `errors` or one bound with
 *   `Policy.forFamily`. Any other tag is refused (a misspelt tag would never
 *   apply), unless it is given with `Policy.forTag(tag, policy, { undeclared: true })`, or listed in
 *   `undeclaredTags` (the form a config file can say), for an error type that is not a declared family.
 * - `errors`: the families declared besides the common ones and those bound with `Policy.forFamily`
 *   (`ErrorLayer` passes its own `errors`).
 * - Without `default`, the default policy is `{ maxAttempts: 3, baseDelay: "100 millis", factor: 2 }`.
 * - Unknown keys are refused, with the nearest known name.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors, Policy, type PolicyService } from "@effect-resilience/core"
 *
 * const options: PolicyService.Options = {
 *   default: { maxAttempts: 2 },
 *   policies: [Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 5 })]
 * }
 * ```
 *
 * @since 0.1.0
 * @category options
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
