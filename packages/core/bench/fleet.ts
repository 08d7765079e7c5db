/**
 * The benchmark's Redis scenarios (issue 15), on a real `redis-server` (see `redisServer.ts`), all on loopback:
 *
 * - `breaker.shared.success`, timed by the suite like every other scenario: the closed path of a breaker of ours on
 *   the shared store (`RedisBreakerStore`), of the same breaker on the memory store, and of effect's breaker on its
 *   Redis store (`layerStoreRedis`), with the Redis commands each closed call costs (`INFO commandstats` around
 *   every measured loop, and the commands clients sent during one checked batch, read with `MONITOR`).
 * - `fleet.outage`, on real time: three replicas in this process (each with its own Redis clients), a dependency
 *   that fails hard from t0, a steady request rate spread round-robin over the replicas; the calls that still reach
 *   the dependency after the first replica opened, for our shared store, our local store and effect's Redis store;
 *   and, for our shared store, how long after one replica's trip the others reject.
 * - `ratelimit.shared` (issue 16), timed like `breaker.shared.success`: one permit of a rate limiter with permits to
 *   spare, ours from a `RateLimiterRegistry` on the shared store (leases from Redis), ours on the memory store, and
 *   effect's `RateLimiter` on its Redis store (`layerStoreRedis`), with the Redis commands each call costs.
 */
import {
  BreakerRegistry,
  CommonErrors,
  RateLimiterRegistry,
  RedisBreakerStore,
  TripRule
} from "@effect-resilience/core"
import { NodeRedis } from "@effect/platform-node"
import { Context, Duration, Effect, Exit, Layer, Logger, ManagedRuntime, Scope, Stream } from "effect"
import { CircuitBreaker as EffectBreaker, RateLimiter as EffectRateLimiter } from "effect/persistence"
import { randomBytes } from "node:crypto"
import { createClient } from "redis"
import type { Case, Contender, Scenario, Scenarios } from "./scenarios.js"

const silent = Logger.layer([Logger.make(() => {})])
const hour = 3_600_000
const failure = new CommonErrors.StorageError({ operation: "bench" })
const uniquePrefix = (label: string) => `bench:${label}:${randomBytes(6).toString("hex")}:`
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const round3 = (x: number) => Math.round(x * 1000) / 1000
const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
/** The nearest-rank percentile `p` (0 to 100) of `xs`. */
const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const waitFor = async (what: string, done: () => Promise<boolean>, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

// --- Redis command counts ---------------------------------------------------------------------------------------

interface CommandCounter {
  /** The commands Redis has executed so far (script-internal ones included), INFO excluded. */
  readonly executed: () => Promise<number>
  /** The commands clients sent while `run` ran (read with MONITOR): script-internal ones and INFO excluded. */
  readonly sentDuring: (run: () => Promise<unknown>) => Promise<number>
  /** Deletes every key under `prefix`. */
  readonly clean: (prefix: string) => Promise<void>
  readonly close: () => void
}

const commandCounter = async (url: string): Promise<CommandCounter> => {
  const client = createClient({ url })
  client.on("error", () => {})
  await client.connect()
  return {
    executed: async () => {
      const info = String(await client.sendCommand(["INFO", "commandstats"]))
      let total = 0
      for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (match[1] !== "info") total += Number(match[2])
      }
      return total
    },
    sentDuring: async (run) => {
      const monitor = client.duplicate()
      monitor.on("error", () => {})
      await monitor.connect()
      let sent = 0
      await monitor.monitor((line) => {
        const text = String(line)
        if (/\[\d+ lua\]/.test(text) || /\] "(info|monitor)"/i.test(text)) return
        sent++
      })
      await run()
      await sleep(50)
      monitor.destroy()
      return sent
    },
    clean: async (prefix) => {
      let cursor = "0"
      do {
        const [next, keys] = await client.sendCommand<[string, Array<string>]>([
          "SCAN", cursor, "MATCH", `${prefix}*`, "COUNT", "1000"
        ])
        cursor = String(next)
        if (keys.length > 0) await client.sendCommand(["DEL", ...keys])
      } while (cursor !== "0")
    },
    close: () => client.destroy()
  }
}

const sharedLayer = (url: string, options: RedisBreakerStore.Options) =>
  RedisBreakerStore.layerFrom(NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url })), options)

// --- breaker.shared.success -------------------------------------------------------------------------------------

