/**
 * Replicas of a fleet for the `RedisBreakerStore` tests: each one a `BreakerRegistry` on a `RedisBreakerStore` of
 * its own (its own Redis connections), in a scope of its own that a test can close to make the replica go away,
 * with its logs and its breakers' transitions recorded. Several replicas in one process share nothing but Redis,
 * exactly as replicas in separate processes do.
 *
 * These tests run on real time (the network is real): `eventually` polls a condition with a bounded deadline
 * instead of sleeping for a fixed, long time.
 *
 * ```ts
 * const a = yield* replica({ url, prefix, id: "a", breakers: { default: { trip: TripRule.consecutive(3) } } })
 * const db = yield* a.breaker("db")          // built, and synced once with the fleet
 * yield* eventually(assertStatus(db, "open"), 500)
 * ```
 */
import { NodeRedis } from "@effect/platform-node"
import { assert } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Logger, References, Scope, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { createClient } from "redis"
import { BreakerRegistry, type CircuitBreaker, type ConfigError, RedisBreakerStore } from "../../src/index.js"
import type { Line } from "../utils.js"

/**
 * Short intervals, so that every test waits a few hundred milliseconds at most. The store timeout leaves room for
 * a loaded 2-core machine running test files side by side: at 100 ms a claim occasionally timed out there, which
 * (rightly) degraded the store and let a second replica probe.
 */
export const fast = {
  storeTimeout: "250 millis",
  syncInterval: "300 millis",
  probeLease: "600 millis",
  reconnectInterval: "100 millis"
} as const satisfies RedisBreakerStore.Options

/** Milliseconds of {@link fast}, for the bounds the tests assert. */
export const fastMillis = { storeTimeout: 250, syncInterval: 300, probeLease: 600, reconnectInterval: 100 } as const

/** One replica: its registry, its store, and what it logged and published. */
export interface Replica {
  readonly id: string
  readonly registry: BreakerRegistry.BreakerRegistry
  readonly store: RedisBreakerStore.RedisBreakerStore
  /** Every transition of every breaker of the registry, in order. */
  readonly transitions: Array<CircuitBreaker.Transition>
  /** Every log line of the replica (its store, its Redis client, its registry). */
  readonly logs: Array<Line>
  /** The breaker of a name, once the replica has read the fleet's record of it (and the store is shared). */
  readonly breaker: (name: string) => Effect.Effect<CircuitBreaker.CircuitBreaker>
  /** The transitions of one breaker. */
  readonly transitionsOf: (name: string) => ReadonlyArray<CircuitBreaker.Transition>
  /**
   * Runs an effect as the replica's own code would: with its logger (a call that waits on Redis may be the one
   * that finds it unreachable, and logs so in the caller's fiber).
   */
  readonly within: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Closes the replica's scope: its breakers, its store and its Redis connections go away, as a process would. */
  readonly close: Effect.Effect<void>
}

export interface ReplicaOptions {
  readonly url: string
  readonly prefix: string
  readonly id: string
  readonly breakers?: BreakerRegistry.Options | undefined
  /** Store options over {@link fast}. */
  readonly store?: RedisBreakerStore.Options | undefined
  /** Whether to wait until the store is shared before returning (default true). */
  readonly waitShared?: boolean | undefined
}

/**
 * Builds a replica in a scope of its own, closed with the current scope (or before, by `close`). Fails with the
 * registry's `ConfigError` when its options are refused. Unless `waitShared` is false, it returns once its store
 * is shared (Redis answered).
 */
