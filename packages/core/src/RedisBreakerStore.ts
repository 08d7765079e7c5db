/**
 * Circuit breakers shared by every replica of a service, on Redis, with **no Redis round trip on the hot path**.
 *
 * Provide this layer to `ErrorLayer.layer` (or `BreakerRegistry.layer`) and every breaker of the registry shares
 * its openings with the other replicas using the same Redis and prefix:
 *
 * - **Local first.** Every call decides from the replica's own copy of the state, exactly as a local breaker
 *   does; the trip rules count this replica's outcomes. Redis is touched only on transitions: a trip, claiming
 *   the probe, closing, re-opening, a manual state.
 * - **Transitions as compare-and-set** on the breaker's fleet generation, one server-side script each, with every
 *   time taken from Redis `TIME` (no clock skew between replicas) and the change published in the same script.
 *   Two replicas tripping at once make one opening. A replica that trips opens at once and confirms in the
 *   background.
 * - **Propagation.** Replicas subscribe to the changes and adopt a newer generation; messages carry the time an
 *   opening has left, not a deadline. Pub/sub may lose messages (a reconnect, a slow subscriber), so every known
 *   breaker is resynced every `syncInterval` (±20 % jitter), when it is first used, and whenever Redis answers
 *   again after an outage: **a replica that missed a change adopts it within 1.2 × `syncInterval`** (while Redis
 *   answers it).
 * - **One probe for the fleet** per half-open period while Redis answers, through a lease renewed every third of
 *   `probeLease`. A lease that lapses (the holder died or lost Redis) lets another replica probe, and the old
 *   holder's outcome is fenced off by the generation. The probe is the only call that waits on Redis: for its
 *   claim (one call per replica and opening; the others of that replica wait for the same claim) and for its
 *   settlement (the close or re-opening, so a fenced-off holder never applies its outcome), each within
 *   `storeTimeout`. Every other call decides from local state.
 * - **Redis down or slow.** No Redis call is waited on longer than `storeTimeout`. The first failure puts the
 *   store in `degraded` mode (logged once, shown in each breaker's `state().shared.mode` and the
 *   `resilience_breaker_shared_degraded` gauge): breakers decide alone, as local breakers (one probe per replica at
 *   most). Redis is checked every `reconnectInterval`; when it answers the breakers resync, and what a breaker did
 *   meanwhile is asserted for the fleet: an opening (an opening wins until its deadline), the close or re-opening
 *   its own probe reached, a manual state.
 * - **Quorum.** A breaker with `share: { quorum, within }` opens the fleet only once `quorum` replicas tripped
 *   within `within`; a replica that trips still opens for itself at once (one bad node does not poison the
 *   others). `share: "off"` keeps a breaker local.
 * - **Rules compared.** Each replica stores a hash of each breaker's rules; a breaker configured differently on
 *   another replica is logged once and shown in `state().shared.rulesMismatch`.
 *
 * Breaker names are stored percent-encoded (no key or channel injection); a name longer than 512 bytes encoded is
 * refused with a `ConfigError` when configured, and stays local (logged once) when made at run time.
 *
 * What the fleet does not guarantee: during a partition each side decides alone (a replica cut off from Redis is
 * degraded and probes on its own); a replica that missed a message is stale for at most 1.2 × `syncInterval`; a
 * trip confirmed after `storeTimeout` is still applied by Redis, and adopted by the others, when it arrives.
 *
 * **Example**
 *
 * ```ts
 * import { NodeRedis } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { ErrorLayer, RedisBreakerStore } from "@effect-resilience/core"
 *
 * // startup never waits on Redis: the store is degraded until the client connects
 * const Shared = RedisBreakerStore.layerFrom(
 *   NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url: "redis://127.0.0.1:6379" })),
 *   { prefix: "shop:breakers:" }
 * )
 * const Live = ErrorLayer.layer({ breakers: { default: { share: "any" } } }).pipe(Layer.provide(Shared))
 * ```
 *
 * @since 0.2.0
 */
