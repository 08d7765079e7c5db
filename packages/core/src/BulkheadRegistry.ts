/**
 * Named bulkheads shared by a whole program: `bulkhead("search")` returns the same bulkhead wherever it is asked
 * for, configured by its own options or the default ones. Each bulkhead it builds is announced to the context's
 * observers, so `ResilienceMetrics` exports its figures (`resilience_bulkhead_*`) and lists it in the snapshot.
 *
 * **Gotchas**
 *
 * - The observers are those of the context the registry is built in: build it after the `ResilienceMetrics`
 *   layer (`ErrorLayer` does), or its bulkheads are not exported.
 * - An operation with no mapping in `operations` gets a bulkhead named after it, built on first use with the
 *   default options (`protect({ bulkhead: true })`).
 *
 * @since 0.3.0
 */
import type { Scope } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import { dual } from "effect/Function"
import * as Bulkhead from "./Bulkhead.js"
import * as ConfigError from "./ConfigError.js"
import { type BulkheadInternal, makeBulkhead } from "./internal/bulkhead/bulkhead.js"
import { type BulkheadAdded, CurrentObserver } from "./internal/observation.js"
import { makeRoutes, type Reconfigurable, ReconfigureId, type Routes, RoutesId, sameOptions } from "./internal/reloadable.js"
import * as Registry from "./internal/registry.js"
import { isRecord, objectOf } from "./internal/unknownKeys.js"

/**
 * The registry.
 *
 * - `bulkhead(name)` returns the bulkhead of that name, built on first use.
 * - `forOperation(operation)` returns the bulkhead the `operations` option maps an operation to, or the one
 *   named after the operation.
 * - `states` reads the state of every bulkhead built so far, sorted by name.
 *
 * @since 0.3.0
 * @category models
 */
export interface BulkheadRegistry {
  readonly bulkhead: (name: string) => Bulkhead.Bulkhead
  readonly forOperation: (operation: string) => Bulkhead.Bulkhead
  readonly states: Effect.Effect<ReadonlyArray<Bulkhead.State>>
}

/**
 * The registry service. `ErrorLayer` provides it; {@link layer} provides it alone.
 *
 * @since 0.3.0
 * @category services
 */
export const BulkheadRegistry: Context.Service<BulkheadRegistry, BulkheadRegistry> = Context.Service<
  BulkheadRegistry
>("@effect-resilience/core/BulkheadRegistry")

