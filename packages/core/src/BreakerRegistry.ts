/**
 * Named circuit breakers shared by a whole program: `breaker("payments")` returns the same breaker wherever it is
 * asked for, configured by its own options or the default ones. The registry publishes every breaker's state
 * changes as one `Stream`, and emits each breaker it builds and each state change to the context's observers, so
 * the error tracker records the changes and `ResilienceMetrics` exports each breaker's state and calls.
 *
 * **Gotchas**
 *
 * - The observers are those of the context the registry is built in: build it after the `ErrorTracker` and
 *   `ResilienceMetrics` layers (`ErrorLayer` does), or its breakers are neither tracked nor exported.
 * - An operation with no mapping in `operations` gets a breaker named after it, built on first use with the
 *   default options (`protect({ breaker: true })`).
 *
 * @since 0.1.0
 */
import type { Clock, Scope } from "effect"
import { Context, Effect, Layer, PubSub, Schema, Stream } from "effect"
import { dual } from "effect/Function"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as ConfigError from "./ConfigError.js"
import { type BreakerInternal, makeBreaker } from "./internal/breaker/breaker.js"
import { type MakeStore, makeMemory } from "./internal/breaker/store.js"
import { refusal } from "./internal/fleet/keys.js"
import { type BreakerAdded, CurrentObserver } from "./internal/observation.js"
import { makeRoutes, type Reconfigurable, ReconfigureId, type Routes, RoutesId, sameOptions } from "./internal/reloadable.js"
import * as Registry from "./internal/registry.js"
import { isRecord, objectOf } from "./internal/unknownKeys.js"
import * as RedisBreakerStore from "./RedisBreakerStore.js"

/**
 * The registry.
 *
 * - `breaker(name)` returns the breaker of that name, built on first use.
 * - `forOperation(operation)` returns the breaker the `operations` option maps an operation to, or the breaker
 *   named after the operation.
 * - `states` reads the state of every breaker built so far, sorted by name.
 * - `changes` streams the state changes of all breakers, from when it is run until the registry closes.
 *
 * @since 0.2.0
 * @category models
 */
export interface BreakerRegistry {
  readonly breaker: (name: string) => CircuitBreaker.CircuitBreaker
  readonly forOperation: (operation: string) => CircuitBreaker.CircuitBreaker
  readonly states: Effect.Effect<ReadonlyArray<CircuitBreaker.State>>
  readonly changes: Stream.Stream<CircuitBreaker.Transition>
}

/**
 * The registry service. `ErrorLayer` provides it; {@link layer} provides it alone.
 *
 * @since 0.1.0
 * @category services
 */
export const BreakerRegistry: Context.Service<BreakerRegistry, BreakerRegistry> = Context.Service<BreakerRegistry>(
  "@effect-resilience/core/BreakerRegistry"
)

