// The fleet: one Redis connection shared by every breaker store and shared rate limiter of a process, its mode
// (shared while Redis answers, degraded while it does not), the subscription to the other replicas' changes, the
// periodic resync that repairs what pub/sub lost, and the health check that brings a degraded fleet back.
import type * as Redis from "effect/persistence/Redis"
import type { Scope } from "effect"
import { Cause, Effect, FiberSet, Latch, Queue, Random } from "effect"
import * as Chaos from "../../Chaos.js"
import type * as CircuitBreaker from "../../CircuitBreaker.js"
import type * as RateLimiter from "../../RateLimiter.js"
import type { Decider } from "../rateLimit/limiter.js"
import * as SharedLimiter from "../rateLimit/shared.js"
import type { MakeStore } from "../breaker/store.js"
import type { Observer } from "../observation.js"
import { channelOf, encode, refusal, targetOf } from "./keys.js"
import type { Reply } from "./scripts.js"
import * as SharedStore from "./sharedStore.js"

/** The fleet's settings, validated (milliseconds). */
export interface Settings {
  readonly prefix: string
  readonly replica: string
  readonly storeTimeoutMillis: number
  readonly syncIntervalMillis: number
  readonly leaseMillis: number
  readonly reconnectIntervalMillis: number
}

export type Mode = "shared" | "degraded"

export interface Fleet {
  readonly replica: string
  readonly mode: () => Mode
  /** Waits until the mode is shared. */
  readonly awaitShared: Effect.Effect<void>
  /** The store of a breaker, or a reason it cannot be shared (its name). */
  readonly storeFor: (name: string, config: CircuitBreaker.Config, observer: Observer) => MakeStore | string
  /** Resyncs every breaker now (nothing while degraded). */
  readonly syncAll: Effect.Effect<void>
  /** The shared decider of a rate limiter, or a reason it cannot be shared (its name). */
  readonly limiterFor: (name: string, config: RateLimiter.Config) => Decider | string
  /**
   * Publishes a live-view frame (a JSON-encodable value) on the fleet's channel, under the store timeout, saying
   * whether a client of this replica watches it (`watched`: the other replicas publish theirs while one does);
   * nothing while degraded.
   */
  readonly publishView: (frame: unknown, watched: boolean) => Effect.Effect<void>
  /** Calls `listener` with every live-view frame published on the channel (this replica's own too); unregisters. */
  readonly onView: (listener: (frame: unknown, watched: boolean) => void) => () => void
}

type RedisService = Redis.Redis["Service"]

// one line for a log: the message of the error a cause holds (a RedisError's own cause first)
const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause) as { readonly message?: unknown; readonly cause?: { readonly message?: unknown } }
  const message = error?.cause?.message ?? error?.message
  return typeof message === "string" && message !== "" ? message : String(error)
}

/**
 * Runs a fleet for the life of the current scope. `connect` gives the Redis service: at once (`layer`), or once
 * it could be built (`layerFrom`, retried in the background every reconnect interval); until then the fleet is
 * degraded.
 */
