/**
 * Named rate limiters shared by a whole program: `limiter("api")` returns the same limiter wherever it is asked
 * for, configured by its own options or the default ones. Each limiter it builds is announced to the context's
 * observers, so `ResilienceMetrics` exports its figures (`resilience_rate_limiter_*`) and lists it in the
 * snapshot.
 *
 * **Shared across a fleet.** With a shared store in the context (`RedisBreakerStore`, the one Redis connection a
 * process uses for its breakers and its limiters), every limiter of the registry (but those whose options say
 * `share: "off"`) holds one limit for every replica on the same Redis and prefix:
 *
 * - A replica leases permits from Redis in batches and decides from its lease: one Redis call per lease, none
 *   per call. A key's first lease is of one permit, each next one twice what the last one served, up to
 *   `share.lease` (by default a twentieth of the limit, at least 1, at most 100); callers waiting while a lease
 *   is fetched share that one call. Each lease is one script, with every time taken from Redis `TIME` (no clock
 *   skew between replicas). A window's lease lasts until its window ends, a token bucket's one window; permits a
 *   lease did not use go back with the key's next lease.
 * - The price of batching: permits leased by one replica and not yet used are unavailable to the others, so under
 *   full demand the fleet admits between `limit − replicas × (lease − 1)` and `limit` per window with the window
 *   algorithms; a token bucket admits at most what it would alone plus the permits the replicas' leases held at
 *   the start (one lease per replica at most).
 * - A key refused by Redis is refused by the replica without asking again until its `retryAfter`.
 * - **Redis down or slow.** No lease waits longer than the store's `storeTimeout`; the first failure puts the
 *   store in degraded mode (said once, shown in `state.mode` and `resilience_rate_limiter_shared_degraded`) and
 *   each limiter decides alone with its share of the limit: `limit / replicas` (`share.replicas`, by default the
 *   replicas seen on Redis in the last minute). Calls never fail or stall because Redis is away. A key longer
 *   than 512 bytes encoded is always decided locally on that share.
 *
 * **Gotchas**
 *
 * - The observers are those of the context the registry is built in: build it after `ResilienceMetrics`
 *   (`ErrorLayer` does), or its limiters are not exported.
 * - A name with no options of its own gets the `default` options; without `default` there is no default limit,
 *   and asking for an unknown name is a defect (a limiter needs a limit).
 *
 * @since 0.3.0
 */
import type { Scope } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import { dual } from "effect/Function"
import * as ConfigError from "./ConfigError.js"
import { refusal } from "./internal/fleet/keys.js"
import type { LimiterAdded } from "./internal/observation.js"
import { CurrentObserver } from "./internal/observation.js"
import { type Decider, type LimiterInternal, localDecider, makeLimiter } from "./internal/rateLimit/limiter.js"
import { type Reconfigurable, ReconfigureId, sameOptions } from "./internal/reloadable.js"
import * as Registry from "./internal/registry.js"
import { isRecord, objectOf } from "./internal/unknownKeys.js"
import * as RateLimiter from "./RateLimiter.js"
import * as RedisBreakerStore from "./RedisBreakerStore.js"

/**
 * The registry.
 *
 * - `limiter(name)` returns the limiter of that name, built on first use (with the `default` options). A name
 *   with no options of its own when there is no `default` is a defect: check with `has` first where the name
 *   comes from outside (an edge's option).
 * - `has(name)` tells whether a name has options of its own (in `limiters`): a name given from outside (an
 *   edge's option) that it does not know is likely misspelt.
 * - `states` reads the figures of every limiter built so far, sorted by name.
 *
 * @since 0.3.0
 * @category models
 */
export interface RateLimiterRegistry {
  readonly limiter: (name: string) => RateLimiter.RateLimiter
  readonly has: (name: string) => boolean
  readonly states: Effect.Effect<ReadonlyArray<RateLimiter.State>>
}

/**
 * The registry service. `ErrorLayer` provides it; {@link layer} provides it alone.
 *
 * @since 0.3.0
 * @category services
 */
export const RateLimiterRegistry: Context.Service<RateLimiterRegistry, RateLimiterRegistry> = Context.Service<
  RateLimiterRegistry
>("@effect-resilience/core/RateLimiterRegistry")