/**
 * `breaker.shared.success`: the closed path through our breaker on the shared store and on the memory store, and
 * through effect's breaker on its Redis store, each with its Redis commands per call; the floor is the call alone.
 */
export const makeShared = async (url: string, batch = 1000): Promise<Scenarios> => {
  let opCalls = 0
  const op = () => {
    opCalls++
    return Promise.resolve(1)
  }
  const call = Effect.promise(op)
  const loop = <A, E, R>(effect: Effect.Effect<A, E, R>, n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* effect
      return n
    })

  const prefix = uniquePrefix("shared")
  const breakers: BreakerRegistry.Options = { default: { trip: TripRule.consecutive(5), openDuration: hour } }
  // a resync every hour: the sync loop sends nothing while the closed path is measured
  const sharedRuntime = ManagedRuntime.make(BreakerRegistry.layer(breakers).pipe(
    Layer.provideMerge(sharedLayer(url, { prefix, replica: "bench", syncInterval: "1 hour" })),
    Layer.provideMerge(silent)
  ))
  const localRuntime = ManagedRuntime.make(BreakerRegistry.layer(breakers).pipe(Layer.provideMerge(silent)))
  const effectPrefix = `${prefix}effect:`
  const effectRuntime = ManagedRuntime.make(EffectBreaker.layerStoreRedis({ prefix: effectPrefix }).pipe(
    Layer.provideMerge(NodeRedis.layer({ url })),
    Layer.provideMerge(silent)
  ))
  const counter = await commandCounter(url)

  const registry = await sharedRuntime.runPromise(BreakerRegistry.BreakerRegistry.use(Effect.succeed))
  const store = await sharedRuntime.runPromise(RedisBreakerStore.RedisBreakerStore.use(Effect.succeed))
  const localRegistry = await localRuntime.runPromise(BreakerRegistry.BreakerRegistry.use(Effect.succeed))
  const ours = registry.breaker("closed")
  const local = localRegistry.breaker("closed")
  // shared, and the breaker's first read of the fleet's record done
  await waitFor("the shared store to reach Redis", async () =>
    (await Effect.runPromise(store.mode)) === "shared" &&
    ((await Effect.runPromise(ours.state)).shared?.generation ?? -1) >= 0)

  const scope = Effect.runSync(Scope.make())
  const effectBreaker = await effectRuntime.runPromise(
    EffectBreaker.make({ tripPolicy: EffectBreaker.consecutive(5), openDuration: hour }).pipe(Scope.provide(scope))
  )
  const oursCall = ours.execute(call)
  const localCall = local.execute(call)
  const effectCall = call.pipe(effectBreaker.execute({ key: "closed" }))

  // Redis commands executed during the measured loops, and the calls made meanwhile, per contender
  const tally = new Map<Contender, { commands: number; calls: number }>()
  const meter = (contender: Contender) => async () => {
    const commandsBefore = await counter.executed()
    const callsBefore = opCalls
    return async () => {
      const commands = (await counter.executed()) - commandsBefore
      const t = tally.get(contender) ?? { commands: 0, calls: 0 }
      tally.set(contender, { commands: t.commands + commands, calls: t.calls + opCalls - callsBefore })
    }
  }
  const successes = async (runtime: "shared" | "local") =>
    (await Effect.runPromise((runtime === "shared" ? ours : local).state)).calls.success

  const cases: Array<Case> = [
    {
      contender: "floor-effect",
      opCalls: batch,
      run: () => sharedRuntime.runPromise(loop(call, batch)),
      meter: meter("floor-effect")
    },
    {
      contender: "effect-resilience",
      opCalls: batch,
      run: () => sharedRuntime.runPromise(loop(oursCall, batch)),
      counted: () => successes("shared"),
      meter: meter("effect-resilience")
    },
    {
      contender: "effect-resilience-local",
      opCalls: batch,
      run: () => localRuntime.runPromise(loop(localCall, batch)),
      counted: () => successes("local"),
      meter: meter("effect-resilience-local")
    },
    {
      contender: "effect-circuit-breaker-redis",
      opCalls: batch,
      run: () => effectRuntime.runPromise(loop(effectCall, batch)),
      meter: meter("effect-circuit-breaker-redis")
    }
  ]
  const scenario: Scenario = {
    id: "breaker.shared.success",
    description: "circuit breaker, success path, state shared on Redis (ours: RedisBreakerStore; "
      + "effect's: layerStoreRedis), against ours on the memory store",
    calls: batch,
    tags: ["shared", "redis"],
    cases
  }

  const verify = async (s: Scenario, kase: Case) => {
    const countedBefore = await kase.counted?.()
    const before = opCalls
    const done = await kase.run()
    const ran = opCalls - before
    const counted = countedBefore === undefined ? s.calls : (await kase.counted!()) - countedBefore
    if (done !== s.calls || ran !== kase.opCalls || counted !== s.calls) {
      throw new Error(
        `${s.id} ${kase.contender}: ${done} of ${s.calls} calls ended as expected, the operation ran ${ran} ` +
          `times instead of ${kase.opCalls}, and the contender counted ${counted} calls`
      )
    }
    // a store that degraded while measured would be timing a local breaker
    if (kase.contender === "effect-resilience" && (await Effect.runPromise(store.mode)) !== "shared") {
      throw new Error(`${s.id} ${kase.contender}: the shared store is degraded (Redis did not answer in time)`)
    }
  }

  // the commands clients send per call, read with MONITOR during one batch of each case (after a first batch,
  // which loads effect's scripts and opens its connections)
  const sent = new Map<Contender, number>()
  for (const kase of cases) {
    await verify(scenario, kase)
    sent.set(kase.contender, (await counter.sentDuring(() => verify(scenario, kase))) / batch)
  }

  const notes: Partial<Record<Contender, string>> = {
    "floor-effect": "Effect.promise(op) in a fiber, on the runtime of the shared store",
    "effect-resilience": "our breaker on RedisBreakerStore (layerFrom, NodeRedis), consecutive(5); syncInterval 1 hour "
      + "so the resync loop sends nothing while measured: redis_cmds_per_call counts the closed path alone",
    "effect-resilience-local": "the same breaker on the memory store (no RedisBreakerStore)",
    "effect-circuit-breaker-redis": "effect's CircuitBreaker.make with layerStoreRedis (NodeRedis), consecutive(5)"
  }

  return {
    scenarios: [scenario],
    verify,
    fields: (_scenario, contender) => {
      const t = tally.get(contender)
      return {
        ...(t !== undefined && t.calls > 0 ? { redis_cmds_per_call: round3(t.commands / t.calls) } : {}),
        ...(sent.has(contender) ? { redis_client_cmds_per_call: round3(sent.get(contender)!) } : {}),
        ...(notes[contender] !== undefined
          ? {
            note: `${notes[contender]}. redis_cmds_per_call: INFO commandstats around every measured loop (INFO `
              + "excluded, script-internal commands included) over the calls made; redis_client_cmds_per_call: "
              + "commands clients sent per call (MONITOR, one checked batch)"
          }
          : {})
      }
    },
    dispose: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await Promise.all([sharedRuntime, localRuntime, effectRuntime].map((r) => r.dispose()))
      await counter.clean(prefix)
      counter.close()
    }
  }
}