export const make = (
  settings: Settings,
  connect: Effect.Effect<RedisService, unknown>
): Effect.Effect<Fleet, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = yield* FiberSet.makeRuntime<never>()
    // the chaos layer's Redis faults, when one is in the store's context (read at each command: they can change)
    const chaosService = yield* Effect.serviceOption(Chaos.Chaos)
    const chaos = chaosService._tag === "Some" ? chaosService.value : undefined
    const redisFaults = (): { readonly faults: Chaos.CompiledRedis; readonly current: Chaos.Current } | undefined => {
      const current = chaos === undefined ? undefined : Chaos.currentOf(chaos)
      return current === undefined || !current.enabled || current.redis === undefined
        ? undefined
        : { faults: current.redis, current }
    }
    // a command as the chaos layer has it: cut (failing as if Redis were gone), or late
    const faulty = <A>(command: Effect.Effect<A, unknown>): Effect.Effect<A, unknown> => {
      if (chaos === undefined) return command
      return Effect.withFiber((fiber) => {
        const found = redisFaults()
        if (found === undefined) return command
        const { current, faults } = found
        if (Chaos.fires(faults.cut, fiber.getRef(Random.Random))) {
          current.injected("redis", "redis_cut")
          return Effect.fail(new Error("chaos: Redis cut"))
        }
        if (faults.delayMillis > 0) {
          current.injected("redis", "redis_delay")
          return Effect.andThen(Effect.sleep(faults.delayMillis), command)
        }
        return command
      })
    }
    const fork = (effect: Effect.Effect<unknown>) => {
      runFork(effect)
    }
    const channel = channelOf(settings.prefix)
    const members = new Map<string, SharedStore.Member>()
    const viewListeners = new Set<(frame: unknown, watched: boolean) => void>()
    let redis: RedisService | undefined
    let mode: Mode = "degraded"
    // how many times the fleet became shared (what a shared limiter's leases belong to)
    let episodes = 0
    const shared = Latch.makeUnsafe(false)
    let everShared = false

    // logged once per change of mode, never per call, by a fiber of the store's (with the store's logger and
    // annotations, not those of the call that met the failure)
    const setMode = (next: Mode, cause?: Cause.Cause<unknown>): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (mode === next) return Effect.void
        mode = next
        if (next === "shared") {
          episodes++
          Latch.openUnsafe(shared)
        } else Latch.closeUnsafe(shared)
        const annotations = { replica: settings.replica, prefix: settings.prefix }
        if (next === "degraded") {
          fork(
            Effect.logWarning(
              "breaker store degraded: Redis unreachable, breakers and rate limiters decide locally until it answers",
              ...(cause !== undefined ? [describe(cause)] : [])
            ).pipe(Effect.annotateLogs(annotations))
          )
          return Effect.forEach(members.values(), (member) => member.degraded, { discard: true })
        }
        const first = !everShared
        everShared = true
        return Effect.sync(() => {
          fork(
            Effect.logInfo(first ? "breaker store shared on Redis" : "breaker store reachable again: resyncing")
              .pipe(Effect.annotateLogs(annotations))
          )
          fork(syncAll)
        })
      })

    const withTimeout = <A>(effect: Effect.Effect<A, unknown>): Effect.Effect<A | undefined> =>
      effect.pipe(
        Effect.timeoutOrElse({
          duration: settings.storeTimeoutMillis,
          orElse: () => Effect.fail(new Cause.TimeoutError(`Redis did not answer within ${settings.storeTimeoutMillis} ms`))
        }),
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.interrupt : Effect.as(setMode("degraded", cause), undefined)
        )
      )

    // one Redis call under the store timeout: undefined when the fleet is degraded, or when the call fails or does
    // not answer in time (which degrades the fleet)
    const call = <A>(f: (redis: RedisService) => Effect.Effect<A, unknown>): Effect.Effect<A | undefined> =>
      Effect.suspend(() =>
        redis === undefined || mode === "degraded" ? Effect.succeed(undefined) : withTimeout(faulty(f(redis)))
      )

    const run = (script: (redis: SharedStore.RedisLike) => Effect.Effect<Reply, unknown>) => call(script)

    const syncAll: Effect.Effect<void> = Effect.suspend(() =>
      mode === "degraded"
        ? Effect.void
        : Effect.forEach(members.values(), (member) => member.sync, { concurrency: 32, discard: true })
    )

    const fleet: SharedStore.Fleet = {
      replica: settings.replica,
      leaseMillis: settings.leaseMillis,
      sharing: () => mode === "shared",
      run,
      fork
    }

    const limiters: SharedLimiter.Fleet = {
      replica: settings.replica,
      prefix: settings.prefix,
      episode: () => (mode === "shared" ? episodes : 0),
      call,
      fork: (effect) => runFork(effect)
    }

    // --- the other replicas' changes, for as long as the fleet lives; a lost subscription is made again, and
    // every (re)subscription is followed by a resync (messages published meanwhile are lost)
    const receive = (message: string) =>
      Effect.suspend(() => {
        let parsed: unknown
        try {
          parsed = JSON.parse(message)
        } catch {
          return Effect.void
        }
        if (typeof parsed !== "object" || parsed === null) return Effect.void
        const m = parsed as { readonly [key: string]: unknown }
        if ("view" in m) {
          for (const listener of viewListeners) listener(m.view, m.watched === true)
          return Effect.void
        }
        const member = typeof m.key === "string" ? members.get(m.key) : undefined
        if (member === undefined || typeof m.status !== "string" || typeof m.gen !== "number") return Effect.void
        return member.receive({
          status: m.status,
          generation: m.gen,
          remaining: Number(m.remaining ?? 0),
          openings: Number(m.openings ?? 0),
          epoch: Number(m.epoch ?? 0),
          lastOpen: Number(m.lastOpen ?? 0),
          holder: typeof m.holder === "string" ? m.holder : "",
          leaseRemaining: Number(m.leaseRemaining ?? 0),
          by: typeof m.by === "string" ? m.by : "",
          reason: typeof m.reason === "string" ? m.reason : ""
        })
      })

    const listen = (service: RedisService) =>
      Effect.scoped(Effect.gen(function*() {
        const queue = yield* service.subscribe(channel)
        fork(syncAll)
        while (true) {
          const message = yield* Queue.take(queue)
          const found = redisFaults()
          if (
            found === undefined ||
            (found.faults.drop === 0 && found.faults.messageDelayMillis === 0 && found.faults.cut === 0)
          ) {
            yield* receive(message.message)
            continue
          }
          // chaos: a message lost (dropped, or Redis cut: a cut Redis delivers nothing), or handled late; the live
          // view's frames are left alone
          const { current, faults } = found
          const random = yield* Random.Random
          if (message.message.startsWith("{\"view\"")) {
            yield* receive(message.message)
          } else if (Chaos.fires(faults.cut, random)) {
            current.injected("redis", "redis_cut")
          } else if (Chaos.fires(faults.drop, random)) {
            current.injected("redis", "message_drop")
          } else if (faults.messageDelayMillis > 0) {
            current.injected("redis", "message_delay")
            fork(Effect.andThen(Effect.sleep(faults.messageDelayMillis), receive(message.message)))
          } else {
            yield* receive(message.message)
          }
        }
      })).pipe(
        Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.interrupt : Effect.void),
        Effect.andThen(Effect.sleep(settings.reconnectIntervalMillis)),
        Effect.forever
      )

    // --- the resync, every sync interval jittered by ±20 % (so the replicas do not resync in step)
    const syncLoop = Effect.gen(function*() {
      while (true) {
        const jitter = 0.8 + 0.4 * (yield* Random.next)
        yield* Effect.sleep(Math.round(settings.syncIntervalMillis * jitter))
        yield* syncAll
      }
    })

    // --- the health check of a degraded fleet
    const healthLoop = Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(settings.reconnectIntervalMillis)
        const service = redis
        if (mode === "degraded" && service !== undefined) {
          const answered = yield* withTimeoutQuiet(faulty(service.send("PING")))
          if (answered) yield* setMode("shared")
        }
      }
    })
    const withTimeoutQuiet = (effect: Effect.Effect<unknown, unknown>) =>
      effect.pipe(
        Effect.timeoutOption(settings.storeTimeoutMillis),
        Effect.map((answer) => answer._tag === "Some"),
        Effect.catch(() => Effect.succeed(false)),
        Effect.catchDefect(() => Effect.succeed(false))
      )

    // --- connecting: at once or in the background; until then the fleet is degraded, said once (a client that
    // retries its connection by itself never fails to connect: it is late, and said so after one reconnect interval)
    let warned = false
    const unreachable = (cause?: Cause.Cause<unknown>) =>
      Effect.suspend(() => {
        if (warned || redis !== undefined) return Effect.void
        warned = true
        return Effect.logWarning(
          "breaker store: Redis unreachable at start-up, breakers and rate limiters decide locally until it answers",
          ...(cause !== undefined ? [describe(cause)] : [])
        ).pipe(Effect.annotateLogs({ replica: settings.replica, prefix: settings.prefix }))
      })
    const connectLoop = Effect.gen(function*() {
      while (true) {
        const connected = yield* connect.pipe(
          Effect.map((service): RedisService | undefined => service),
          Effect.catchCause((cause) =>
            Cause.hasInterruptsOnly(cause) ? Effect.interrupt : Effect.as(unreachable(cause), undefined)
          )
        )
        if (connected !== undefined) {
          redis = connected
          fork(listen(connected))
          if (yield* withTimeoutQuiet(faulty(connected.send("PING")))) yield* setMode("shared")
          return
        }
        yield* Effect.sleep(settings.reconnectIntervalMillis)
      }
    })

    fork(connectLoop)
    fork(Effect.andThen(Effect.sleep(settings.reconnectIntervalMillis), unreachable()))
    fork(syncLoop)
    fork(healthLoop)

    return {
      replica: settings.replica,
      mode: () => mode,
      awaitShared: Latch.await(shared),
      syncAll,
      publishView: (frame, watched) =>
        Effect.asVoid(call((redis) => redis.send("PUBLISH", channel, JSON.stringify({ view: frame, watched })))),
      onView: (listener) => {
        viewListeners.add(listener)
        return () => {
          viewListeners.delete(listener)
        }
      },
      limiterFor: (name, config) => refusal(name) ?? SharedLimiter.make(limiters, name, config),
      storeFor: (name, config, observer) => {
        const refused = refusal(name)
        if (refused !== undefined) return refused
        return SharedStore.make({
          fleet,
          target: targetOf(settings.prefix, settings.replica, name),
          name,
          config,
          observer,
          // a replica not seen for three resyncs no longer counts for the rule comparison
          fingerprintFreshMillis: settings.syncIntervalMillis * 3,
          register: (member) => {
            members.set(encode(name), member)
            fork(member.sync)
          }
        })
      }
    } satisfies Fleet
  })