export const replica = (
  options: ReplicaOptions
): Effect.Effect<Replica, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const parent = yield* Effect.scope
    const scope = yield* Scope.fork(parent)
    const logs: Array<Line> = []
    const logger = Logger.map(Logger.formatStructured, (r) => {
      logs.push({ level: r.level, message: r.message, annotations: r.annotations, cause: r.cause })
    })
    const loggers: ReadonlySet<Logger.Logger<unknown, unknown>> = new Set([logger])
    const transitions: Array<CircuitBreaker.Transition> = []
    const storeOptions = { ...fast, prefix: options.prefix, replica: options.id, ...options.store }
    const client = NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({
      url: options.url,
      commandTimeout: storeOptions.storeTimeout,
      maxReconnectDelay: "100 millis"
    }))
    const live = BreakerRegistry.layer(options.breakers).pipe(
      Layer.provideMerge(RedisBreakerStore.layerFrom(client, storeOptions)),
      Layer.provide(Layer.mergeAll(Logger.layer([logger]), Layer.succeed(References.MinimumLogLevel, "All")))
    )
    const context = yield* Layer.buildWithScope(live, scope).pipe(
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    const registry = Context.get(context, BreakerRegistry.BreakerRegistry)
    const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
    yield* Effect.forkIn(
      Stream.runForEach(registry.changes, (t) => Effect.sync(() => transitions.push(t))),
      scope
    )
    if (options.waitShared !== false) {
      yield* eventually(Effect.map(store.mode, (mode) => assert.strictEqual(mode, "shared", `${options.id} shared`)), 3000)
    }
    return {
      id: options.id,
      registry,
      store,
      transitions,
      logs,
      breaker: (name) =>
        Effect.gen(function*() {
          const breaker = registry.breaker(name)
          // the first read of the fleet's record: a change after it arrives as a message, not as a resync
          yield* eventually(
            Effect.map(breaker.state, (s) => assert.isAtLeast(s.shared?.generation ?? -1, 0, `${options.id} synced`)),
            3000
          )
          return breaker
        }),
      transitionsOf: (name) => transitions.filter((t) => t.breaker === name),
      within: (effect) =>
        effect.pipe(
          Effect.provideService(Logger.CurrentLoggers, loggers),
          Effect.provideService(References.MinimumLogLevel, "All")
        ),
      close: Scope.close(scope, Exit.void)
    } satisfies Replica
  })

/** Several replicas on one prefix, `a`, `b`, `c`… built concurrently. */
export const replicas = (
  count: number,
  options: Omit<ReplicaOptions, "id"> & { readonly breakersOf?: (id: string) => BreakerRegistry.Options }
): Effect.Effect<Array<Replica>, ConfigError.ConfigError, Scope.Scope> =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => String.fromCharCode(97 + i)),
    (id) => replica({ ...options, id, breakers: options.breakersOf?.(id) ?? options.breakers }),
    { concurrency: "unbounded" }
  )

/**
 * Several replicas on one prefix, as {@link replicas} builds them, and the breaker "db" of each (synced with the
 * fleet), in the same order: `const { fleet: [a, b, c], dbs: [dbA, dbB, dbC] } = yield* dbFleet(3, options)`.
 */
export const dbFleet = (count: number, options: Parameters<typeof replicas>[1]) =>
  Effect.gen(function*() {
    const fleet = yield* replicas(count, options)
    const dbs = yield* Effect.forEach(fleet, (r) => r.breaker("db"))
    return { fleet, dbs }
  })

// ---------------------------------------------------------------------------------------------------------------
// waiting

/**
 * Runs `check` until it succeeds (neither fails nor dies: an `assert` inside it may throw), every `intervalMs`,
 * for at most `timeoutMs` of real time; then fails the test with the last failure. Succeeds with the check's value.
 */
export const eventually = <A, E>(
  check: Effect.Effect<A, E>,
  timeoutMs: number,
  intervalMs = 10
): Effect.Effect<A> =>
  Effect.suspend(() => {
    const deadline = performance.now() + timeoutMs
    const attempt: Effect.Effect<A> = Effect.matchCauseEffect(check, {
      onSuccess: Effect.succeed,
      onFailure: (cause) =>
        performance.now() >= deadline
          ? Effect.die(new Error(`not within ${timeoutMs} ms: ${Cause.pretty(cause)}`))
          : Effect.andThen(Effect.sleep(intervalMs), attempt)
    })
    return attempt
  })

/** Runs `effect`, and succeeds with its exit and how long it took (real time, ms). */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.map(Effect.exit(effect), (exit) => ({ exit, millis: performance.now() - start }))
  })

/** The real time since `start` (a `performance.now()`). */
export const since = (start: number) => performance.now() - start

// ---------------------------------------------------------------------------------------------------------------
// breakers and dependencies

/** Asserts a breaker's status (for `eventually`). */
export const assertStatus = (breaker: CircuitBreaker.CircuitBreaker, status: CircuitBreaker.Status, label = "") =>
  Effect.map(breaker.state, (s) => {
    assert.strictEqual(s.status, status, `${label} ${breaker.name}`)
    return s
  })

/** The failure of the fake dependency. */
export class Down extends Error {
  readonly _tag = "Down"
}

/**
 * A fake dependency that counts the calls reaching it: `ok` succeeds, `fail` fails with {@link Down}, `slow(ms)`
 * succeeds after `ms` of real time, `hold` succeeds once `release` is called, `current` fails while `failing(true)`.
 */