// --- ratelimit.shared -------------------------------------------------------------------------------------------

/** The limit and window of `ratelimit.shared` (as `ratelimit.acquire`'s): permits to spare, one key. */
const sharedLimit = 1e9
const sharedWindow = "1 second"
/** The lease the shared limiter takes at most with its default `share` (a twentieth of the limit, 1 to 100). */
const sharedLease = Math.min(100, Math.max(1, Math.floor(sharedLimit / 20)))

/**
 * `ratelimit.shared`: one permit for key "k" then the call, through our limiter on the shared store (a
 * `RateLimiterRegistry` with `RedisBreakerStore` provided, leasing permits from Redis), the same limiter on the
 * memory store, and effect's `RateLimiter` on its Redis store; each with its Redis commands per call. The floor is
 * the call alone.
 */
export const makeSharedLimiter = async (url: string, batch = 1000): Promise<Scenarios> => {
  let opCalls = 0
  const syncCall = Effect.sync(() => {
    opCalls++
    return 1
  })
  const loopWith = <A, E, R>(f: () => Effect.Effect<A, E, R>, n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* f()
      return n
    })

  const prefix = uniquePrefix("ratelimit")
  const limiters: RateLimiterRegistry.Options = { limiters: { api: { limit: sharedLimit, window: sharedWindow } } }
  // a resync every hour (the breakers' loop sends nothing meanwhile), and room for a loaded machine before a slow
  // answer degrades the store (a degraded limiter decides locally: the check below refuses to time it)
  const sharedRuntime = ManagedRuntime.make(RateLimiterRegistry.layer(limiters).pipe(
    Layer.provideMerge(sharedLayer(url, { prefix, replica: "bench", syncInterval: "1 hour", storeTimeout: "1 second" })),
    Layer.provideMerge(silent)
  ))
  const localRuntime = ManagedRuntime.make(RateLimiterRegistry.layer(limiters).pipe(Layer.provideMerge(silent)))
  const effectPrefix = `${prefix}effect:`
  const effectRuntime = ManagedRuntime.make(EffectRateLimiter.layer.pipe(
    Layer.provideMerge(EffectRateLimiter.layerStoreRedis({ prefix: effectPrefix })),
    Layer.provideMerge(NodeRedis.layer({ url })),
    Layer.provideMerge(silent)
  ))
  const counter = await commandCounter(url)

  const registry = await sharedRuntime.runPromise(RateLimiterRegistry.RateLimiterRegistry.use(Effect.succeed))
  const store = await sharedRuntime.runPromise(RedisBreakerStore.RedisBreakerStore.use(Effect.succeed))
  const localRegistry = await localRuntime.runPromise(RateLimiterRegistry.RateLimiterRegistry.use(Effect.succeed))
  const effectLimiter = await effectRuntime.runPromise(EffectRateLimiter.RateLimiter.use(Effect.succeed))
  const ours = registry.limiter("api")
  const local = localRegistry.limiter("api")
  const modes = async () => ({
    store: await Effect.runPromise(store.mode),
    limiter: (await Effect.runPromise(ours.state)).mode
  })
  await waitFor("the shared store to reach Redis", async () => {
    const { limiter, store } = await modes()
    return store === "shared" && limiter === "shared"
  })
  const window = Duration.seconds(1)

  const tally = new Map<Contender, { commands: number; calls: number }>()
  const meter = (contender: Contender) => async () => {
    const commandsBefore = await counter.executed()
    const callsBefore = opCalls
    return async () => {
      const commands = (await counter.executed()) - commandsBefore
      const t = tally.get(contender) ?? { commands: 0, calls: 0 }
      tally.set(contender, { commands: t.commands + commands, calls: t.calls + opCalls - callsBefore })
    }
  }
  const granted = async (which: "shared" | "local") =>
    (await Effect.runPromise((which === "shared" ? ours : local).state)).granted

  const cases: Array<Case> = [
    {
      contender: "floor-effect",
      opCalls: batch,
      run: () => sharedRuntime.runPromise(loopWith(() => syncCall, batch)),
      meter: meter("floor-effect")
    },
    {
      contender: "effect-resilience",
      opCalls: batch,
      run: () => sharedRuntime.runPromise(loopWith(() => Effect.andThen(ours.acquire("k"), syncCall), batch)),
      counted: () => granted("shared"),
      meter: meter("effect-resilience")
    },
    {
      contender: "effect-resilience-local",
      opCalls: batch,
      run: () => localRuntime.runPromise(loopWith(() => Effect.andThen(local.acquire("k"), syncCall), batch)),
      counted: () => granted("local"),
      meter: meter("effect-resilience-local")
    },
    {
      contender: "effect-rate-limiter-redis",
      opCalls: batch,
      run: () =>
        effectRuntime.runPromise(loopWith(
          () => Effect.andThen(effectLimiter.consume({ key: "k", limit: sharedLimit, window }), syncCall),
          batch
        )),
      meter: meter("effect-rate-limiter-redis")
    }
  ]
  const scenario: Scenario = {
    id: "ratelimit.shared",
    description: "one permit of a rate limiter shared on Redis, with permits to spare (1e9 per second, one key), "
      + "then the call (ours: RateLimiterRegistry on RedisBreakerStore; effect's: layerStoreRedis), against ours "
      + "on the memory store",
    calls: batch,
    tags: ["shared", "redis", "admission"],
    cases
  }

  const verify = async (s: Scenario, kase: Case) => {
    const countedBefore = await kase.counted?.()
    const before = opCalls
    const done = await kase.run()
    const ran = opCalls - before
    const counted = countedBefore === undefined ? s.calls : (await kase.counted!()) - countedBefore
    if (done !== s.calls || ran !== kase.opCalls || counted !== s.calls) {
      throw new Error(
        `${s.id} ${kase.contender}: ${done} of ${s.calls} calls ended as expected, the operation ran ${ran} ` +
          `times instead of ${kase.opCalls}, and the contender counted ${counted} calls`
      )
    }
    // a limiter that stayed local, or a store that degraded while measured, would be timing a local limiter
    if (kase.contender === "effect-resilience") {
      const mode = await modes()
      if (mode.store !== "shared" || mode.limiter !== "shared") {
        throw new Error(`${s.id} ${kase.contender}: the limiter is not shared (limiter ${mode.limiter}, store ${mode.store})`)
      }
    }
    if (kase.contender === "effect-resilience-local" && (await Effect.runPromise(local.state)).mode !== "local") {
      throw new Error(`${s.id} ${kase.contender}: the limiter is not local`)
    }
  }

  // the commands clients send per call, read with MONITOR during one batch of each case (after a first batch,
  // which loads the scripts and takes the first leases)
  const sent = new Map<Contender, number>()
  for (const kase of cases) {
    await verify(scenario, kase)
    sent.set(kase.contender, (await counter.sentDuring(() => verify(scenario, kase))) / batch)
  }

  const notes: Partial<Record<Contender, string>> = {
    "floor-effect": "Effect.sync(() => 1) in a fiber, on the runtime of the shared store",
    "effect-resilience": "RateLimiterRegistry.layer({ limiters: { api: { limit: 1e9, window: \"1 second\" } } }) on "
      + "RedisBreakerStore (layerFrom, NodeRedis; syncInterval 1 hour, storeTimeout 1 second), state.mode checked "
      + "\"shared\" after every checked batch; limiter.acquire(\"k\") then the call, made per call. Leases of at most "
      + `${sharedLease} permits (the default share.lease: a twentieth of the limit, 1 to 100; one Lua script each, `
      + "times from Redis TIME; a token-bucket lease lasts max(1 ms, permits × window / limit), 1 ms here). "
      + "Exactness bound: permits leased by one replica and not used are unavailable to the others until its lease "
      + "lapses (one window at most), so the fleet admits at least limit − replicas × (lease − 1) per window under "
      + `full demand (here ${sharedLease - 1} per replica), never more than limit for the window algorithms; for the `
      + "token bucket, at most one lease more than a single bucket would (the tokens a lease holds while the bucket "
      + "refills them)",
    "effect-resilience-local": "the same registry options on the memory store (no RedisBreakerStore): acquire then "
      + "the call",
    "effect-rate-limiter-redis": "effect 4.1's RateLimiter.layer on layerStoreRedis (NodeRedis): consume({ key: "
      + "\"k\", limit: 1e9, window }) (its default fixed window, onExceeded \"fail\"; one script per call) then the call"
  }

  return {
    scenarios: [scenario],
    verify,
    fields: (_scenario, contender) => {
      const t = tally.get(contender)
      return {
        ...(t !== undefined && t.calls > 0 ? { redis_cmds_per_call: round3(t.commands / t.calls) } : {}),
        ...(sent.has(contender) ? { redis_client_cmds_per_call: round3(sent.get(contender)!) } : {}),
        ...(notes[contender] !== undefined
          ? {
            note: `${notes[contender]}. redis_cmds_per_call: INFO commandstats around every measured loop (INFO `
              + "excluded, script-internal commands included) over the calls made; redis_client_cmds_per_call: "
              + "commands clients sent per call (MONITOR, one checked batch)"
          }
          : {})
      }
    },
    dispose: async () => {
      await Promise.all([sharedRuntime, localRuntime, effectRuntime].map((r) => r.dispose()))
      await counter.clean(prefix)
      counter.close()
    }
  }
}