/**
 * Validates every limiter's options (all problems at once in one `ConfigError.ConfigError`, paths from these
 * options: `limiters.api.windw: Unknown key "windw", did you mean "window"?`) and builds the registry. The named
 * limiters are built at once. When the scope closes its limiters leave the observers. `ConfigReload` can give the
 * registry new options while it runs: its limiters take them in place (see {@link LimiterChange}).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiterRegistry } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* RateLimiterRegistry.make({
 *     limiters: { api: { limit: 100, window: "1 second" }, exports: { limit: 10, window: "1 hour" } }
 *   })
 *   return yield* registry.limiter("api").acquire("tenant-7")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<RateLimiterRegistry, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const checked = yield* check(options)
    // (all three change on a reload, see `apply`)
    let configs = checked.configs
    let defaults = checked.defaults
    let given = checked.given
    const observer = yield* CurrentObserver
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const shared = yield* Effect.serviceOption(RedisBreakerStore.RedisBreakerStore)
    const fleet = shared._tag === "Some" ? RedisBreakerStore.fleetOf(shared.value) : undefined
    // the names a shared store cannot hold, refused (a reload's too)
    const refusals = (names: Iterable<string>): Array<ConfigError.Issue> => {
      const issues: Array<ConfigError.Issue> = []
      if (fleet === undefined) return issues
      for (const name of names) {
        const refused = refusal(name)
        if (refused !== undefined) issues.push({ path: ["limiters", name], message: refused })
      }
      return issues
    }
    const refused = refusals(configs.keys())
    if (refused.length > 0) return yield* new ConfigError.ConfigError({ issues: refused })
    const deciderOf = (name: string, config: RateLimiter.Config): Decider => {
      if (fleet === undefined || config.share._tag === "off") return localDecider(config, config.keys)
      const made = fleet.limiterFor(name, config)
      if (typeof made !== "string") return made
      runFork(Effect.logWarning(`rate limiter ${JSON.stringify(name.slice(0, 80))} stays local: ${made}`))
      return localDecider(config, config.keys)
    }
    const limiters = new Map<string, LimiterInternal>()
    const added: Array<LimiterAdded> = []
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const event of added.splice(0)) observer.emit({ _tag: "LimiterRemoved", added: event })
      })
    )
    const limiter = (name: string): RateLimiter.RateLimiter => {
      let found = limiters.get(name)
      if (found === undefined) {
        const config = configs.get(name) ?? defaults
        if (config === undefined) {
          throw new Error(`No rate limiter ${JSON.stringify(name)} and no default options to build it with`)
        }
        found = makeLimiter(name, config, deciderOf(name, config))
        limiters.set(name, found)
        if (observer.active && !closed) {
          const event: LimiterAdded = { _tag: "LimiterAdded", name, state: found.stateUnsafe }
          added.push(event)
          observer.emit(event)
        }
      }
      return found
    }
    for (const name of configs.keys()) limiter(name)

    // A reload: every limiter built so far takes its new config in place (see `LimiterChange`); a name newly
    // configured is built at once, as at the start. A limiter whose name has no options left keeps its own, or
    // takes the default ones when there are.
    const apply = (next: Checked): ReadonlyArray<LimiterChange> => {
      const changed: Array<LimiterChange> = []
      const before = given
      const names = new Set([...limiters.keys(), ...next.configs.keys()])
      const optionsOf = (of: Options, name: string) => of.limiters?.[name] ?? of.default
      configs = next.configs
      defaults = next.defaults
      given = next.given
      for (const name of [...names].sort()) {
        const wasNamed = before.limiters?.[name] !== undefined
        const isNamed = next.configs.has(name)
        const existing = limiters.get(name)
        if (existing === undefined) {
          limiter(name)
          changed.push({ name, change: "added", state: "new" })
          continue
        }
        if (sameOptions(optionsOf(before, name), optionsOf(next.given, name)) && wasNamed === isNamed) continue
        const change = wasNamed && !isNamed ? "removed" : !wasNamed && isNamed ? "added" : "updated"
        const config = next.configs.get(name) ?? next.defaults
        if (config === undefined) {
          changed.push({ name, change, state: "kept", reason: "no options left for it (no default): it keeps its own" })
          continue
        }
        const outcome = existing.reconfigure(config)
        const stays = fleet !== undefined && existing.stateUnsafe().mode === "local" &&
            config.share._tag !== "off"
          ? "its sharing stays as built (local)"
          : undefined
        changed.push({
          name,
          change,
          ...outcome,
          ...(stays === undefined ? {} : { reason: outcome.reason === undefined ? stays : `${outcome.reason}; ${stays}` })
        })
      }
      return changed
    }
    const reconfigurable: Reconfigurable<Options, ReadonlyArray<LimiterChange>> = {
      base: given,
      prepare: (candidate) =>
        Effect.flatMap(check(candidate), (next) => {
          const issues = refusals(next.configs.keys())
          return issues.length > 0
            ? Effect.fail(new ConfigError.ConfigError({ issues }))
            : Effect.succeed(() => apply(next))
        })
    }
    return {
      limiter,
      has: (name) => configs.has(name),
      states: Effect.sync(() => [...limiters.keys()].sort().map((name) => limiters.get(name)!.stateUnsafe())),
      [ReconfigureId]: reconfigurable
    } satisfies RateLimiterRegistry & {
      readonly [ReconfigureId]: Reconfigurable<Options, ReadonlyArray<LimiterChange>>
    }
  })

type Checked = Effect.Success<ReturnType<typeof check>>

/**
 * What a reload changed in one rate limiter (see `ConfigReload`). State is per name: a limiter whose name
 * survives keeps its keys' states (`state: "kept"`) when its algorithm and window are the same, and a new limit,
 * wait or bound on keys applies from its next decision; another algorithm or window starts its keys afresh
 * (`"reset"`, with the reason). A name configured for the first time starts fresh (`"new"`); the old name of a
 * renamed limiter takes the default options, or keeps its own when there are none. Its counts (granted,
 * rejected, waited) always carry on. A limiter shared through a `RedisBreakerStore` keeps its sharing as built
 * (its algorithm, limit, window, keys and share, which its replicas agree on): only its `wait` applies, and
 * `reason` says so.
 *
 * **Example**
 *
 * ```ts
 * import type { RateLimiterRegistry } from "@effect-resilience/core"
 *
 * const note = (change: RateLimiterRegistry.LimiterChange) =>
 *   change.state === "reset" ? `${change.name}: reset (${change.reason})` : `${change.name}: ${change.change}`
 * ```
 *
 * @since 0.6.0
 * @category models
 */
