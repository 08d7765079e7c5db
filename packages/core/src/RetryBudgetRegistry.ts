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
import { makeRoutes, type Reconfigurable, ReconfigureId, type Routes, RoutesId, sameOptions } from "./internal/reloadable.js"
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
 * `ConfigReload` can give the registry new options while it runs: its budgets take them in place (see
 * {@link BudgetChange}).
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
    const checked = yield* check(options)
    // (all four change on a reload, see `apply`)
    let configs = checked.configs
    let defaults = checked.defaults
    let given = checked.given
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
    const routes = makeRoutes(given.operations, (name) => budget(name))

    // A reload: every budget made so far takes its new config in place (see `BudgetChange`); a name newly
    // configured is made at once, as at the start
    const apply = (next: Checked): Reconfigured => {
      const changed: Array<BudgetChange> = []
      const before = given
      const names = new Set([...budgets.keys(), ...next.configs.keys()])
      const optionsOf = (of: Options, name: string) => of.budgets?.[name] ?? of.default
      configs = next.configs
      defaults = next.defaults
      given = next.given
      for (const name of [...names].sort()) {
        const wasNamed = before.budgets?.[name] !== undefined
        const isNamed = next.configs.has(name)
        const existing = budgets.get(name)
        if (existing === undefined) {
          budget(name)
          changed.push({ name, change: "added", state: "new" })
          continue
        }
        if (sameOptions(optionsOf(before, name), optionsOf(next.given, name)) && wasNamed === isNamed) continue
        const outcome = existing.reconfigure(next.configs.get(name) ?? next.defaults)
        const change = wasNamed && !isNamed ? "removed" : !wasNamed && isNamed ? "added" : "updated"
        changed.push({ name, change, ...outcome })
      }
      const remapped = routes.remap(next.given.operations)
      return { budgets: changed, operations: remapped }
    }
    const reconfigurable: Reconfigurable<Options, Reconfigured> = {
      base: given,
      prepare: (candidate) => Effect.map(check(candidate), (next) => () => apply(next))
    }
    return {
      budget,
      forOperation: routes.forOperation,
      get [RoutesId]() {
        return routes.current()
      },
      states: Effect.sync(() =>
        [...budgets.keys()].sort().map((name) => budgets.get(name)!.stateUnsafe(monotonicMillis(clock)))
      ),
      [ReconfigureId]: reconfigurable
    } satisfies RetryBudgetRegistry & {
      readonly [ReconfigureId]: Reconfigurable<Options, Reconfigured>
      readonly [RoutesId]: Routes<RetryBudget.RetryBudget>
    }
  })

type Checked = Effect.Success<ReturnType<typeof check>>

/**
 * What a reload changed in one budget (see `ConfigReload`). State is per name: a budget whose name survives
 * takes its new settings in place and keeps what it has counted (`state: "kept"`) when its rule is of the same
 * kind: a ratio budget its window of requests and retries (a new `percent` or `minPerSecond` applies at once), a
 * tokens budget its token count, as the same share of a new `maxTokens`. Another kind, or a ratio budget's new
 * `ttl` (its window is counted in slices of it), starts the budget afresh (`"reset"`, with the reason). A name
 * configured for the first time starts fresh (`"new"`); the old name of a renamed budget keeps its state under
 * the default options (`change: "removed"`). The counts of retries granted and refused always carry on.
 *
 * **Example**
 *
 * ```ts
 * import type { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const note = (change: RetryBudgetRegistry.BudgetChange) =>
 *   change.state === "reset" ? `${change.name}: reset (${change.reason})` : `${change.name}: ${change.change}`
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface BudgetChange {
  readonly name: string
  readonly change: "added" | "updated" | "removed"
  readonly state: "kept" | "new" | "reset"
  readonly reason?: string | undefined
}

/**
 * What a reload changed in the registry: its budgets (those unchanged are not listed) and the operations that
 * now map to another budget.
 *
 * **Example**
 *
 * ```ts
 * import type { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const resets = (changes: RetryBudgetRegistry.Reconfigured) => changes.budgets.filter((b) => b.state === "reset")
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Reconfigured {
  readonly budgets: ReadonlyArray<BudgetChange>
  readonly operations: ReadonlyArray<string>
}

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
      const tokens = Effect.tap(provided, () => Effect.sync(() => found.recordUnsafe(false)))
      // (read per call: a reload may change the budget's kind)
      const counted = Effect.suspend(() => found.config.kind === "tokens" ? tokens : provided)
      return Effect.andThen(found.deposit, counted)
    })
)
