/**
 * Hot reload of the rules: the retry policies and the settings of the bulkheads, circuit breakers, rate limiters
 * and retry budgets change while the program runs, from a call ({@link ConfigReload.reload}), a JSON or YAML file
 * watched through effect's `FileSystem.watch` ({@link fromFile}), or an effect `Config` polled on a `Schedule`
 * ({@link fromConfig}).
 *
 * - Each candidate is decoded and validated whole, by the same checks as the layer's options, before anything
 *   changes. A valid one is swapped in at once, every section together; an invalid one changes nothing (not even
 *   its valid sections), is reported with every problem and its path (`policies.StorageError.maxAttempts: ...`,
 *   `breakers.breakers.db.openDuration: ...`), and the sources keep watching.
 * - A read that fails, dies or takes longer than `readTimeout` (10 seconds; {@link layerWith}) is a rejected reload
 *   too, so one source that hangs never holds the reloads after it. Should a swap fail part way (a defect), the
 *   sections it had swapped are given back the rules in force and the reload is rejected. What the swapped
 *   sections did meanwhile stays: a bulkhead newly named stays built, places a higher limit handed to waiters stay
 *   taken, counts a reset cleared stay cleared.
 * - A candidate is the whole set of reloadable rules: a section it leaves out (`bulkheads`, say) is the one the
 *   layer was built with, so the rules in force never depend on the order of past reloads.
 * - A protected call keeps the policies that were in force as it started; the calls that start after a reload
 *   follow the new ones.
 * - Bulkhead limits change in place: the calls in flight keep their places, a lower limit admits no new call
 *   until the calls in flight are under it, and a bulkhead whose name survives keeps its state (see
 *   `BulkheadRegistry.BulkheadChange` for what starts empty or is reset, and why).
 * - Breakers, rate limiters and budgets take their new settings in place too, and one whose name survives keeps
 *   its state when the new settings are compatible: a breaker its status, trip counts, openings and the deadline
 *   of an opening in progress (a new threshold applies from the next call, a new `openDuration` from the next
 *   opening); its counts start again (its status stays) when its trip rules change kind, number or window, and
 *   the change says why (`BreakerRegistry.BreakerChange`). A limiter keeps its keys' counts under the same
 *   algorithm and window, a budget its counts under the same kind (see `RateLimiterRegistry.LimiterChange` and
 *   `RetryBudgetRegistry.BudgetChange`). A breaker or limiter shared through a `RedisBreakerStore` keeps its
 *   sharing as built: the settings its replicas agree on stay, and its change says so.
 * - Every outcome is a {@link ReloadEvent} (on {@link ConfigReload.events}), a log line, and the metrics
 *   `resilience_config_reloads_total{result}` (`applied` | `rejected`) and `resilience_config_generation`.
 *
 * **Gotchas**
 *
 * - `defaultPolicy`, `policies`, `undeclaredTags`, `bulkheads`, `breakers`, `rateLimiters` and `budgets` are
 *   reloadable; the other `ErrorLayer` options (the tracker, the error families, the log format, the durations,
 *   the live view) are refused by name. Error families are code: a reloaded policy names a tag of a family the
 *   layer declared (or one in `undeclaredTags`).
 * - The service changes the `PolicyService` and `BulkheadRegistry` of the context it is built in, and its
 *   `BreakerRegistry`, `RateLimiterRegistry` and `RetryBudgetRegistry` when there are: provide it with
 *   `ErrorLayer` (or their own layers) below it. A section whose registry is not in the context is refused.
 *
 * @since 0.6.0
 */
import type { Config, Scope } from "effect"
import {
  Clock,
  Context,
  Duration,
  Effect,
  FileSystem,
  Layer,
  Option,
  PubSub,
  Queue,
  Result,
  Schedule,
  Schema,
  Semaphore,
  Stream
} from "effect"
import * as BreakerRegistry from "./BreakerRegistry.js"
import * as BulkheadRegistry from "./BulkheadRegistry.js"
import * as ConfigError from "./ConfigError.js"
import type * as ErrorFamily from "./ErrorFamily.js"
import { addCounterSource, addGaugeSource } from "./internal/metricSeries.js"
import { reconfigurableOf, sameOptions } from "./internal/reloadable.js"
import { positiveDuration, positiveMillis } from "./internal/durations.js"
import { isRecord, objectOf, show, unknownKeyMessage } from "./internal/unknownKeys.js"
import type * as Policy from "./Policy.js"
import * as PolicyService from "./PolicyService.js"
import * as RateLimiterRegistry from "./RateLimiterRegistry.js"
import * as RetryBudgetRegistry from "./RetryBudgetRegistry.js"

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * The reloadable rules, under the names `ErrorLayer`'s options give them: a JSON file holds this object.
 *
 * - `defaultPolicy`, `policies` (a record by error tag, or `Policy.forFamily` / `Policy.forTag` entries from
 *   code) and `undeclaredTags`: see `PolicyService.Options`.
 * - `bulkheads`: see `BulkheadRegistry.Options` (`default`, `bulkheads`, `operations`).
 * - `breakers`: see `BreakerRegistry.Options` (`default`, `breakers`, `operations`).
 * - `rateLimiters`: see `RateLimiterRegistry.Options` (`default`, `limiters`).
 * - `budgets`: see `RetryBudgetRegistry.Options` (`default`, `budgets`, `operations`).
 *
 * A section left out is the one the layer was built with.
 *
 * **Example**
 *
 * ```ts
 * import { type ConfigReload, TripRule } from "@effect-resilience/core"
 *
 * const rules: ConfigReload.Rules = {
 *   defaultPolicy: { maxAttempts: 2, baseDelay: "50 millis" },
 *   policies: { StorageError: { maxAttempts: 5, baseDelay: "100 millis" } },
 *   bulkheads: { bulkheads: { search: { limit: 8, queue: 20 } } },
 *   breakers: { breakers: { payments: { trip: TripRule.consecutive(5), openDuration: "30 seconds" } } },
 *   rateLimiters: { limiters: { api: { limit: 100, window: "1 second" } } },
 *   budgets: { budgets: { payments: { percent: 0.1 } } }
 * }
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Rules {
  readonly defaultPolicy?: PolicyService.Options["default"]
  readonly policies?: PolicyService.Options["policies"]
  readonly undeclaredTags?: PolicyService.Options["undeclaredTags"]
  readonly bulkheads?: BulkheadRegistry.Options | undefined
  readonly breakers?: BreakerRegistry.Options | undefined
  readonly budgets?: RetryBudgetRegistry.Options | undefined
  readonly rateLimiters?: RateLimiterRegistry.Options | undefined
}

/**
 * Where a candidate came from: a call, a watched file, or a polled `Config`.
 *
 * **Example**
 *
 * ```ts
 * import type { ConfigReload } from "@effect-resilience/core"
 *
 * const describe = (source: ConfigReload.Source): string => source._tag === "File" ? source.path : source._tag
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export type Source =
  | { readonly _tag: "Call" }
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "Config" }

