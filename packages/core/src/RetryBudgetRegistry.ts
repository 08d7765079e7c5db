/**
 * The registry of named retry budgets (`RetryBudget`): one per dependency, shared by every call site naming it,
 * so that several operations calling one dependency spend one budget. `ErrorLayer` provides it (its `budgets`
 * option); {@link layer} provides it alone.
 *
 * **Details**
 *
 * - `protect({ operation, budget: "payments" })` deposits each call into the budget and withdraws each retry and
 *   each hedge from it; `budget: true` uses the budget the `operations` option maps the operation to (by default
 *   the one named after it).
 * - `Effect.retry(PolicyService.retry)` spends the budget {@link withBudget} provides around it.
 * - A name not configured gets the `default` budget's options (Finagle's defaults unless set).
 *
 * @since 0.4.0
 */
import type { Scope } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import { dual } from "effect/Function"
import * as ConfigError from "./ConfigError.js"
import { monotonicMillis } from "./internal/breaker/store.js"
import { type BudgetInternal, CurrentBudget, make as makeBudget } from "./internal/budget/budget.js"
import { type BudgetAdded, CurrentObserver } from "./internal/observation.js"
import * as Registry from "./internal/registry.js"
import { isRecord, objectOf } from "./internal/unknownKeys.js"
import * as RetryBudget from "./RetryBudget.js"

/**
 * The registry: budgets by name (made on first use, the configured ones at once), the budget of an operation,
 * and the figures of every budget made so far.
 *
 * @since 0.4.0
 * @category models
 */
export interface RetryBudgetRegistry {
  readonly budget: (name: string) => RetryBudget.RetryBudget
  readonly forOperation: (operation: string) => RetryBudget.RetryBudget
  readonly states: Effect.Effect<ReadonlyArray<RetryBudget.State>>
}

/**
 * The service holding the budgets.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const states = RetryBudgetRegistry.RetryBudgetRegistry.use((registry) => registry.states).pipe(
 *   Effect.provide(RetryBudgetRegistry.layer({ budgets: { payments: { percent: 0.1 } } }))
 * )
 * ```
 *
 * @since 0.4.0
 * @category services
 */
export const RetryBudgetRegistry: Context.Service<RetryBudgetRegistry, RetryBudgetRegistry> = Context.Service<
  RetryBudgetRegistry
>("@effect-resilience/core/RetryBudgetRegistry")

/**
 * Validates the options and builds the registry, in a scope (its budgets' figures are exported while it is open).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const registry = RetryBudgetRegistry.make({
 *   default: { percent: 0.2 },
 *   budgets: { payments: { kind: "tokens", maxTokens: 10, tokenRatio: 0.1 } },
 *   operations: { "payments.charge": "payments", "payments.refund": "payments" }
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.4.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<RetryBudgetRegistry, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const { configs, defaults, given } = yield* check(options)
    const observer = yield* CurrentObserver
    const clock = yield* Effect.clockWith(Effect.succeed)
    const budgets = new Map<string, BudgetInternal>()
    const added: Array<BudgetAdded> = []
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const event of added.splice(0)) observer.emit({ _tag: "BudgetRemoved", added: event })
      })
    )
    const budget = (name: string): BudgetInternal => {
      let found = budgets.get(name)
      if (found === undefined) {
        const made = makeBudget(name, configs.get(name) ?? defaults)
        found = made
        budgets.set(name, made)
        if (observer.active && !closed) {
          const event: BudgetAdded = {
            _tag: "BudgetAdded",
            name,
            state: () => made.stateUnsafe(monotonicMillis(clock))
          }
          added.push(event)
          observer.emit(event)
        }
      }
      return found
    }
    // the named budgets exist from the start, so their figures show before their first call
    for (const name of configs.keys()) budget(name)
    const operations = new Map(Object.entries(given.operations ?? {}))
    return {
      budget,
      forOperation: (operation) => budget(operations.get(operation) ?? operation),
      states: Effect.sync(() =>
        [...budgets.keys()].sort().map((name) => budgets.get(name)!.stateUnsafe(monotonicMillis(clock)))
      )
    } satisfies RetryBudgetRegistry
  })

// every config first: one error listing all problems, and nothing built from a partly valid set
const check = (options: Options) =>
  Effect.gen(function*() {
    const { configs, defaults, issues } = yield* Registry.check(
      options,
      decodeOptions,
      RetryBudget.validate,
      "budgets"
    )
    if (issues.length > 0 || defaults === undefined) return yield* new ConfigError.ConfigError({ issues })
    return { configs, defaults, given: (isRecord(options) ? options : {}) as Options }
  })

/**
 * Checks the options as {@link make} does, without building anything.
 *
 * **Example**
 *
 * ```ts
 * import { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * // fails: budgets.payments.percent must be a share between 0 and 10
 * const checked = RetryBudgetRegistry.validate({ budgets: { payments: { percent: -1 } } })
 * ```
 *
 * @since 0.4.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(check(options))

/**
 * The registry as a layer.
 *
 * **Example**
 *
 * ```ts
 * import { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const Budgets = RetryBudgetRegistry.layer({ budgets: { search: { percent: 0.1, minPerSecond: 5 } } })
 * ```
 *
 * @since 0.4.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<RetryBudgetRegistry, ConfigError.ConfigError> =>
  Layer.effect(RetryBudgetRegistry, make(options))

/**
 * Options of the registry: the `default` budget's options (for names not configured), the named `budgets`, and
 * `operations` mapping an operation to the budget `protect({ budget: true })` uses for it. Unknown keys are
 * refused, with the nearest known name.
 *
 * **Example**
 *
 * ```ts
 * import type { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const options: RetryBudgetRegistry.Options = {
 *   budgets: { storage: { percent: 0.1, minPerSecond: 5, ttl: "10 seconds" } },
 *   operations: { "orders.save": "storage", "orders.load": "storage" }
 * }
 * ```
 *
 * @since 0.4.0
 * @category models
 */