export const dependency = () => {
  let calls = 0
  let down = false
  const waiting: Array<() => void> = []
  return {
    calls: () => calls,
    failing: (failing: boolean) => {
      down = failing
    },
    current: Effect.suspend(() => {
      calls++
      return down ? Effect.fail(new Down("down")) : Effect.succeed(calls)
    }),
    ok: Effect.sync(() => ++calls),
    fail: Effect.suspend(() => {
      calls++
      return Effect.fail(new Down("down"))
    }),
    slow: (ms: number) => Effect.andThen(Effect.sync(() => ++calls), Effect.sleep(ms)),
    hold: Effect.andThen(
      Effect.sync(() => ++calls),
      Effect.callback<void>((resume) => {
        waiting.push(() => resume(Effect.void))
      })
    ),
    release: () => {
      for (const resume of waiting.splice(0)) resume()
    }
  }
}

/** Makes `n` calls of `effect` through `breaker`, one after the other, ignoring their outcome. */
export const callTimes = <A, E>(breaker: CircuitBreaker.CircuitBreaker, effect: Effect.Effect<A, E>, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => Effect.exit(breaker.execute(effect)), { discard: true })

/** The error a rejected call failed with, or undefined when it was not rejected by the breaker. */
export const rejection = <A, E>(exit: Exit.Exit<A, E | CircuitBreaker.BreakerOpenError>) => {
  if (Exit.isSuccess(exit)) return undefined
  const error = Cause.squash(exit.cause)
  return typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "BreakerOpenError"
    ? error as CircuitBreaker.BreakerOpenError
    : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Redis, read and written directly (node-redis, not through the store)

/** The encoding of a breaker name in its key, as the plan documents it (written independently of `keys.ts`). */
export const expectedEncoding = (name: string): string => {
  let out = ""
  for (const char of name) {
    const code = char.codePointAt(0)!
    if (/^[A-Za-z0-9._-]$/.test(char)) out += char
    else if (code >= 0xd800 && code <= 0xdfff) out += `~${code.toString(16).toUpperCase()}`
    else for (const byte of Buffer.from(char, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

/** The key of a breaker's record. */
export const recordKey = (prefix: string, name: string) => `${prefix}{${expectedEncoding(name)}}`

const makeClient = (url: string) => createClient({ url, socket: { reconnectStrategy: () => 50 } })

export type RedisClient = ReturnType<typeof makeClient>

/** A plain node-redis client, closed with the scope. */
export const directClient = (url: string): Effect.Effect<RedisClient, unknown, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise(async () => {
      const client = makeClient(url)
      client.on("error", () => {})
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.close().catch(() => client.destroy()))
  )

/** A breaker's record in Redis (its fields as stored). */
export const readRecord = (client: RedisClient, key: string) =>
  Effect.promise(() => client.hGetAll(key)) as Effect.Effect<Record<string, string>>

/** Waits until the record at `key` is a probe period (half-open) held by `holder`; succeeds with the record. */
export const heldBy = (client: RedisClient, key: string, holder: string, timeoutMs: number) =>
  eventually(
    Effect.flatMap(readRecord(client, key), (r) =>
      Effect.sync(() => {
        assert.strictEqual(r.status, "half_open")
        assert.strictEqual(r.holder, holder)
        return r
      })),
    timeoutMs
  )

/** A record without its lease deadline (which the holder's renewals move). */
export const withoutLease = (record: Record<string, string>) => {
  const { leaseUntil: _, ...rest } = record
  return rest
}

/** Redis' own time, in milliseconds. */
export const redisTime = (client: RedisClient) =>
  Effect.promise(async () => {
    const [seconds, micros] = await client.sendCommand(["TIME"]) as [string, string]
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  })

/** Subscribes to the fleet's channel and records every message. */
export const recordMessages = (url: string, prefix: string) =>
  Effect.gen(function*() {
    const messages: Array<Record<string, unknown>> = []
    const client = yield* directClient(url)
    const subscriber = client.duplicate()
    subscriber.on("error", () => {})
    yield* Effect.acquireRelease(
      Effect.promise(async () => {
        await subscriber.connect()
        await subscriber.subscribe(`${prefix}events`, (message) => {
          messages.push(JSON.parse(message) as Record<string, unknown>)
        })
      }),
      () => Effect.promise(() => subscriber.close().catch(() => subscriber.destroy()))
    )
    return messages
  })

/** The text of a log line's message (a message of several parts joined by spaces). */
export const messageText = (line: Line): string =>
  Array.isArray(line.message) ? line.message.map(String).join(" ") : String(line.message)

/** The log lines of a replica whose message includes `text`. */
export const logsWith = (replica: Replica, text: string) => replica.logs.filter((line) => messageText(line).includes(text))

// ---------------------------------------------------------------------------------------------------------------
// replicas as processes of their own (test/fixtures/replica.ts, on the built package)

/** A reply of the fixture: a call's outcome, a state, a count. */
export interface ProcessReply {
  readonly id: number
  readonly result?: "success" | "failure" | "rejected"
  readonly status?: string
  readonly millis?: number
  readonly state?: CircuitBreaker.State
  readonly calls?: number
}

/** A replica running in a process of its own. */
export interface ProcessReplica {
  readonly id: string
  readonly pid: number
  /** Sends a command; resolves with its reply (a call's once it ended). */
  readonly send: (command: { readonly op: string; readonly dep?: string; readonly ms?: number }) => Promise<ProcessReply>
  readonly state: Effect.Effect<CircuitBreaker.State>
  readonly calls: Effect.Effect<number>
  /** The transitions the process published, in order. */
  readonly transitions: Array<CircuitBreaker.Transition>
  /** Sends the process a signal (SIGSTOP, SIGCONT, SIGKILL). */
  readonly signal: (signal: NodeJS.Signals) => void
  /** What the process wrote on stderr (its logs). */
  readonly stderr: () => string
}

const fixture = fileURLToPath(new URL("../fixtures/replica.ts", import.meta.url))

/**
 * Starts a replica process (the current node, running the fixture with type stripping) and waits until it is
 * shared and has read its breaker's record; it is killed with the scope.
 */
export const spawnReplica = (options: {
  readonly url: string
  readonly prefix: string
  readonly id: string
  readonly env?: Readonly<Record<string, string>>
}): Effect.Effect<ProcessReplica, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        new Promise<{ child: ChildProcess; replica: ProcessReplica }>((resolve, reject) => {
          const { NODE_OPTIONS: _, ...inherited } = process.env
          const child = spawn(process.execPath, ["--no-warnings", fixture], {
            env: { ...inherited, REDIS_URL: options.url, PREFIX: options.prefix, REPLICA: options.id, ...options.env },
            stdio: ["pipe", "pipe", "pipe"]
          })
          let stderr = ""
          child.stderr!.on("data", (data: Buffer) => {
            stderr = (stderr + data.toString("utf8")).slice(-20_000)
          })
          const pending = new Map<number, (reply: ProcessReply) => void>()
          const transitions: Array<CircuitBreaker.Transition> = []
          let next = 0
          const timer = setTimeout(() => {
            child.kill("SIGKILL")
            reject(new Error(`replica ${options.id} not ready within 5 s; stderr:\n${stderr}`))
          }, 5000)
          child.once("exit", (code, signal) => {
            clearTimeout(timer)
            reject(new Error(`replica ${options.id} exited (${code ?? signal}); stderr:\n${stderr}`))
          })
          const send = (command: { readonly op: string }) =>
            new Promise<ProcessReply>((resolveReply) => {
              const id = ++next
              pending.set(id, resolveReply)
              child.stdin!.write(`${JSON.stringify({ id, ...command })}\n`)
            })
          const replica: ProcessReplica = {
            id: options.id,
            pid: child.pid!,
            send,
            state: Effect.promise(() => send({ op: "state" })).pipe(Effect.map((r) => r.state!)),
            calls: Effect.promise(() => send({ op: "calls" })).pipe(Effect.map((r) => r.calls!)),
            transitions,
            signal: (signal) => {
              child.kill(signal)
            },
            stderr: () => stderr
          }
          createInterface({ input: child.stdout! }).on("line", (line) => {
            const message = JSON.parse(line) as { readonly event?: string; readonly id?: number }
            if (message.event === "ready") {
              clearTimeout(timer)
              resolve({ child, replica })
            } else if (message.event === "transition") {
              const { event: _, ...transition } = message as unknown as CircuitBreaker.Transition & { event: string }
              transitions.push(transition)
            } else if (message.id !== undefined) {
              pending.get(message.id)?.(message as ProcessReply)
              pending.delete(message.id)
            }
          })
        }),
      catch: (error) => error instanceof Error ? error : new Error(String(error))
    }),
    ({ child }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once("exit", () => resolve())
          child.kill("SIGCONT")
          child.kill("SIGKILL")
        })
      )
  ).pipe(Effect.map(({ replica }) => replica))