/**
 * What an applied reload changed: the policies by error tag (`default` when the default policy changed); the
 * bulkheads, breakers, budgets and rate limiters (those unchanged are not listed), each with what became of its
 * state (`kept`, `new`, or `reset` with its reason); and the operations that now map to another bulkhead
 * (`operations`), breaker (`breakerOperations`) or budget (`budgetOperations`).
 *
 * **Example**
 *
 * ```ts
 * import type { ConfigReload } from "@effect-resilience/core"
 *
 * const resets = (changes: ConfigReload.Changes) =>
 *   [...changes.bulkheads, ...changes.breakers, ...changes.limiters, ...changes.budgets].filter((c) => c.state === "reset")
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Changes {
  readonly policies: {
    readonly default: boolean
    readonly added: ReadonlyArray<string>
    readonly updated: ReadonlyArray<string>
    readonly removed: ReadonlyArray<string>
  }
  readonly bulkheads: ReadonlyArray<BulkheadRegistry.BulkheadChange>
  readonly operations: ReadonlyArray<string>
  readonly breakers: ReadonlyArray<BreakerRegistry.BreakerChange>
  readonly breakerOperations: ReadonlyArray<string>
  readonly budgets: ReadonlyArray<RetryBudgetRegistry.BudgetChange>
  readonly budgetOperations: ReadonlyArray<string>
  readonly limiters: ReadonlyArray<RateLimiterRegistry.LimiterChange>
}

/**
 * A candidate that was applied: the new generation (the layer's own rules are generation 0), where it came from,
 * when (`timestamp`, `Clock` milliseconds) and what changed.
 *
 * **Example**
 *
 * ```ts
 * import type { ConfigReload } from "@effect-resilience/core"
 *
 * const line = (event: ConfigReload.ReloadApplied) => `generation ${event.generation}: ${event.changes.bulkheads.length} bulkheads`
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface ReloadApplied {
  readonly _tag: "ReloadApplied"
  readonly generation: number
  readonly source: Source
  readonly timestamp: number
  readonly changes: Changes
}

/**
 * A candidate that was refused: every problem with its path (from the candidate's root), and the generation that
 * stays in force. A file that cannot be read or is not JSON (or YAML), a read that died or took longer than
 * `readTimeout`, are refused too (one issue at the root).
 *
 * **Example**
 *
 * ```ts
 * import { ConfigError, type ConfigReload } from "@effect-resilience/core"
 *
 * const lines = (event: ConfigReload.ReloadRejected) => event.issues.map(ConfigError.format)
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface ReloadRejected {
  readonly _tag: "ReloadRejected"
  readonly generation: number
  readonly source: Source
  readonly timestamp: number
  readonly issues: ReadonlyArray<ConfigError.Issue>
}

/**
 * The outcome of one reload.
 *
 * **Example**
 *
 * ```ts
 * import type { ConfigReload } from "@effect-resilience/core"
 *
 * const applied = (event: ConfigReload.ReloadEvent) => event._tag === "ReloadApplied"
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export type ReloadEvent = ReloadApplied | ReloadRejected

/**
 * The rules in force and the last change, for an ops route: the generation, the rules (each section from the last
 * applied candidate, or from the layer's options), the last applied reload and the last outcome of any kind.
 *
 * **Example**
 *
 * ```ts
 * import type { ConfigReload } from "@effect-resilience/core"
 *
 * const rejectedSinceApplied = (status: ConfigReload.Status) => status.lastEvent?._tag === "ReloadRejected"
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Status {
  readonly generation: number
  readonly rules: Rules
  readonly lastApplied: ReloadApplied | undefined
  readonly lastEvent: ReloadEvent | undefined
}

/**
 * The reload service.
 *
 * - `reload(candidate)` checks a candidate and applies it, or fails with the `ConfigError` listing every problem
 *   (the rules in force then stay).
 * - `reloadFrom(source, candidate)` does the same for a candidate read by an effect (a file, a `Config`, a remote
 *   store): the read runs in turn with the other reloads, and its failure is a rejected reload.
 * - `status` reads the rules in force and the last change.
 * - `readTimeout` is how long one read may take (see {@link Options}); the sources bound their reads by it.
 * - `events` is every outcome from the moment it is run; `subscribe` takes a subscription at once (nothing
 *   published after it returns is missed).
 *
 * Reloads run one at a time, in the order they are asked for: of rapid successive ones, the last valid one wins.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, PubSub } from "effect"
 * import { ConfigReload } from "@effect-resilience/core"
 *
 * const lowerAndSee = Effect.gen(function*() {
 *   const reloader = yield* ConfigReload.ConfigReload
 *   const subscription = yield* reloader.subscribe
 *   yield* reloader.reload({ bulkheads: { default: { limit: 10 } } }).pipe(Effect.ignore)
 *   return yield* PubSub.take(subscription) // ReloadApplied, or ReloadRejected with its issues
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface ConfigReload {
  readonly reload: (candidate: unknown) => Effect.Effect<ReloadApplied, ConfigError.ConfigError>
  readonly reloadFrom: (
    source: Source,
    candidate: Effect.Effect<unknown, ConfigError.ConfigError>
  ) => Effect.Effect<ReloadApplied, ConfigError.ConfigError>
  readonly status: Effect.Effect<Status>
  readonly events: Stream.Stream<ReloadEvent>
  readonly subscribe: Effect.Effect<PubSub.Subscription<ReloadEvent>, never, Scope.Scope>
  readonly readTimeout: Duration.Duration
}

/**
 * The reload service. {@link layer} provides it, over the `PolicyService` and `BulkheadRegistry` it changes.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ConfigReload } from "@effect-resilience/core"
 *
 * const generation = ConfigReload.ConfigReload.use((reloader) => Effect.map(reloader.status, (s) => s.generation))
 * ```
 *
 * @since 0.6.0
 * @category services
 */