// --- fleet.outage -----------------------------------------------------------------------------------------------

/** One row of `fleet.outage` in `bench/results.json`. */
export interface OutageRow {
  readonly scenario: "fleet.outage"
  readonly contender: Contender
  readonly calls_after_open: number
  /** `calls_after_open` over the local-only contender's. */
  readonly ratio_to_local: number
  readonly calls_after_open_runs: ReadonlyArray<number>
  readonly calls_until_all_open: number
  readonly calls_to_first_open: number
  readonly window_ms: number
  /** From one replica's trip to the others' opening (ours, shared): nearest-rank percentiles, and the samples. */
  readonly propagation_p50_ms?: number
  readonly propagation_p99_ms?: number
  readonly propagation_max_ms?: number
  readonly propagation_samples?: number
  readonly note: string
}

/** A replica as the outage sees it: a call through its breaker, and which failures are rejections. */
interface Replica {
  readonly call: (dependency: Effect.Effect<void, CommonErrors.StorageError>) => Effect.Effect<void, unknown>
  readonly rejected: (error: unknown) => boolean
  /** Whether the breaker is not closed, read synchronously (ours), or undefined (effect's: its state is in Redis). */
  readonly isOpen?: (() => boolean) | undefined
  /**
   * When this replica's breaker was first seen open (performance.now()): right after a call that left it open (ours),
   * or when its transition arrived on its stream.
   */
  openedAt: number | undefined
}