import * as Redis from "effect/persistence/Redis"
import { Context, Duration, Effect, Exit, Fiber, Layer, References, Schema, Scope } from "effect"
import * as ConfigError from "./ConfigError.js"
import * as Fleet from "./internal/fleet/fleet.js"
import { guarded, objectOf, show } from "./internal/unknownKeys.js"

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * The shared store of this process.
 *
 * - `replica`: this replica's id (the `replica` option, or one made from a random number and the process id).
 * - `mode`: `"shared"` while Redis answers, `"degraded"` while it does not.
 * - `sync`: resyncs every breaker now (nothing while degraded).
 * - `awaitShared`: waits until the mode is `"shared"` (at once when it is); bound it with `Effect.timeout` to wait
 *   for Redis at start-up without depending on it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RedisBreakerStore } from "@effect-resilience/core"
 *
 * const mode = RedisBreakerStore.RedisBreakerStore.use((store) => store.mode)
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisBreakerStore {
  readonly replica: string
  readonly mode: Effect.Effect<"shared" | "degraded">
  readonly sync: Effect.Effect<void>
  readonly awaitShared: Effect.Effect<void>
}

/**
 * The shared store's service, read by `BreakerRegistry` when it builds its breakers.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RedisBreakerStore } from "@effect-resilience/core"
 *
 * const replica = RedisBreakerStore.RedisBreakerStore.useSync((store) => store.replica)
 * ```
 *
 * @since 0.2.0
 * @category services
 */
export const RedisBreakerStore: Context.Service<RedisBreakerStore, RedisBreakerStore> = Context.Service<
  RedisBreakerStore
>("@effect-resilience/core/RedisBreakerStore")

/**
 * Options of the shared store.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `prefix` | prefix of every key and of the channel (letters, digits, `:._-`, at most 64) | `"resilience:breaker:"` |
 * | `replica` | this replica's id, unique per process (letters, digits, `:._-`, at most 128): replicas sharing an id ignore each other's changes and share one probe lease | random, with the process id |
 * | `storeTimeout` | the longest any Redis call may take; a call past it degrades the store | 100 millis |
 * | `syncInterval` | how often every breaker is resynced (±20 %) | 5 seconds |
 * | `probeLease` | the probe lease, renewed every third of it while the probe runs | 10 seconds |
 * | `reconnectInterval` | how often a degraded store checks Redis | 1 second |
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly prefix?: string | undefined
  readonly replica?: string | undefined
  readonly storeTimeout?: Duration.Input | undefined
  readonly syncInterval?: Duration.Input | undefined
  readonly probeLease?: Duration.Input | undefined
  readonly reconnectInterval?: Duration.Input | undefined
}

const PositiveDuration = guarded(
  (u: unknown): u is Duration.Input => {
    if (typeof u === "number" && !(u > 0)) return false
    const duration = Duration.fromInput(u as Duration.Input)
    return duration._tag === "Some" && Duration.isFinite(duration.value) && Duration.toMillis(duration.value) > 0
  },
  (u) => `Expected a finite, positive duration, got ${show(u)}`
)

const Name = (max: number) =>
  guarded(
    (u: unknown): u is string => typeof u === "string" && new RegExp(`^[A-Za-z0-9:._-]{1,${max}}$`).test(u),
    (u) => `Expected 1 to ${max} letters, digits or ":._-", got ${show(u)}`
  )

const OptionsSchema = objectOf(Schema.Struct({
  prefix: Schema.optional(Name(64)),
  replica: Schema.optional(Name(128)),
  storeTimeout: Schema.optional(PositiveDuration),
  syncInterval: Schema.optional(PositiveDuration),
  probeLease: Schema.optional(PositiveDuration),
  reconnectInterval: Schema.optional(PositiveDuration)
}))

const decodeOptions = Schema.decodeUnknownEffect(OptionsSchema)

const millis = (input: Duration.Input | undefined, fallback: number) =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

const defaultReplica = () => {
  const pid = (globalThis as { readonly process?: { readonly pid?: number } }).process?.pid
  return `${Math.random().toString(36).slice(2, 10)}${pid !== undefined ? `-${pid}` : ""}`
}

const settingsOf = (options: Options = {}): Effect.Effect<Fleet.Settings, ConfigError.ConfigError> =>
  decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })),
    Effect.map((decoded): Fleet.Settings => ({
      prefix: decoded.prefix ?? "resilience:breaker:",
      replica: decoded.replica ?? defaultReplica(),
      storeTimeoutMillis: millis(decoded.storeTimeout, 100),
      syncIntervalMillis: millis(decoded.syncInterval, 5_000),
      leaseMillis: millis(decoded.probeLease, 10_000),
      reconnectIntervalMillis: millis(decoded.reconnectInterval, 1_000)
    }))
  )

// ---------------------------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------------------------

/** @internal the fleet behind a store, read by `BreakerRegistry` */
export const fleetOf = (store: RedisBreakerStore): Fleet.Fleet | undefined => fleets.get(store)