export interface LimiterChange {
  readonly name: string
  readonly change: "added" | "updated" | "removed"
  readonly state: "kept" | "new" | "reset"
  readonly reason?: string | undefined
}

// (a limiter has no default options unless given: `limit` and `window` are required)
const check = (options: Options) =>
  Effect.gen(function*() {
    const { configs, defaults, issues } = yield* Registry.check(
      options,
      decodeOptions,
      (input: RateLimiter.Options | undefined) => RateLimiter.validate(input!),
      "limiters",
      true
    )
    if (issues.length > 0) return yield* new ConfigError.ConfigError({ issues })
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
 * import { RateLimiterRegistry } from "@effect-resilience/core"
 *
 * // fails with "Invalid options: limiters.api.window: Expected a finite duration of at least 1 millisecond, got -1"
 * const checked = RateLimiterRegistry.validate({ limiters: { api: { limit: 5, window: -1 } } }).pipe(Effect.flip)
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(check(options))

/**
 * A layer providing the registry; its build fails with a `ConfigError.ConfigError` when any options are invalid.
 * With `RedisBreakerStore` provided to it, its limiters share their limits across the fleet.
 *
 * **Example**
 *
 * ```ts
 * import { RateLimiterRegistry } from "@effect-resilience/core"
 *
 * const Limiters = RateLimiterRegistry.layer({ limiters: { api: { limit: 50, window: "1 second" } } })
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<RateLimiterRegistry, ConfigError.ConfigError> =>
  Layer.effect(RateLimiterRegistry, make(options))

/**
 * Options of {@link make}: the options of limiters without their own (`default`), and of named ones
 * (`limiters`). Named options replace the default ones as a whole.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly default?: RateLimiter.Options | undefined
  readonly limiters?: Readonly<Record<string, RateLimiter.Options>> | undefined
}

const OptionsSchema = objectOf(Schema.Struct({
  default: Schema.optional(Schema.Unknown),
  limiters: Schema.optional(objectOf(Schema.Record(Schema.String, Schema.Unknown)))
}))

const decodeOptions = Schema.decodeUnknownExit(OptionsSchema)

/**
 * The limiter of a name, from the registry.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiterRegistry } from "@effect-resilience/core"
 *
 * const left = Effect.flatMap(RateLimiterRegistry.limiter("api"), (l) => l.remaining("tenant-7"))
 * ```
 *
 * @since 0.3.0
 * @category accessors
 */
export const limiter = (name: string): Effect.Effect<RateLimiter.RateLimiter, never, RateLimiterRegistry> =>
  RateLimiterRegistry.useSync((registry) => registry.limiter(name))

/**
 * The figures of every limiter built so far, sorted by name.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiterRegistry } from "@effect-resilience/core"
 *
 * const degraded = Effect.map(RateLimiterRegistry.states, (states) => states.filter((s) => s.mode === "degraded"))
 * ```
 *
 * @since 0.3.0
 * @category accessors
 */
export const states: Effect.Effect<ReadonlyArray<RateLimiter.State>, never, RateLimiterRegistry> =
  RateLimiterRegistry.use((registry) => registry.states)

/**
 * Runs an effect once the named limiter of the registry in the context gives it a permit for `key`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiterRegistry } from "@effect-resilience/core"
 *
 * declare const report: Effect.Effect<string>
 *
 * // Effect<string, RateLimitedError, RateLimiterRegistry>
 * const limited = report.pipe(RateLimiterRegistry.withRateLimit("exports", "tenant-7"))
 * ```
 *
 * @since 0.3.0
 * @category combinators
 */
export const withRateLimit: {
  (name: string, key?: string): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RateLimiter.RateLimitedError, R | RateLimiterRegistry>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string,
    key?: string
  ): Effect.Effect<A, E | RateLimiter.RateLimitedError, R | RateLimiterRegistry>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, key?: string) =>
    Registry.perRegistry(RateLimiterRegistry, (registry) => registry.limiter(name).execute(self, key))
)