/**
 * Validates every bulkhead's options (all problems reported together in one `ConfigError.ConfigError`, with paths
 * from these options: `bulkheads.search.queueTimout: Unknown key "queueTimout", did you mean "queueTimeout"?`) and
 * builds the registry. The named bulkheads are built at once. When the scope closes its bulkheads leave the
 * observers (their metric series are removed); calls already admitted finish. `ConfigReload` can give the
 * registry new options while it runs: its bulkheads take them in place (see {@link BulkheadChange}).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimit, BulkheadRegistry } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* BulkheadRegistry.make({
 *     default: { limit: 50 },
 *     bulkheads: { search: { limit: AdaptiveLimit.gradient2(), queue: 100, queueTimeout: "500 millis" } }
 *   })
 *   return registry.bulkhead("search") === registry.bulkhead("search") // true
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<BulkheadRegistry, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const checked = yield* check(options)
    // (all four change on a reload, see `reconfigure`)
    let configs = checked.configs
    let defaults = checked.defaults
    let given = checked.given
    const routes = makeRoutes(given.operations, (name) => bulkhead(name))
    const observer = yield* CurrentObserver
    const bulkheads = new Map<string, BulkheadInternal>()
    const added: Array<BulkheadAdded> = []
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const event of added.splice(0)) observer.emit({ _tag: "BulkheadRemoved", added: event })
      })
    )
    const bulkhead = (name: string): Bulkhead.Bulkhead => {
      let found = bulkheads.get(name)
      if (found === undefined) {
        found = makeBulkhead(name, configs.get(name) ?? defaults)
        bulkheads.set(name, found)
        if (observer.active && !closed) {
          const event: BulkheadAdded = { _tag: "BulkheadAdded", name, state: found.stateUnsafe }
          added.push(event)
          observer.emit(event)
        }
      }
      return found
    }
    // the named bulkheads exist from the start, so their figures show before their first call
    for (const name of configs.keys()) bulkhead(name)

    // A reload: every bulkhead built so far takes its new config in place (state is per name and kept); a name
    // newly configured is built at once, as at the start
    const apply = (next: Checked): Reconfigured => {
      const changes: Array<BulkheadChange> = []
      const before = given
      const names = new Set([...bulkheads.keys(), ...next.configs.keys()])
      const optionsOf = (of: Options, name: string) => of.bulkheads?.[name] ?? of.default
      configs = next.configs
      defaults = next.defaults
      given = next.given
      for (const name of [...names].sort()) {
        const wasNamed = before.bulkheads?.[name] !== undefined
        const isNamed = next.configs.has(name)
        const existing = bulkheads.get(name)
        if (existing === undefined) {
          bulkhead(name)
          changes.push({ name, change: "added", state: "new" })
          continue
        }
        if (sameOptions(optionsOf(before, name), optionsOf(next.given, name)) && wasNamed === isNamed) continue
        const reset = existing.reconfigure(next.configs.get(name) ?? next.defaults)
        const change = wasNamed && !isNamed ? "removed" : !wasNamed && isNamed ? "added" : "updated"
        changes.push(reset === undefined ? { name, change, state: "kept" } : { name, change, state: "reset", reason: reset })
      }
      const remapped = routes.remap(next.given.operations)
      return { bulkheads: changes, operations: remapped }
    }
    const reconfigurable: Reconfigurable<Options, Reconfigured> = {
      base: given,
      prepare: (candidate) => Effect.map(check(candidate), (next) => () => apply(next))
    }
    return {
      bulkhead,
      forOperation: routes.forOperation,
      get [RoutesId]() {
        return routes.current()
      },
      states: Effect.sync(() => [...bulkheads.keys()].sort().map((name) => bulkheads.get(name)!.stateUnsafe())),
      [ReconfigureId]: reconfigurable
    } satisfies BulkheadRegistry & {
      readonly [ReconfigureId]: Reconfigurable<Options, Reconfigured>
      readonly [RoutesId]: Routes<Bulkhead.Bulkhead>
    }
  })

type Checked = Effect.Success<ReturnType<typeof check>>

/**
 * What a reload changed in one bulkhead (see `ConfigReload`). State is per name: a bulkhead whose name survives
 * keeps its calls in flight, its queue and its counts (`state: "kept"`) under its new limits, which change in
 * place; a name configured for the first time starts empty (`"new"`), so a renamed bulkhead starts empty while
 * the old name keeps its own state under the default options (`change: "removed"`). An adaptive limit whose
 * algorithm or settings changed restarts its controller from its initial limit (`"reset"`, with the reason).
 *
 * **Example**
 *
 * ```ts
 * import type { BulkheadRegistry } from "@effect-resilience/core"
 *
 * const note = (change: BulkheadRegistry.BulkheadChange) =>
 *   change.state === "reset" ? `${change.name}: reset (${change.reason})` : `${change.name}: ${change.change}`
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface BulkheadChange {
  readonly name: string
  readonly change: "added" | "updated" | "removed"
  readonly state: "kept" | "new" | "reset"
  readonly reason?: string | undefined
}

/**
 * What a reload changed in the registry: its bulkheads (those unchanged are not listed) and the operations that
 * now map to another bulkhead.
 *
 * **Example**
 *
 * ```ts
 * import type { BulkheadRegistry } from "@effect-resilience/core"
 *
 * const kept = (changes: BulkheadRegistry.Reconfigured) => changes.bulkheads.every((b) => b.state !== "reset")
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Reconfigured {
  readonly bulkheads: ReadonlyArray<BulkheadChange>
  readonly operations: ReadonlyArray<string>
}

// every config first: one error listing all problems, and nothing built from a partly valid set
const check = (options: Options) =>
  Effect.gen(function*() {
    const { configs, defaults, issues } = yield* Registry.check(
      options,
      decodeOptions,
      Bulkhead.validate,
      "bulkheads"
    )
    if (issues.length > 0 || defaults === undefined) return yield* new ConfigError.ConfigError({ issues })
    return { configs, defaults, given: (isRecord(options) ? options : {}) as Options }
  })

/**
 * Checks registry options without building a registry: every problem at once, in the `ConfigError.ConfigError`
 * {@link make} would fail with. `ErrorLayer` uses it to report every section's problems together.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BulkheadRegistry } from "@effect-resilience/core"
 *
 * // fails with "Invalid options: bulkheads.search.limit: Expected an integer of at least 1 ..., got 0"
 * const checked = BulkheadRegistry.validate({ bulkheads: { search: { limit: 0 } } }).pipe(Effect.flip)
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(check(options))

/**
 * A layer providing the registry; its build fails with a `ConfigError.ConfigError` when any options are invalid.
 *
 * **Example**
 *
 * ```ts
 * import { BulkheadRegistry } from "@effect-resilience/core"
 *
 * const Bulkheads = BulkheadRegistry.layer({ bulkheads: { reports: { limit: 4, queue: 10 } } })
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<BulkheadRegistry, ConfigError.ConfigError> =>
  Layer.effect(BulkheadRegistry, make(options))

/**
 * Options of {@link make}: the options of bulkheads without their own (`default`), of named ones (`bulkheads`),
 * and which bulkhead guards which `protect` operation (`operations`, used by `protect({ bulkhead: true })`).
 * Named options replace the default ones as a whole. An unknown key is refused with the nearest known name.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly default?: Bulkhead.Options | undefined
  readonly bulkheads?: Readonly<Record<string, Bulkhead.Options>> | undefined
  readonly operations?: Readonly<Record<string, string>> | undefined
}

const OptionsSchema = objectOf(Schema.Struct({
  default: Schema.optional(Schema.Unknown),
  bulkheads: Schema.optional(objectOf(Schema.Record(Schema.String, Schema.Unknown))),
  operations: Schema.optional(objectOf(Schema.Record(Schema.String, Schema.String)))
}))

const decodeOptions = Schema.decodeUnknownExit(OptionsSchema)

/**
 * The bulkhead of a name, from the registry.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BulkheadRegistry } from "@effect-resilience/core"
 *
 * const inFlight = Effect.flatMap(BulkheadRegistry.bulkhead("search"), (b) => b.state)
 * ```
 *
 * @since 0.3.0
 * @category accessors
 */