export const ConfigReload: Context.Service<ConfigReload, ConfigReload> = Context.Service<ConfigReload>(
  "@effect-resilience/core/ConfigReload"
)

// ---------------------------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------------------------

const reloadableKeys = [
  "defaultPolicy",
  "policies",
  "undeclaredTags",
  "bulkheads",
  "breakers",
  "rateLimiters",
  "budgets"
] as const
const policyKeys = ["defaultPolicy", "policies", "undeclaredTags"] as const
// ErrorLayer's options that are set at build only
const fixedKeys: ReadonlyArray<string> = [
  "errors",
  "logFormat",
  "tracker",
  "durations",
  "live"
]

const module = "effect-resilience/reload"

/**
 * Options of {@link makeWith} and {@link layerWith}.
 *
 * - `readTimeout`: how long one candidate's read (a file, a `Config`, the effect given to `reloadFrom`) may take.
 *   Reloads run one at a time, so a read that hangs (a remote store that never answers) would hold every reload
 *   after it: one that takes longer is interrupted and is a rejected reload. Default `10 seconds`.
 *
 * Unknown keys are refused, with the nearest known name.
 *
 * **Example**
 *
 * ```ts
 * import type { ConfigReload } from "@effect-resilience/core"
 *
 * const options: ConfigReload.Options = { readTimeout: "2 seconds" }
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Options {
  readonly readTimeout?: Duration.Input | undefined
}

const OptionsSchema = objectOf(Schema.Struct({ readTimeout: Schema.optional(positiveDuration("10 seconds")) }))
const decodeOptions = Schema.decodeUnknownEffect(OptionsSchema)

// the options, checked whole (unknown keys named), as milliseconds
const optionsOf = (options: Options): Effect.Effect<{ readonly readTimeoutMillis: number }, ConfigError.ConfigError> =>
  decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })),
    Effect.map((o) => ({ readTimeoutMillis: positiveMillis(o.readTimeout ?? 10_000)! }))
  )

/**
 * Builds the service over the `PolicyService` and `BulkheadRegistry` of the context (and its `BreakerRegistry`,
 * `RateLimiterRegistry` and `RetryBudgetRegistry`, when there are), and exports its metrics into the context's
 * `MetricRegistry` (removed when the scope closes).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ConfigReload, ErrorLayer } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const reloader = yield* ConfigReload.make
 *   const applied = yield* reloader.reload({ policies: { StorageError: { maxAttempts: 5 } } })
 *   return applied.generation // 1
 * }).pipe(Effect.scoped, Effect.provide(ErrorLayer.layer({ logFormat: false })))
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const make: Effect.Effect<
  ConfigReload,
  never,
  PolicyService.PolicyService | BulkheadRegistry.BulkheadRegistry | Scope.Scope
> = Effect.suspend(() => build({ readTimeoutMillis: 10_000 }))

/**
 * As {@link make}, with {@link Options}; options that are not valid fail with a `ConfigError` naming each one.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ConfigReload, ErrorLayer } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const reloader = yield* ConfigReload.makeWith({ readTimeout: "2 seconds" })
 *   return yield* reloader.status
 * }).pipe(Effect.scoped, Effect.provide(ErrorLayer.layer({ logFormat: false })))
 * ```
 *
 * @since 0.6.0
 * @category constructors
 */
export const makeWith = (options: Options): Effect.Effect<
  ConfigReload,
  ConfigError.ConfigError,
  PolicyService.PolicyService | BulkheadRegistry.BulkheadRegistry | Scope.Scope
> => Effect.flatMap(optionsOf(options), build)