const tagOf = (error: unknown) =>
  typeof error === "object" && error !== null && "_tag" in error ? (error as { _tag: unknown })._tag : undefined

const outageOpenMillis = 250
const outageWindowMillis = 2000
const healthyMillis = 200
const runsPerContender = 3

const outageBreakers: BreakerRegistry.Options = {
  default: { trip: TripRule.consecutive(5), openDuration: outageOpenMillis }
}

/** Three replicas of ours: on the shared store (one Redis client each), or on the memory store. */
const oursReplicas = (url: string, shared: boolean) =>
  Effect.gen(function*() {
    const prefix = uniquePrefix("outage")
    const replicas: Array<Replica> = []
    const stores: Array<RedisBreakerStore.RedisBreakerStore> = []
    for (let i = 0; i < 3; i++) {
      const registryLayer = BreakerRegistry.layer(outageBreakers)
      let registry: BreakerRegistry.BreakerRegistry
      if (shared) {
        const context = yield* Layer.build(registryLayer.pipe(
          Layer.provideMerge(sharedLayer(url, { prefix, replica: `replica-${i}` })),
          Layer.provideMerge(silent)
        ))
        registry = Context.get(context, BreakerRegistry.BreakerRegistry)
        stores.push(Context.get(context, RedisBreakerStore.RedisBreakerStore))
      } else {
        const context = yield* Layer.build(registryLayer.pipe(Layer.provideMerge(silent)))
        registry = Context.get(context, BreakerRegistry.BreakerRegistry)
      }
      const breaker = registry.breaker("dependency")
      const replica: Replica = {
        call: (dependency) => breaker.execute(dependency),
        rejected: (error) => tagOf(error) === "BreakerOpenError",
        isOpen: () => Effect.runSync(breaker.state).status !== "closed",
        openedAt: undefined
      }
      yield* Effect.forkScoped(Stream.runForEach(breaker.changes, (t) =>
        Effect.sync(() => {
          if (t.to === "open") replica.openedAt ??= performance.now()
        })))
      replicas.push(replica)
    }
    yield* Effect.promise(() =>
      waitFor("the replicas' stores to reach Redis", async () => {
        for (const store of stores) if ((await Effect.runPromise(store.mode)) !== "shared") return false
        return true
      })
    )
    return { replicas, prefix }
  })