/**
 * Validates every breaker's options (all problems reported together in one `ConfigError.ConfigError`, unknown
 * keys included, with paths from these options: `breakers.storage.openDuraton: Unknown key "openDuraton", did you
 * mean "openDuration"?`) and builds the registry. The named breakers are built at once. When the scope closes,
 * the registry's stream ends and its breakers leave the observers (their metric series are removed).
 * `ConfigReload` can give the registry new options while it runs: its breakers take them in place, keeping their
 * state when the settings are compatible (see {@link BreakerChange}).
 *
 * Each breaker it builds and each state change of one is emitted to the observers of the context it is made in
 * (the `ErrorTracker` records the changes in its summary; `ResilienceMetrics` exports
 * `resilience_breaker_state{breaker,state}`, `resilience_breaker_calls_total{breaker,outcome}` and
 * `resilience_breaker_transitions_total{breaker,to}`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry, TripRule } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* BreakerRegistry.make({
 *     default: { trip: TripRule.consecutive(5), openDuration: "30 seconds" },
 *     breakers: { payments: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 20 }) } }
 *   })
 *   return registry.breaker("payments") === registry.breaker("payments") // true
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<BreakerRegistry, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const checked = yield* check(options)
    // (all four change on a reload, see `apply`)
    let configs = checked.configs
    let defaults = checked.defaults
    let given = checked.given

    const observer = yield* CurrentObserver
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    // with a shared store, the breakers share their state through it (but those whose options say `share: "off"`)
    const shared = yield* Effect.serviceOption(RedisBreakerStore.RedisBreakerStore)
    const fleet = shared._tag === "Some" ? RedisBreakerStore.fleetOf(shared.value) : undefined
    // the names a shared store cannot hold, refused (a reload's too)
    const refusals = (of: Options): Array<ConfigError.Issue> => {
      const issues: Array<ConfigError.Issue> = []
      if (fleet === undefined) return issues
      for (const name of Object.keys(of.breakers ?? {})) {
        const refused = refusal(name)
        if (refused !== undefined) issues.push({ path: ["breakers", name], message: refused })
      }
      for (const [operation, name] of Object.entries(of.operations ?? {})) {
        const refused = refusal(name)
        if (refused !== undefined) issues.push({ path: ["operations", operation], message: refused })
      }
      return issues
    }
    const refused = refusals(given)
    if (refused.length > 0) return yield* new ConfigError.ConfigError({ issues: refused })
    const storeOf = (name: string, config: CircuitBreaker.Config): MakeStore | undefined => {
      if (fleet === undefined) return undefined
      const off: MakeStore = () => ({
        ...makeMemory(config),
        shared: () => ({ mode: "off", generation: -1, replica: fleet.replica })
      })
      if (config.share._tag === "off") return off
      const made = fleet.storeFor(name, config, observer)
      if (typeof made !== "string") return made
      // a name made at run time (an operation's) that cannot be stored: the breaker stays local, said once
      runFork(Effect.logWarning(`breaker ${JSON.stringify(name.slice(0, 80))} stays local: ${made}`))
      return off
    }
    const pubsub = yield* PubSub.sliding<CircuitBreaker.Transition>(1024)
    const changes = Stream.fromPubSub(pubsub)
    const breakers = new Map<string, BreakerInternal>()
    const added: Array<BreakerAdded> = []
    let closed = false
    // the breakers leave the consumers with the registry: their series are removed, and no longer read
    yield* Effect.addFinalizer(() =>
      Effect.andThen(
        Effect.sync(() => {
          closed = true
          for (const event of added.splice(0)) observer.emit({ _tag: "BreakerRemoved", added: event })
        }),
        PubSub.shutdown(pubsub)
      )
    )

    const publish = (transition: CircuitBreaker.Transition) => {
      observer.emit({ _tag: "Transition", transition })
      PubSub.publishUnsafe(pubsub, transition)
    }

    const breaker = (name: string): BreakerInternal => {
      let found = breakers.get(name)
      if (found === undefined) {
        const config = configs.get(name) ?? defaults
        const built = makeBreaker(
          name,
          config,
          { publish },
          Stream.filter(changes, (t) => t.breaker === name),
          storeOf(name, config)
        )
        breakers.set(name, built)
        // the state is read synchronously: `state` is a synchronous effect
        if (observer.active && !closed) {
          const event: BreakerAdded = { _tag: "BreakerAdded", name, state: () => Effect.runSync(built.state) }
          added.push(event)
          observer.emit(event)
        }
        found = built
      }
      return found
    }
    // the named breakers exist from the start, so their state and metrics show before their first call
    for (const name of configs.keys()) breaker(name)

    const routes = makeRoutes(given.operations, (name) => breaker(name))

    // A reload: every breaker built so far takes its new config in place (state is per name, kept when the
    // settings are compatible); a name newly configured is built at once, as at the start
    const apply = (next: Checked, clock: Clock.Clock): Reconfigured => {
      const changed: Array<BreakerChange> = []
      const before = given
      const names = new Set([...breakers.keys(), ...next.configs.keys()])
      const optionsOf = (of: Options, name: string) => of.breakers?.[name] ?? of.default
      configs = next.configs
      defaults = next.defaults
      given = next.given
      for (const name of [...names].sort()) {
        const wasNamed = before.breakers?.[name] !== undefined
        const isNamed = next.configs.has(name)
        const existing = breakers.get(name)
        if (existing === undefined) {
          breaker(name)
          changed.push({ name, change: "added", state: "new" })
          continue
        }
        if (sameOptions(optionsOf(before, name), optionsOf(next.given, name)) && wasNamed === isNamed) continue
        const outcome = existing.reconfigure(next.configs.get(name) ?? next.defaults, clock)
        const change = wasNamed && !isNamed ? "removed" : !wasNamed && isNamed ? "added" : "updated"
        changed.push({ name, change, ...outcome })
      }
      const remapped = routes.remap(next.given.operations)
      return { breakers: changed, operations: remapped }
    }
    const reconfigurable: Reconfigurable<Options, Reconfigured> = {
      base: given,
      prepare: (candidate) =>
        Effect.flatMap(check(candidate), (next) => {
          const issues = refusals(next.given)
          return issues.length > 0
            ? Effect.fail(new ConfigError.ConfigError({ issues }))
            : Effect.clockWith((clock) => Effect.succeed(() => apply(next, clock)))
        })
    }
    return {
      breaker,
      forOperation: routes.forOperation,
      get [RoutesId]() {
        return routes.current()
      },
      states: Effect.suspend(() =>
        Effect.forEach([...breakers.keys()].sort(), (name) => breakers.get(name)!.state)
      ),
      changes,
      [ReconfigureId]: reconfigurable
    } satisfies BreakerRegistry & {
      readonly [ReconfigureId]: Reconfigurable<Options, Reconfigured>
      readonly [RoutesId]: Routes<CircuitBreaker.CircuitBreaker>
    }
  })

type Checked = Effect.Success<ReturnType<typeof check>>

/**
 * What a reload changed in one breaker (see `ConfigReload`). State is per name: a breaker whose name survives
 * keeps its status, its trip counts, its openings and the deadline of an opening in progress (`state: "kept"`)
 * when its new settings are compatible; they apply from the next call (a trip rule's threshold, minimum of calls
 * or number of failures, the errors that count), the next probe (`halfOpenProbes`, `closeAfter`) or the next
 * opening (`openDuration`). Trip rules of another kind, in another number, or over another window cannot carry the
 * counts over: its counts start again (`state: "reset"`) and `reason` says why; its status stays (an open breaker
 * keeps its deadline, an isolated or disabled one stays so: a reload never undoes an operator's decision). A name
 * configured for the first time starts closed (`"new"`), so a renamed breaker starts anew while the old name keeps
 * its own state under the default options (`change: "removed"`). Its call counts (`state.calls`, the metrics)
 * always carry on.
 *
 * A breaker shared through a `RedisBreakerStore` keeps its sharing as built: its `share`, `halfOpenProbes` and
 * `closeAfter` (which its replicas agree on) stay, and `reason` says so; its other settings apply here, and a
 * reset clears this replica's counts only, never the fleet's state. Its replicas compare the fingerprint of the
 * settings they were built with.
 *
 * **Example**
 *
 * ```ts
 * import type { BreakerRegistry } from "@effect-resilience/core"
 *
 * const note = (change: BreakerRegistry.BreakerChange) =>
 *   change.state === "reset" ? `${change.name}: reset (${change.reason})` : `${change.name}: ${change.change}`
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface BreakerChange {
  readonly name: string
  readonly change: "added" | "updated" | "removed"
  readonly state: "kept" | "new" | "reset"
  readonly reason?: string | undefined
}

/**
 * What a reload changed in the registry: its breakers (those unchanged are not listed) and the operations that
 * now map to another breaker.
 *
 * **Example**
 *
 * ```ts
 * import type { BreakerRegistry } from "@effect-resilience/core"
 *
 * const resets = (changes: BreakerRegistry.Reconfigured) => changes.breakers.filter((b) => b.state === "reset")
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface Reconfigured {
  readonly breakers: ReadonlyArray<BreakerChange>
  readonly operations: ReadonlyArray<string>
}

// every config first: one error listing all problems, and nothing built from a partly valid set
const check = (options: Options) =>
  Effect.gen(function*() {
    const { configs, defaults, issues } = yield* Registry.check(
      options,
      decodeOptions,
      CircuitBreaker.validate,
      "breakers"
    )
    if (issues.length > 0 || defaults === undefined) return yield* new ConfigError.ConfigError({ issues })
    return { configs, defaults, given: (isRecord(options) ? options : {}) as Options }
  })

/**
 * Checks registry options without building a registry: every problem of the registry's own options and of each
 * breaker's, at once, in a `ConfigError.ConfigError` whose paths start at the options (what {@link make} fails
 * with). `ErrorLayer` uses it to report every section's problems together.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry } from "@effect-resilience/core"
 *
 * // fails with "Invalid options: breakers.storage.halfOpenProbes: Expected an integer of at least 1, got 0"
 * const checked = BreakerRegistry.validate({ breakers: { storage: { halfOpenProbes: 0 } } }).pipe(Effect.flip)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(check(options))

/**
 * A layer providing the registry; its build fails with a `ConfigError.ConfigError` when any options are invalid.
 * Build it in a context that has the `ErrorTracker` and `ResilienceMetrics` layers (as `ErrorLayer` does) for its
 * breakers to be tracked and exported.
 *
 * **Example**
 *
 * ```ts
 * import { BreakerRegistry, TripRule } from "@effect-resilience/core"
 *
 * const Breakers = BreakerRegistry.layer({
 *   breakers: { payments: { trip: TripRule.consecutive(3), openDuration: "10 seconds", halfOpenProbes: 2 } }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<BreakerRegistry, ConfigError.ConfigError> =>
  Layer.effect(BreakerRegistry, make(options))

/**
 * Options of {@link make}: the options of breakers without their own (`default`), of named ones (`breakers`), and
 * which breaker guards which `protect` operation (`operations`, used by `protect({ breaker: true })`). Named
 * options replace the default ones as a whole. An unknown key, here or in a breaker's options, is refused with
 * the nearest known name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly default?: CircuitBreaker.Options | undefined
  readonly breakers?: Readonly<Record<string, CircuitBreaker.Options>> | undefined
  readonly operations?: Readonly<Record<string, string>> | undefined
}

// the registry's own keys; each breaker's options are checked by `CircuitBreaker.validate`
const OptionsSchema = objectOf(Schema.Struct({
  default: Schema.optional(Schema.Unknown),
  breakers: Schema.optional(objectOf(Schema.Record(Schema.String, Schema.Unknown))),
  operations: Schema.optional(objectOf(Schema.Record(Schema.String, Schema.String)))
}))

const decodeOptions = Schema.decodeUnknownExit(OptionsSchema)

/**
 * The breaker of a name, from the registry.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry } from "@effect-resilience/core"
 *
 * const isolatePayments = Effect.flatMap(BreakerRegistry.breaker("payments"), (breaker) => breaker.isolate)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const breaker = (name: string): Effect.Effect<CircuitBreaker.CircuitBreaker, never, BreakerRegistry> =>
  BreakerRegistry.useSync((registry) => registry.breaker(name))

/**
 * The state of every breaker built so far.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry } from "@effect-resilience/core"
 *
 * const open = Effect.map(BreakerRegistry.states, (states) => states.filter((s) => s.status === "open"))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const states: Effect.Effect<ReadonlyArray<CircuitBreaker.State>, never, BreakerRegistry> = BreakerRegistry
  .use((registry) => registry.states)

/**
 * Runs an effect through the named breaker of the registry in the context. The breaker is looked up once per
 * registry, not once per call.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry, CommonErrors } from "@effect-resilience/core"
 *
 * declare const charge: Effect.Effect<string, CommonErrors.NetworkError>
 *
 * // Effect<string, NetworkError | BreakerOpenError, BreakerRegistry>
 * const guarded = charge.pipe(BreakerRegistry.withBreaker("payments"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withBreaker: {
  (name: string): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CircuitBreaker.BreakerOpenError, R | BreakerRegistry>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string
  ): Effect.Effect<A, E | CircuitBreaker.BreakerOpenError, R | BreakerRegistry>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string) =>
    Registry.perRegistry(BreakerRegistry, (registry) => registry.breaker(name).execute(self))
)