const build = (settings: { readonly readTimeoutMillis: number }) => Effect.gen(function*() {
  const policyService = yield* PolicyService.PolicyService
  const registry = yield* BulkheadRegistry.BulkheadRegistry
  const policies = reconfigurableOf<PolicyService.Options, void>(policyService)
  const bulkheads = reconfigurableOf<BulkheadRegistry.Options, BulkheadRegistry.Reconfigured>(registry)
  // (optional services: a context without them reloads the rest, and refuses their sections)
  const breakers = reconfigurableOf<BreakerRegistry.Options, BreakerRegistry.Reconfigured>(
    Option.getOrUndefined(yield* Effect.serviceOption(BreakerRegistry.BreakerRegistry))
  )
  const budgets = reconfigurableOf<RetryBudgetRegistry.Options, RetryBudgetRegistry.Reconfigured>(
    Option.getOrUndefined(yield* Effect.serviceOption(RetryBudgetRegistry.RetryBudgetRegistry))
  )
  const limiters = reconfigurableOf<RateLimiterRegistry.Options, ReadonlyArray<RateLimiterRegistry.LimiterChange>>(
    Option.getOrUndefined(yield* Effect.serviceOption(RateLimiterRegistry.RateLimiterRegistry))
  )
  // the families the layer declared, also those bound in code with `Policy.forFamily`: a reloaded policy may name
  // their tags even when the candidate binds its policies by tag
  const declared: ReadonlyArray<ErrorFamily.Any> = [...(policies?.base.errors ?? []), ...policyService.families]
  const baseRules: Rules = {
    ...(policies === undefined ? {} : {
      defaultPolicy: policies.base.default,
      policies: policies.base.policies,
      undeclaredTags: policies.base.undeclaredTags
    }),
    ...(bulkheads === undefined ? {} : { bulkheads: bulkheads.base }),
    ...(breakers === undefined ? {} : { breakers: breakers.base }),
    ...(budgets === undefined ? {} : { budgets: budgets.base }),
    ...(limiters === undefined ? {} : { rateLimiters: limiters.base })
  }

  let generation = 0
  let rules = baseRules
  let lastApplied: ReloadApplied | undefined
  let lastEvent: ReloadEvent | undefined
  let applied = 0
  let rejected = 0

  const hub = yield* PubSub.sliding<ReloadEvent>(256)
  yield* Effect.addFinalizer(() => PubSub.shutdown(hub))
  const context = yield* Effect.context<never>()
  const removals = [
    addCounterSource(context, "resilience_config_reloads_total", "Reloads of the rules, by outcome", {
      result: "applied"
    }, () => applied),
    addCounterSource(context, "resilience_config_reloads_total", "Reloads of the rules, by outcome", {
      result: "rejected"
    }, () => rejected),
    // (two reloaders sharing a registry: the highest generation, as a sum of generations means nothing)
    addGaugeSource(
      context,
      "resilience_config_generation",
      "The generation of the rules in force (0: the layer's)",
      {},
      () => generation,
      "max"
    )
  ]
  yield* Effect.addFinalizer(() => Effect.sync(() => removals.forEach((remove) => remove())))

  const lock = yield* Semaphore.make(1)

  const reject = (source: Source, error: ConfigError.ConfigError) =>
    Effect.gen(function*() {
      const event: ReloadRejected = {
        _tag: "ReloadRejected",
        generation,
        source,
        timestamp: yield* Clock.currentTimeMillis,
        issues: error.issues
      }
      rejected++
      lastEvent = event
      yield* PubSub.publish(hub, event)
      yield* Effect.logWarning(`Reload refused, generation ${generation} stays in force: ${error.message}`).pipe(
        Effect.annotateLogs({ module, source: sourceName(source) })
      )
      return yield* error
    })

  const check = (candidate: unknown) =>
    Effect.gen(function*() {
      const issues: Array<ConfigError.Issue> = []
      if (!isRecord(candidate)) {
        return yield* new ConfigError.ConfigError({
          issues: [{ path: [], message: `Expected an object of rules, got ${show(candidate)}` }]
        })
      }
      const given = candidate as Record<string, unknown>
      for (const key of Object.keys(given)) {
        if ((reloadableKeys as ReadonlyArray<string>).includes(key)) {
          // a null section (a template left empty) is not "the layer's own", nor an empty one: refused
          if (given[key] === null) {
            issues.push({ path: [key], message: "Expected a section, got null (leave the key out for the layer's own)" })
          }
          continue
        }
        issues.push({
          path: [key],
          message: fixedKeys.includes(key)
            ? `Not reloadable: ${JSON.stringify(key)} is set when the layer is built (reloadable: ${
              reloadableKeys.join(", ")
            })`
            : unknownKeyMessage(key, reloadableKeys)
        })
      }
      const next = candidate as Rules
      const has = (key: keyof Rules) => next[key] !== undefined
      const gather = <A>(effect: Effect.Effect<A, ConfigError.ConfigError>, path: (e: ConfigError.ConfigError) => ConfigError.ConfigError) =>
        Effect.catch(effect, (error) => {
          issues.push(...path(error).issues)
          return Effect.succeed(undefined)
        })
      const unsupported = (key: string, service: string) =>
        issues.push({
          path: [key],
          message: `The ${service} in the context cannot be reloaded (build it with ErrorLayer, or its own make or layer)`
        })
      const effective: Rules = {
        defaultPolicy: has("defaultPolicy") ? next.defaultPolicy : baseRules.defaultPolicy,
        policies: has("policies") ? next.policies : baseRules.policies,
        undeclaredTags: has("undeclaredTags") ? next.undeclaredTags : baseRules.undeclaredTags,
        bulkheads: has("bulkheads") ? next.bulkheads : baseRules.bulkheads,
        breakers: has("breakers") ? next.breakers : baseRules.breakers,
        budgets: has("budgets") ? next.budgets : baseRules.budgets,
        rateLimiters: has("rateLimiters") ? next.rateLimiters : baseRules.rateLimiters
      }
      // a new policy set on every reload, even when the policies are the same: the protect pipelines are rebuilt
      // on their next call, and so look up again the strategies their operations map to
      let swapPolicies: (() => void) | undefined
      if (policies !== undefined) {
        swapPolicies = yield* gather(
          policies.prepare({
            default: effective.defaultPolicy,
            policies: effective.policies,
            undeclaredTags: effective.undeclaredTags,
            errors: declared
          }),
          policyPaths
        )
      } else {
        for (const key of policyKeys) if (has(key)) unsupported(key, "PolicyService")
      }
      let swapBulkheads: (() => BulkheadRegistry.Reconfigured) | undefined
      if (bulkheads !== undefined) {
        swapBulkheads = yield* gather(
          bulkheads.prepare(effective.bulkheads ?? {}),
          (error) => ConfigError.under(error, ["bulkheads"])
        )
      } else if (has("bulkheads")) unsupported("bulkheads", "BulkheadRegistry")
      let swapBreakers: (() => BreakerRegistry.Reconfigured) | undefined
      if (breakers !== undefined) {
        swapBreakers = yield* gather(
          breakers.prepare(effective.breakers ?? {}),
          (error) => ConfigError.under(error, ["breakers"])
        )
      } else if (has("breakers")) unsupported("breakers", "BreakerRegistry")
      let swapBudgets: (() => RetryBudgetRegistry.Reconfigured) | undefined
      if (budgets !== undefined) {
        swapBudgets = yield* gather(
          budgets.prepare(effective.budgets ?? {}),
          (error) => ConfigError.under(error, ["budgets"])
        )
      } else if (has("budgets")) unsupported("budgets", "RetryBudgetRegistry")
      let swapLimiters: (() => ReadonlyArray<RateLimiterRegistry.LimiterChange>) | undefined
      if (limiters !== undefined) {
        swapLimiters = yield* gather(
          limiters.prepare(effective.rateLimiters ?? {}),
          (error) => ConfigError.under(error, ["rateLimiters"])
        )
      } else if (has("rateLimiters")) unsupported("rateLimiters", "RateLimiterRegistry")
      if (issues.length > 0) return yield* new ConfigError.ConfigError({ issues })
      // the way back, should a swap fail part way (a defect): the rules in force, prepared again (they passed these
      // checks when they were applied; one that does not now has no way back)
      const undo = (prepare: Effect.Effect<() => unknown, ConfigError.ConfigError> | undefined) =>
        prepare === undefined ? Effect.undefined : Effect.orElseSucceed(prepare, () => undefined)
      const swaps: ReadonlyArray<Swap> = [
        {
          apply: swapPolicies,
          undo: yield* undo(policies?.prepare({
            default: rules.defaultPolicy,
            policies: rules.policies,
            undeclaredTags: rules.undeclaredTags,
            errors: declared
          }))
        },
        { apply: swapBulkheads, undo: yield* undo(bulkheads?.prepare(rules.bulkheads ?? {})) },
        { apply: swapBreakers, undo: yield* undo(breakers?.prepare(rules.breakers ?? {})) },
        { apply: swapBudgets, undo: yield* undo(budgets?.prepare(rules.budgets ?? {})) },
        { apply: swapLimiters, undo: yield* undo(limiters?.prepare(rules.rateLimiters ?? {})) }
      ]
      return { effective, swaps }
    })

  // the swaps, in order; should one throw, those applied (and the one that threw) are undone, last first
  const swapAll = (swaps: ReadonlyArray<Swap>): ReadonlyArray<unknown> | ConfigError.ConfigError => {
    const results: Array<unknown> = []
    for (let i = 0; i < swaps.length; i++) {
      try {
        results.push(swaps[i]!.apply?.())
      } catch (defect) {
        const unrestored: Array<number> = []
        for (let j = i; j >= 0; j--) {
          try {
            swaps[j]!.undo?.()
            if (swaps[j]!.apply !== undefined && swaps[j]!.undo === undefined) unrestored.push(j)
          } catch {
            unrestored.push(j)
          }
        }
        const sections = ["policies", "bulkheads", "breakers", "budgets", "rateLimiters"]
        return new ConfigError.ConfigError({
          issues: [{
            path: [sections[i]!],
            message: `Applying the rules failed (${defectMessage(defect)}): ${
              unrestored.length === 0
                ? "the rules in force were restored"
                : `the rules in force were restored, except ${unrestored.map((j) => sections[j]).join(", ")}`
            }`
          }]
        })
      }
    }
    return results
  }

  // a read bounded by `readTimeout`, and a read or check that dies: rejected reloads, like an invalid candidate
  const readTimeout = Duration.millis(settings.readTimeoutMillis)
  const readAndCheck = (candidate: Effect.Effect<unknown, ConfigError.ConfigError>) =>
    candidate.pipe(
      Effect.timeoutOrElse({
        duration: readTimeout,
        orElse: () =>
          Effect.fail(
            new ConfigError.ConfigError({
              issues: [{ path: [], message: `Reading the candidate took longer than ${Duration.format(readTimeout)}` }]
            })
          )
      }),
      Effect.flatMap(check),
      Effect.catchDefect((defect) =>
        Effect.fail(
          new ConfigError.ConfigError({
            issues: [{ path: [], message: `Reading or checking the candidate failed: ${defectMessage(defect)}` }]
          })
        )
      )
    )

  const submit = (source: Source, candidate: Effect.Effect<unknown, ConfigError.ConfigError>) =>
    Effect.gen(function*() {
      const read = yield* Effect.result(readAndCheck(candidate))
      if (Result.isFailure(read)) return yield* reject(source, read.failure)
      const { effective, swaps } = read.success
      const timestamp = yield* Clock.currentTimeMillis
      // the swap: synchronous, every section together, and with its bookkeeping and event not interruptible (an
      // interruption after the swap would leave the rules changed with no event, status or log of it)
      const event = yield* Effect.uninterruptible(Effect.gen(function*() {
        const before = rules
        const swapped = swapAll(swaps)
        if (swapped instanceof ConfigError.ConfigError) return yield* reject(source, swapped)
        const reconfigured = (swapped[1] as BulkheadRegistry.Reconfigured | undefined) ?? { bulkheads: [], operations: [] }
        const breakersChanged = (swapped[2] as BreakerRegistry.Reconfigured | undefined) ?? { breakers: [], operations: [] }
        const budgetsChanged = (swapped[3] as RetryBudgetRegistry.Reconfigured | undefined) ?? { budgets: [], operations: [] }
        const limitersChanged = (swapped[4] as ReadonlyArray<RateLimiterRegistry.LimiterChange> | undefined) ?? []
        generation++
        applied++
        rules = effective
        const event: ReloadApplied = {
          _tag: "ReloadApplied",
          generation,
          source,
          timestamp,
          changes: {
            policies: policyChanges(before, effective),
            ...reconfigured,
            breakers: breakersChanged.breakers,
            breakerOperations: breakersChanged.operations,
            budgets: budgetsChanged.budgets,
            budgetOperations: budgetsChanged.operations,
            limiters: limitersChanged
          }
        }
        lastApplied = event
        lastEvent = event
        yield* PubSub.publish(hub, event)
        yield* Effect.logInfo(`Rules reloaded: generation ${generation} in force`).pipe(
          Effect.annotateLogs({ module, source: sourceName(source), generation })
        )
        return event
      }))
      return event
    }).pipe(Semaphore.withPermit(lock))

  return ConfigReload.of({
    reload: (candidate) => submit({ _tag: "Call" }, Effect.succeed(candidate)),
    reloadFrom: submit,
    status: Effect.sync(() => ({ generation, rules, lastApplied, lastEvent })),
    events: Stream.fromPubSub(hub),
    subscribe: PubSub.subscribe(hub),
    readTimeout
  })
})