/** Three replicas of effect's breaker on its Redis store, one Redis client each, on one prefix. */
const effectReplicas = (url: string) =>
  Effect.gen(function*() {
    const prefix = uniquePrefix("outage-effect")
    const replicas: Array<Replica> = []
    for (let i = 0; i < 3; i++) {
      const context = yield* Layer.build(
        EffectBreaker.layerStoreRedis({ prefix }).pipe(
          Layer.provideMerge(NodeRedis.layer({ url })),
          Layer.provideMerge(silent)
        )
      )
      const breaker = yield* EffectBreaker.make({
        tripPolicy: EffectBreaker.consecutive(5),
        openDuration: outageOpenMillis
      }).pipe(Effect.provide(context))
      const replica: Replica = {
        call: (dependency) => dependency.pipe(breaker.execute({ key: "dependency" })),
        // an open or half-open circuit (a store error is not a rejection)
        rejected: (error) =>
          tagOf(error) === "CircuitBreakerError" &&
          ["CircuitOpen", "CircuitHalfOpen"].includes(String(tagOf((error as EffectBreaker.CircuitBreakerError).reason))),
        openedAt: undefined
      }
      yield* Effect.forkScoped(Stream.runForEach(breaker.transitions, (t) =>
        Effect.sync(() => {
          if (t.to === "Open") replica.openedAt ??= performance.now()
        })))
      replicas.push(replica)
    }
    return { replicas, prefix }
  })

interface OutageRun {
  readonly afterOpen: number
  readonly untilAllOpen: number
  readonly toFirstOpen: number
}

/**
 * One outage: healthy calls for `healthyMillis`, then (t0) the dependency fails hard. One call every millisecond
 * (a real timer, so a little more), to the replicas in turn, each in a fiber of its own; runs until
 * `outageWindowMillis` after the first replica opened.
 */