export const bulkhead = (name: string): Effect.Effect<Bulkhead.Bulkhead, never, BulkheadRegistry> =>
  BulkheadRegistry.useSync((registry) => registry.bulkhead(name))

/**
 * The state of every bulkhead built so far, sorted by name.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BulkheadRegistry } from "@effect-resilience/core"
 *
 * const full = Effect.map(BulkheadRegistry.states, (states) => states.filter((s) => s.inFlight >= s.limit))
 * ```
 *
 * @since 0.3.0
 * @category accessors
 */
export const states: Effect.Effect<ReadonlyArray<Bulkhead.State>, never, BulkheadRegistry> = BulkheadRegistry
  .use((registry) => registry.states)

/**
 * Runs an effect in a place of the named bulkhead of the registry in the context. The bulkhead is looked up once
 * per registry, not once per call.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BulkheadRegistry, CommonErrors } from "@effect-resilience/core"
 *
 * declare const search: Effect.Effect<ReadonlyArray<string>, CommonErrors.NetworkError>
 *
 * // Effect<ReadonlyArray<string>, NetworkError | BulkheadFullError, BulkheadRegistry>
 * const guarded = search.pipe(BulkheadRegistry.withBulkhead("search"))
 * ```
 *
 * @since 0.3.0
 * @category combinators
 */
export const withBulkhead: {
  (name: string): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | Bulkhead.BulkheadFullError, R | BulkheadRegistry>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string
  ): Effect.Effect<A, E | Bulkhead.BulkheadFullError, R | BulkheadRegistry>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string) =>
    Registry.perRegistry(BulkheadRegistry, (registry) => registry.bulkhead(name).execute(self))
)