const defectMessage = (defect: unknown): string => defect instanceof Error ? defect.message : show(defect)

// one section's swap, and the swap back to the rules in force (when they could be prepared again)
interface Swap {
  readonly apply: (() => unknown) | undefined
  readonly undo: (() => unknown) | undefined
}

// PolicyService's `default` is the rules' `defaultPolicy`; the families are the layer's (never the candidate's)
const policyPaths = (error: ConfigError.ConfigError): ConfigError.ConfigError =>
  new ConfigError.ConfigError({
    issues: error.issues.map((issue) =>
      issue.path[0] === "default" ? { path: ["defaultPolicy", ...issue.path.slice(1)], message: issue.message } : issue
    )
  })

const sourceName = (source: Source): string => source._tag === "File" ? `file:${source.path}` : source._tag.toLowerCase()

// the policies of some rules by error tag, each with what it was given as
const policiesByTag = (given: Rules["policies"]): ReadonlyMap<string, unknown> => {
  const byTag = new Map<string, unknown>()
  if (Array.isArray(given)) {
    for (const entry of given as ReadonlyArray<Policy.ForFamily | Policy.ForTag>) {
      if ("family" in entry) byTag.set(entry.family.family.tag, entry.policy)
      else byTag.set(entry.tag, entry.policy)
    }
  } else if (isRecord(given)) {
    for (const [tag, input] of Object.entries(given)) byTag.set(tag, input)
  }
  return byTag
}