const outage = (replicas: ReadonlyArray<Replica>) =>
  Effect.gen(function*() {
    let failing = false
    const hits: Array<number> = []
    const firstRejected: Array<number | undefined> = replicas.map(() => undefined)
    const dependency: Effect.Effect<void, CommonErrors.StorageError> = Effect.suspend(() => {
      if (!failing) return Effect.void
      hits.push(performance.now())
      return Effect.fail(failure)
    })
    let inFlight = 0
    let next = 0
    const attempt = (i: number) =>
      Effect.flatMap(Effect.exit(replicas[i]!.call(dependency)), (exit) =>
        Effect.sync(() => {
          const replica = replicas[i]!
          // the call that tripped the breaker committed the opening before it returned
          if (replica.isOpen?.() === true) replica.openedAt ??= performance.now()
          if (Exit.isFailure(exit) && exit.cause.reasons.some((r) => r._tag === "Fail" && replica.rejected(r.error))) {
            firstRejected[i] ??= performance.now()
          }
        }))
    const dispatchUntil = (stop: () => boolean) =>
      Effect.gen(function*() {
        while (!stop()) {
          const i = next++ % replicas.length
          inFlight++
          yield* Effect.forkDetach(Effect.ensuring(attempt(i), Effect.sync(() => inFlight--)))
          yield* Effect.sleep(1)
        }
      })
    const firstOpen = () => {
      const opened = replicas.map((r) => r.openedAt).filter((t): t is number => t !== undefined)
      return opened.length === 0 ? undefined : Math.min(...opened)
    }
    const healthyUntil = performance.now() + healthyMillis
    yield* dispatchUntil(() => performance.now() >= healthyUntil)
    if (firstOpen() !== undefined) return yield* Effect.die(new Error("a breaker opened while the dependency was up"))
    failing = true
    const t0 = performance.now()
    yield* dispatchUntil(() => {
      const first = firstOpen()
      if (first === undefined && performance.now() - t0 > 10_000) throw new Error("no breaker opened within 10 s")
      return first !== undefined && performance.now() >= first + outageWindowMillis
    })
    while (inFlight > 0) yield* Effect.sleep(5)
    const opened = firstOpen()!
    const allOpen = firstRejected.every((t) => t !== undefined)
      ? Math.max(...(firstRejected as Array<number>))
      : Number.POSITIVE_INFINITY
    return {
      afterOpen: hits.filter((t) => t > opened && t <= opened + outageWindowMillis).length,
      untilAllOpen: hits.filter((t) => t > opened && t < allOpen).length,
      toFirstOpen: hits.filter((t) => t <= opened).length
    } satisfies OutageRun
  })

/**
 * From one replica's trip to the others' opening, for our shared store: `rounds` trips of a fresh breaker each
 * (which one trips rotates), timed from the tripping replica's transition to each other replica's (both read from
 * `changes`, on `performance.now()`).
 */
const propagation = (url: string, rounds: number) =>
  Effect.gen(function*() {
    const prefix = uniquePrefix("propagation")
    const registries: Array<BreakerRegistry.BreakerRegistry> = []
    const openedAt: Array<Map<string, number>> = []
    for (let i = 0; i < 3; i++) {
      const context = yield* Layer.build(BreakerRegistry.layer({
        default: { trip: TripRule.consecutive(5), openDuration: hour }
      }).pipe(Layer.provideMerge(sharedLayer(url, { prefix, replica: `replica-${i}` })), Layer.provideMerge(silent)))
      const registry = Context.get(context, BreakerRegistry.BreakerRegistry)
      const opened = new Map<string, number>()
      yield* Effect.forkScoped(Stream.runForEach(registry.changes, (t) =>
        Effect.sync(() => {
          if (t.to === "open" && !opened.has(t.breaker)) opened.set(t.breaker, performance.now())
        })))
      const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
      yield* Effect.promise(() =>
        waitFor("a replica's store to reach Redis", async () => (await Effect.runPromise(store.mode)) === "shared")
      )
      registries.push(registry)
      openedAt.push(opened)
    }
    const delays: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      const name = `propagation-${round}`
      const breakers = registries.map((r) => r.breaker(name))
      // every replica has read the fleet's record of the new breaker
      yield* Effect.promise(() =>
        waitFor("the replicas' first read", async () => {
          for (const b of breakers) if (((await Effect.runPromise(b.state)).shared?.generation ?? -1) < 0) return false
          return true
        })
      )
      const tripping = round % 3
      for (let i = 0; i < 5; i++) yield* Effect.exit(breakers[tripping]!.execute(Effect.fail(failure)))
      yield* Effect.promise(() =>
        waitFor(`every replica to open ${name}`, async () => openedAt.every((m) => m.has(name)), 2000)
      )
      const tripped = openedAt[tripping]!.get(name)!
      for (let i = 0; i < 3; i++) if (i !== tripping) delays.push(openedAt[i]!.get(name)! - tripped)
      yield* Effect.sleep(10)
    }
    return { delays, prefix }
  })