export interface Options {
  readonly default?: RetryBudget.Options | undefined
  readonly budgets?: Readonly<Record<string, RetryBudget.Options>> | undefined
  readonly operations?: Readonly<Record<string, string>> | undefined
}

const OptionsSchema = objectOf(Schema.Struct({
  default: Schema.optional(Schema.Unknown),
  budgets: Schema.optional(objectOf(Schema.Record(Schema.String, Schema.Unknown))),
  operations: Schema.optional(objectOf(Schema.Record(Schema.String, Schema.String)))
}))

const decodeOptions = Schema.decodeUnknownExit(OptionsSchema)

/**
 * The named budget of the registry in the context.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const available = RetryBudgetRegistry.budget("payments").pipe(
 *   Effect.flatMap((budget) => budget.state),
 *   Effect.map((state) => state.available)
 * )
 * ```
 *
 * @since 0.4.0
 * @category accessors
 */
export const budget = (name: string): Effect.Effect<RetryBudget.RetryBudget, never, RetryBudgetRegistry> =>
  RetryBudgetRegistry.useSync((registry) => registry.budget(name))

/**
 * The state of every budget made so far, sorted by name.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const exhausted = Effect.map(RetryBudgetRegistry.states, (states) => states.filter((s) => s.available === 0))
 * ```
 *
 * @since 0.4.0
 * @category accessors
 */
export const states: Effect.Effect<ReadonlyArray<RetryBudget.State>, never, RetryBudgetRegistry> =
  RetryBudgetRegistry.use((registry) => registry.states)

/**
 * Runs an effect as one call spending the named budget: the call is deposited into it, and an
 * `Effect.retry(PolicyService.retry)` inside withdraws each retry from it (a retry the budget refuses is not
 * made, and the run fails with its original error at once). Put it outside the retry, so that a call deposits
 * once, not once per attempt. The budget is looked up once per registry, not once per call.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, PolicyService, RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * declare const charge: Effect.Effect<string, CommonErrors.NetworkError>
 *
 * // Effect<string, NetworkError, PolicyService | RetryBudgetRegistry>
 * const charged = charge.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("payments"))
 * ```
 *
 * @since 0.4.0
 * @category combinators
 */
export const withBudget: {
  (name: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | RetryBudgetRegistry>
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string): Effect.Effect<A, E, R | RetryBudgetRegistry>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string) =>
    Registry.perRegistry(RetryBudgetRegistry, (registry) => {
      const found = registry.budget(name) as BudgetInternal
      const provided = Effect.provideService(self, CurrentBudget, found)
      // the tokens rule counts outcomes: a failed attempt is counted by the retry schedule, the success here
      const counted = found.config.kind === "tokens"
        ? Effect.tap(provided, () => Effect.sync(() => found.recordUnsafe(false)))
        : provided
      return Effect.andThen(found.deposit, counted)
    })
)