const policyChanges = (before: Rules, after: Rules): Changes["policies"] => {
  const old = policiesByTag(before.policies)
  const next = policiesByTag(after.policies)
  const sorted = (tags: Iterable<string>) => [...tags].sort()
  return {
    default: !sameOptions(before.defaultPolicy, after.defaultPolicy),
    added: sorted([...next.keys()].filter((tag) => !old.has(tag))),
    updated: sorted([...next.keys()].filter((tag) => old.has(tag) && !sameOptions(old.get(tag), next.get(tag)))),
    removed: sorted([...old.keys()].filter((tag) => !next.has(tag)))
  }
}

/**
 * A layer providing the service (reloads by call), over the `PolicyService` and `BulkheadRegistry` it changes (and
 * the breaker, rate limiter and budget registries of its context, when there are).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ConfigReload, ErrorLayer } from "@effect-resilience/core"
 *
 * const Rules = ConfigReload.layer.pipe(Layer.provideMerge(ErrorLayer.layer({ bulkheads: { bulkheads: { search: { limit: 8 } } } })))
 *
 * const lower = ConfigReload.ConfigReload.use((reloader) =>
 *   reloader.reload({ bulkheads: { bulkheads: { search: { limit: 4 } } } })
 * ).pipe(Effect.provide(Rules))
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const layer: Layer.Layer<
  ConfigReload,
  never,
  PolicyService.PolicyService | BulkheadRegistry.BulkheadRegistry
> = Layer.effect(ConfigReload, make)

/**
 * As {@link layer}, with {@link Options}; options that are not valid fail the layer with a `ConfigError` naming
 * each one.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { ConfigReload, ErrorLayer } from "@effect-resilience/core"
 *
 * const Rules = ConfigReload.layerWith({ readTimeout: "2 seconds" }).pipe(Layer.provideMerge(ErrorLayer.layer()))
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<
  ConfigReload,
  ConfigError.ConfigError,
  PolicyService.PolicyService | BulkheadRegistry.BulkheadRegistry
> => Layer.effect(ConfigReload, makeWith(options))

/**
 * Options of {@link fromFile}.
 *
 * - `format`: `"json"` or `"yaml"`; by default YAML for a path ending in `.yaml` or `.yml`, JSON otherwise.
 *   YAML is read with the `yaml` package (an optional peer dependency: `npm install yaml`), by the YAML 1.2 core
 *   schema, with duplicate keys refused; without the package a YAML file is a rejected reload saying so.
 * - `debounce`: how long the file must stay unchanged before it is read (editors write in several steps, and a
 *   burst of changes is read once); default `50 millis`.
 * - `rewatch`: how long to wait before watching again when the watch fails or ends (its directory removed);
 *   default `1 second`.
 *
 * Unknown keys and durations that are not positive are refused when the layer is built.
 *
 * **Example**
 *
 * ```ts
 * import type { ConfigReload } from "@effect-resilience/core"
 *
 * const options: ConfigReload.FileOptions = { format: "yaml", debounce: "200 millis", rewatch: "5 seconds" }
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface FileOptions {
  readonly format?: "json" | "yaml" | undefined
  readonly debounce?: Duration.Input | undefined
  readonly rewatch?: Duration.Input | undefined
}

const FileOptionsSchema = objectOf(Schema.Struct({
  format: Schema.optional(Schema.Literals(["json", "yaml"])),
  debounce: Schema.optional(positiveDuration("50 millis")),
  rewatch: Schema.optional(positiveDuration("1 second"))
}))
const decodeFileOptions = Schema.decodeUnknownEffect(FileOptionsSchema)

const directoryOf = (path: string): string => {
  const at = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"))
  return at < 0 ? "." : at === 0 ? path.slice(0, 1) : path.slice(0, at)
}

// a source's read that dies (a defect in a custom FileSystem or ConfigProvider) is logged, and the source goes on
const keepGoing = (what: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
  Effect.catchCause(Effect.asVoid(self), (cause) =>
    Effect.logError(`${what}; the rules in force stay`, cause).pipe(Effect.annotateLogs({ module })))

// a source's own read (a file, a Config), bounded by the service's `readTimeout`: its failure, its timeout or its
// defect as a message, so that each is a rejected reload, never a source that hangs or stops
const boundedRead = <A, E extends { readonly message: string }, R>(
  reloader: ConfigReload,
  read: Effect.Effect<A, E, R>
): Effect.Effect<Result.Result<A, string>, never, R> =>
  read.pipe(
    Effect.mapError((error) => error.message),
    Effect.timeoutOrElse({
      duration: reloader.readTimeout,
      orElse: () => Effect.fail(`the read took longer than ${Duration.format(reloader.readTimeout)}`)
    }),
    Effect.catchDefect((defect) => Effect.fail(`the read died: ${defectMessage(defect)}`)),
    Effect.result
  )

const parseJson = (text: string): Effect.Effect<unknown, ConfigError.ConfigError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) =>
      new ConfigError.ConfigError({
        issues: [{ path: [], message: `Invalid JSON: ${error instanceof Error ? error.message : String(error)}` }]
      })
  })

// The `yaml` package, imported on first use (an optional peer dependency: a program reading JSON never loads
// it). The specifier is a variable, so that a bundler leaves the import to run time rather than failing to
// resolve a package the program may not have installed.
const yamlSpecifier = "yaml"
let yamlModule: Promise<typeof import("yaml")> | undefined
const parseYaml = (text: string): Effect.Effect<unknown, ConfigError.ConfigError> =>
  Effect.tryPromise({
    try: () => (yamlModule ??= (import(yamlSpecifier) as Promise<typeof import("yaml")>).catch((error) => {
      yamlModule = undefined // installed later, it is found on the next read
      throw error
    })),
    catch: (error) =>
      new ConfigError.ConfigError({
        issues: [{
          path: [],
          message: (error as { readonly code?: unknown }).code === "ERR_MODULE_NOT_FOUND"
            ? "Reading YAML needs the yaml package: npm install yaml"
            : `Loading the yaml package failed: ${defectMessage(error)}`
        }]
      })
  }).pipe(Effect.flatMap((YAML) =>
    Effect.try({
      try: () => YAML.parse(text, { schema: "core", uniqueKeys: true }) as unknown,
      catch: (error) =>
        new ConfigError.ConfigError({
          // the first line (the message and where: "… at line 4, column 1"), not the excerpt drawn under it
          issues: [{
            path: [],
            message: `Invalid YAML: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]!.replace(/:$/, "")}`
          }]
        })
    })
  ))

/**
 * Reloads the rules from a JSON or YAML file (an object of {@link Rules}; see {@link FileOptions} for the
 * format): read once as the layer is built, then again after every change, through the `FileSystem` of the
 * context (`NodeFileSystem.layer` from `@effect/platform-node`, or any other platform's). The file's directory is
 * watched, so a file replaced by a rename (as editors save) or deleted and restored is seen. Content already
 * read is not reloaded again; once another source (a call, a `Config`) has changed the rules it gave, the next
 * save of the file (an event naming it, or its ConfigMap's `..data`) applies it again, even unchanged. A file that
 * is missing, unreadable (or takes longer than the service's `readTimeout`) or not valid JSON or YAML is a
 * rejected reload, and the rules in force stay. The watch lives as long as the layer; when it fails (its
 * directory removed) it starts again after `rewatch`.
 * Options that are not valid fail the layer with a `ConfigError` naming each one.
 *
 * **Example**
 *
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { ConfigReload, ErrorLayer } from "@effect-resilience/core"
 *
 * const Live = ConfigReload.fromFile("./resilience.json").pipe(
 *   Layer.provideMerge(ConfigReload.layer),
 *   Layer.provideMerge(ErrorLayer.layer()),
 *   Layer.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const fromFile = (
  path: string,
  options: FileOptions = {}
): Layer.Layer<never, ConfigError.ConfigError, ConfigReload | FileSystem.FileSystem> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const checked = yield* decodeFileOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
      Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) }))
    )
    const fs = yield* FileSystem.FileSystem
    const reloader = yield* ConfigReload
    const debounce = Duration.millis(positiveMillis(checked.debounce ?? 50)!)
    const rewatch = Duration.millis(positiveMillis(checked.rewatch ?? 1000)!)
    const parse = (checked.format ?? (/\.ya?ml$/i.test(path) ? "yaml" : "json")) === "yaml" ? parseYaml : parseJson
    const source: Source = { _tag: "File", path }
    // What the file held when it was last read (a missing or unreadable file as its error), and the generation
    // its rules gave when they were applied: content already read reloads nothing, unless it was applied, another
    // source has changed the rules since, and an event named the file itself (it was saved, or its ConfigMap's
    // `..data` swapped), as a write of another file in the directory says nothing about this one
    let last: string | undefined
    let appliedGeneration: number | undefined
    let named = false
    const fileName = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1)
    const names = (event: FileSystem.WatchEvent) => {
      const name = event.path.slice(Math.max(event.path.lastIndexOf("/"), event.path.lastIndexOf("\\")) + 1)
      return name === fileName || name.startsWith("..data")
    }
    const load = Effect.gen(function*() {
      const saved = named
      named = false
      const read = yield* boundedRead(reloader, fs.readFileString(path))
      const seen = Result.isSuccess(read) ? `text:${read.success}` : `error:${read.failure}`
      if (
        seen === last &&
        !(saved && appliedGeneration !== undefined && (yield* reloader.status).generation !== appliedGeneration)
      ) return
      last = seen
      const candidate = Result.isSuccess(read) ? parse(read.success) : Effect.fail(
        new ConfigError.ConfigError({ issues: [{ path: [], message: `Cannot read ${path}: ${read.failure}` }] })
      )
      const outcome = yield* Effect.result(reloader.reloadFrom(source, candidate))
      appliedGeneration = Result.isSuccess(outcome) ? outcome.success.generation : undefined
    }).pipe(keepGoing(`Reading ${path} failed`))
    yield* load
    // the changes of the file, and each watch's start (what changed before it was watching), read after a pause
    const triggers = yield* Queue.unbounded<void>()
    // any event of the directory reads the file again (its content decides): a Kubernetes ConfigMap mount swaps a
    // `..data` symlink, never touching the file's own name
    const watchOnce = fs.watch(directoryOf(path), { onReady: () => Queue.offerUnsafe(triggers, undefined) }).pipe(
      Stream.runForEach((event) => {
        if (names(event)) named = true
        return Queue.offer(triggers, undefined)
      }),
      Effect.catchCause((cause) =>
        Effect.logWarning(`Cannot watch ${path}, watching again in ${Duration.format(rewatch)}`, cause).pipe(
          Effect.annotateLogs({ module })
        )
      ),
      Effect.andThen(Effect.sleep(rewatch))
    )
    yield* Effect.forkScoped(Effect.forever(watchOnce))
    yield* Effect.forkScoped(Stream.fromQueue(triggers).pipe(Stream.debounce(debounce), Stream.runForEach(() => load)))
  }))

/**
 * Reloads the rules from an effect `Config` (the `ConfigProvider` of the context), read once as the layer is built
 * and then on `schedule` (`Schedule.spaced("30 seconds")`). A value that is a string is read as JSON (an
 * environment variable holding the rules); any other value is the candidate itself. A value equal to the last one
 * read reloads nothing, even after another source changed the rules (else each poll would undo a call's reload);
 * a `Config` that fails is a rejected reload, and the rules in force stay.
 *
 * **Example**
 *
 * ```ts
 * import { Config, Layer, Schedule } from "effect"
 * import { ConfigReload, ErrorLayer } from "@effect-resilience/core"
 *
 * const Live = ConfigReload.fromConfig(Config.String("RESILIENCE_RULES"), Schedule.spaced("30 seconds")).pipe(
 *   Layer.provideMerge(ConfigReload.layer),
 *   Layer.provideMerge(ErrorLayer.layer())
 * )
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const fromConfig = <A>(
  config: Config.Config<A>,
  schedule: Schedule.Schedule<unknown, unknown>
): Layer.Layer<never, never, ConfigReload> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const reloader = yield* ConfigReload
    const source: Source = { _tag: "Config" }
    let last: Result.Result<unknown, string> | undefined
    const poll = Effect.gen(function*() {
      const read = yield* boundedRead(reloader, config as Effect.Effect<A, Config.ConfigError>)
      const seen: Result.Result<unknown, string> = read
      if (
        last !== undefined && Result.isSuccess(last) === Result.isSuccess(seen) &&
        (Result.isSuccess(seen) ? sameOptions(Result.getOrThrow(last), seen.success) : Result.merge(last) === seen.failure)
      ) return
      last = seen
      const candidate = Result.isFailure(read)
        ? Effect.fail(new ConfigError.ConfigError({ issues: [{ path: [], message: `Config: ${read.failure}` }] }))
        : typeof read.success === "string"
        ? parseJson(read.success)
        : Effect.succeed(read.success)
      yield* Effect.ignore(reloader.reloadFrom(source, candidate))
    }).pipe(keepGoing("Reading the rules' Config failed"))
    yield* poll
    yield* Effect.forkScoped(Effect.schedule(poll, schedule))
  }))

/**
 * Checks a candidate against the rules of the service in the context and applies it, or fails with every problem
 * (the rules in force stay).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ConfigReload } from "@effect-resilience/core"
 *
 * const raise = ConfigReload.reload({ policies: { NetworkError: { maxAttempts: 6, baseDelay: "200 millis" } } }).pipe(
 *   Effect.catchTag("ConfigError", (error) => Effect.logWarning(error.message))
 * )
 * ```
 *
 * @since 0.6.0
 * @category accessors
 */
export const reload = (candidate: unknown): Effect.Effect<ReloadApplied, ConfigError.ConfigError, ConfigReload> =>
  ConfigReload.use((reloader) => reloader.reload(candidate))

/**
 * The rules in force and the last change.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ConfigReload } from "@effect-resilience/core"
 *
 * const generation = Effect.map(ConfigReload.status, (status) => status.generation)
 * ```
 *
 * @since 0.6.0
 * @category accessors
 */
export const status: Effect.Effect<Status, never, ConfigReload> = ConfigReload.use((reloader) => reloader.status)

/**
 * Every reload's outcome, from the moment the stream runs.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ConfigReload } from "@effect-resilience/core"
 *
 * const logRejections = ConfigReload.events.pipe(
 *   Stream.filter((event) => event._tag === "ReloadRejected"),
 *   Stream.runForEach((event) => Effect.logWarning(`${event.issues.length} problems`))
 * )
 * ```
 *
 * @since 0.6.0
 * @category accessors
 */
export const events: Stream.Stream<ReloadEvent, never, ConfigReload> = Stream.unwrap(
  ConfigReload.useSync((reloader) => reloader.events)
)