const contenders = ["effect-resilience", "effect-resilience-local", "effect-circuit-breaker-redis"] as const

/** Every row of `fleet.outage`. */
export const runOutage = async (url: string, log: (line: string) => void = console.log): Promise<Array<OutageRow>> => {
  const counter = await commandCounter(url)
  const prefixes: Array<string> = []
  try {
    const runs = new Map<Contender, Array<OutageRun>>()
    for (let run = 0; run < runsPerContender; run++) {
      for (const contender of contenders) {
        const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const { replicas, prefix } = contender === "effect-circuit-breaker-redis"
            ? yield* effectReplicas(url)
            : yield* oursReplicas(url, contender === "effect-resilience")
          prefixes.push(prefix)
          return yield* outage(replicas)
        })))
        runs.set(contender, [...(runs.get(contender) ?? []), result])
        log(`  run ${run + 1} of ${runsPerContender}, ${contender}: ${result.afterOpen} calls after the first opening`)
      }
    }
    const { delays, prefix } = await Effect.runPromise(Effect.scoped(propagation(url, 50)))
    prefixes.push(prefix)

    const window = `${outageWindowMillis} ms window from the first replica's opening`
    const setup = `3 replicas in one process (one Redis client each, where Redis is used), trip consecutive(5), `
      + `open ${outageOpenMillis} ms; ${healthyMillis} ms of healthy calls, then the dependency fails at once from t0; `
      + "one call about every millisecond (a real 1 ms timer), round-robin over the replicas, each in its own fiber; "
      + `calls_after_open: calls that reached the dependency in the ${window} (median of ${runsPerContender} runs, `
      + "each on a fresh prefix); calls_until_all_open: those before every replica had rejected a call; "
      + "calls_to_first_open: from t0 to the first opening"
    const notes: Record<(typeof contenders)[number], string> = {
      "effect-resilience": `ours shared (RedisBreakerStore, default options). ${setup}. With the load spread evenly, `
        + "the other replicas are one failure short of their own trip when the first opens, so they mostly trip "
        + "themselves (calls_until_all_open); the saving is one probe per half-open period for the fleet instead of "
        + "one per replica. propagation_*: 50 trips of a "
        + "fresh breaker (the tripping replica rotates, open 1 hour), from the tripping replica's transition to "
        + "each other replica's (both from `changes`, performance.now()), 100 samples, nearest-rank percentiles",
      "effect-resilience-local": `ours local-only (memory store, no RedisBreakerStore). ${setup}`,
      "effect-circuit-breaker-redis": `effect's CircuitBreaker.make on layerStoreRedis (one prefix, state in Redis; `
        + `its consecutive(5) counts the fleet's failures). ${setup}`
    }
    const localCalls = median(runs.get("effect-resilience-local")!.map((r) => r.afterOpen))
    const rows: Array<OutageRow> = contenders.map((contender) => {
      const results = runs.get(contender)!
      const calls = median(results.map((r) => r.afterOpen))
      return {
        scenario: "fleet.outage",
        contender,
        calls_after_open: calls,
        ratio_to_local: round3(calls / Math.max(localCalls, 1)),
        calls_after_open_runs: results.map((r) => r.afterOpen),
        calls_until_all_open: median(results.map((r) => r.untilAllOpen)),
        calls_to_first_open: median(results.map((r) => r.toFirstOpen)),
        window_ms: outageWindowMillis,
        ...(contender === "effect-resilience"
          ? {
            propagation_p50_ms: round3(percentile(delays, 50)),
            propagation_p99_ms: round3(percentile(delays, 99)),
            propagation_max_ms: round3(Math.max(...delays)),
            propagation_samples: delays.length
          }
          : {}),
        note: notes[contender]
      }
    })
    return rows
  } finally {
    for (const prefix of prefixes) await counter.clean(prefix)
    counter.close()
  }
}