const fleets = new WeakMap<RedisBreakerStore, Fleet.Fleet>()

const makeWith = (
  options: Options | undefined,
  connect: Effect.Effect<Redis.Redis["Service"], unknown>
): Effect.Effect<RedisBreakerStore, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* settingsOf(options)
    const fleet = yield* Fleet.make(settings, connect)
    const store: RedisBreakerStore = {
      replica: settings.replica,
      mode: Effect.sync(fleet.mode),
      sync: fleet.syncAll,
      awaitShared: fleet.awaitShared
    }
    fleets.set(store, fleet)
    return store
  })

/**
 * The shared store on the `Redis` service given (effect's `effect/persistence/Redis`). Configure its client so
 * that it never queues commands while disconnected and times every command out (see {@link nodeRedisOptions});
 * the store bounds every call by `storeTimeout` either way.
 *
 * **Example**
 *
 * ```ts
 * import { NodeRedis } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { RedisBreakerStore } from "@effect-resilience/core"
 *
 * const Store = RedisBreakerStore.layer({ storeTimeout: "50 millis" }).pipe(
 *   Layer.provide(NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url: "redis://127.0.0.1:6379" })))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<RedisBreakerStore, ConfigError.ConfigError, Redis.Redis> =>
  Layer.effect(
    RedisBreakerStore,
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      return yield* makeWith(options, Effect.succeed(redis))
    })
  )

/**
 * The shared store on the `Redis` service `redis` builds, built in the background: startup never waits on Redis.
 * Until the layer is built (retried every `reconnectInterval`) the store is degraded and the breakers are local.
 * The client's own log lines below `Error` (node-redis warns on every reconnect attempt) are dropped: the store
 * logs once when Redis goes away and once when it is back. Releasing the layer closes the client within one
 * second: a node-redis client (`NodeRedis.layer`) still waiting on a server that stopped answering is then
 * destroyed, so a frozen Redis never holds up the program's shutdown.
 *
 * **Example**
 *
 * ```ts
 * import { NodeRedis } from "@effect/platform-node"
 * import { RedisBreakerStore } from "@effect-resilience/core"
 *
 * const Store = RedisBreakerStore.layerFrom(
 *   NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url: "redis://127.0.0.1:6379" }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerFrom = <E, R>(
  redis: Layer.Layer<Redis.Redis, E, R>,
  options?: Options
): Layer.Layer<RedisBreakerStore, ConfigError.ConfigError, R> =>
  Layer.effect(
    RedisBreakerStore,
    Effect.gen(function*() {
      const context = yield* Effect.context<R>()
      // the client lives in a scope of its own, closed within a bound: node-redis's `close` waits for the replies
      // of commands in flight, which a frozen server never sends, and would hold the program's shutdown for ever
      const clients = yield* Scope.make()
      let built: Context.Context<Redis.Redis> | undefined
      // (closing is uninterruptible: it runs in a fiber of its own, which the release waits for within the bound)
      yield* Effect.addFinalizer(() =>
        Effect.forkDetach(Scope.close(clients, Exit.void)).pipe(
          Effect.flatMap((closing) => Effect.timeoutOption(Fiber.await(closing), closeMillis)),
          Effect.flatMap((closed) =>
            Effect.sync(() => {
              if (closed._tag === "None" && built !== undefined) {
                Context.getOption(built, NodeRedisClient).pipe((found) => {
                  if (found._tag === "Some") found.value.client.destroy()
                })
              }
            })
          )
        )
      )
      // each attempt in a scope of its own, closed when it fails (a client that could not connect is let go)
      const connect = Effect.gen(function*() {
        const attempt = yield* Scope.fork(clients)
        const context = yield* Layer.buildWithScope(redis, attempt).pipe(
          Effect.onError((cause) => Scope.close(attempt, Exit.failCause(cause)))
        )
        built = context
        return Context.get(context, Redis.Redis)
      }).pipe(
        Effect.provideContext(context),
        // the client's own warning on every reconnect attempt is dropped: the store says once when Redis goes
        // and once when it is back
        Effect.provideService(References.MinimumLogLevel, "Error")
      )
      return yield* makeWith(options, connect)
    })
  )

// how long closing the client may hold the layer's release before it is destroyed
const closeMillis = 1_000

// `@effect/platform-node`'s NodeRedis service, found by its key when the layer given provides it (this package
// does not depend on platform-node): a client whose graceful close does not end in time is destroyed
const NodeRedisClient = Context.Service<{ readonly client: { readonly destroy: () => void } }>(
  "@effect/platform-node/NodeRedis"
)

/**
 * Options for node-redis (`NodeRedis.layer`) that suit a breaker store: commands fail at once while the client is
 * disconnected instead of queueing (`disableOfflineQueue`), every command times out after `commandTimeout`
 * (default 100 millis), connecting times out after `connectTimeout` (default 1 second), and the client reconnects
 * forever, backing off from 50 millis to `maxReconnectDelay` (default 1 second) with jitter. `url` and any other
 * node-redis option (`username`, `password`, `database`, `socket.tls`...) are passed on.
 *
 * The client's command timeout does not cover everything: with node-redis 6.3, a command already written to a
 * server that stopped answering (a frozen process, a network black hole) was not rejected by it (seen here with a
 * 50 ms timeout and a stopped `redis-server`). That is why the store bounds every call itself by `storeTimeout`,
 * and while degraded sends Redis nothing but one `PING` per `reconnectInterval`: what such a server holds up is
 * those pings, not calls.
 *
 * **Example**
 *
 * ```ts
 * import { NodeRedis } from "@effect/platform-node"
 * import { RedisBreakerStore } from "@effect-resilience/core"
 *
 * const Client = NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url: "redis://127.0.0.1:6379" }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const nodeRedisOptions = <O extends { readonly url?: string | undefined; readonly socket?: object | undefined }>(
  options: O & {
    readonly commandTimeout?: Duration.Input | undefined
    readonly connectTimeout?: Duration.Input | undefined
    readonly maxReconnectDelay?: Duration.Input | undefined
  }
): Omit<O, "commandTimeout" | "connectTimeout" | "maxReconnectDelay"> & NodeRedisSettings => {
  const { commandTimeout, connectTimeout, maxReconnectDelay, ...rest } = options
  const maxDelay = millis(maxReconnectDelay, 1_000)
  return {
    ...rest,
    disableOfflineQueue: true,
    commandOptions: { timeout: millis(commandTimeout, 100) },
    socket: {
      ...rest.socket,
      connectTimeout: millis(connectTimeout, 1_000),
      reconnectStrategy: (retries: number) =>
        Math.min(2 ** retries * 50, maxDelay) + Math.floor(Math.random() * 100)
    }
  } as Omit<O, "commandTimeout" | "connectTimeout" | "maxReconnectDelay"> & NodeRedisSettings
}

/**
 * The node-redis settings {@link nodeRedisOptions} sets.
 *
 * @since 0.2.0
 * @category models
 */
export interface NodeRedisSettings {
  readonly disableOfflineQueue: true
  readonly commandOptions: { readonly timeout: number }
  readonly socket: {
    readonly connectTimeout: number
    readonly reconnectStrategy: (retries: number) => number
  }
}
