/**
 * Real Redis servers for the tests: never a mock. The servers themselves are `scripts/redis-server.mjs`'s (shared
 * with the bench and the multi-replica demo): each `start()` runs its own `redis-server` (Debian's redis-server
 * package, put on PATH by `scripts/ensure-tools.mjs` before `npm test`) on a free loopback port, with no config
 * file, no persistence and a temporary working directory, and waits until it answers `PING`; none outlives the test
 * process (an exit hook, and a watchdog shell for the deaths without one). This module adds what the tests use on
 * top: `REDIS_URL` for the tests that only need *a* server (`shared()`), key prefixes, and the Effect variants
 * (which use timers, never `Clock`: they work the same under `TestClock`). The tests that kill or restart a server
 * always own theirs (`canOwnServer()` says whether they can).
 *
 * ```ts
 * const server = await start()            // { url, port, pid, running, kill, stop, restart }
 * const prefix = uniquePrefix()           // "test:5f2c9a1be04d:": keys of this test only
 * await server.kill()                     // SIGKILL: connections are refused now
 * await server.restart()                  // same port, empty, answering PING again
 * await server.stop()                     // SIGTERM
 * ```
 */
import { randomBytes } from "node:crypto"
import { Context, Data, Effect, Layer, type Scope } from "effect"
import * as Core from "../../../../scripts/redis-server.mjs"

export type { RedisServer, StartOptions } from "../../../../scripts/redis-server.mjs"
export { answersPing, freePort, redisUrlFromEnv } from "../../../../scripts/redis-server.mjs"

/** A server that could not be started (missing binary, no answer in time, early exit). */
export class RedisServerError extends Data.TaggedError("RedisServerError")<{ readonly message: string }> {}

const asError = (cause: unknown) =>
  cause instanceof RedisServerError
    ? cause
    : new RedisServerError({ message: cause instanceof Error ? cause.message : String(cause) })

/** Whether `redis-server` is on PATH, so that a test can start, kill and restart its own server. */
export const canOwnServer = (): boolean => Core.isInstalled()

/**
 * A key prefix no other test uses (`test:<12 hex digits>:`, or `test:<label>:<12 hex digits>:`), so that tests
 * sharing a server never see each other's keys or channels.
 */
export const uniquePrefix = (label?: string): string =>
  `test:${label === undefined ? "" : `${label}:`}${randomBytes(6).toString("hex")}:`

/**
 * Starts a `redis-server` of its own on a free loopback port and resolves once it answers PING (within
 * `readyTimeout`, default 5 s); rejects with a {@link RedisServerError} carrying the server's output otherwise.
 * Stop it with `stop()` or `kill()`; in Effect code prefer {@link acquire}, which does it in a finalizer.
 */
export const start = (options: Core.StartOptions = {}): Promise<Core.RedisServer> =>
  Core.start({ label: "test", ...options }).catch((error: unknown) => Promise.reject(asError(error)))

let sharedServer: Promise<Core.RedisServer> | undefined

/**
 * A URL for tests that only need *a* server: `REDIS_URL` when it is set, otherwise one server of this process,
 * started on the first call and killed when the process exits. Do not kill or restart it: use {@link start} for
 * that. Keep tests apart with {@link uniquePrefix}.
 */
export const shared = async (): Promise<string> => {
  const fromEnv = Core.redisUrlFromEnv()
  if (fromEnv !== undefined) return fromEnv
  const server = sharedServer ?? (sharedServer = start())
  try {
    const running = await server
    if (running.running) return running.url
    sharedServer = undefined
    return await shared()
  } catch (error) {
    sharedServer = undefined
    throw error
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Effect

/** {@link start} as a scoped Effect: the server is killed when the scope closes. */
export const acquire = (
  options: Core.StartOptions = {}
): Effect.Effect<Core.RedisServer, RedisServerError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => start(options), catch: asError }),
    (server) => Effect.promise(() => server.kill())
  )

/** {@link shared} as an Effect. */
export const sharedUrl: Effect.Effect<string, RedisServerError> = Effect.tryPromise({
  try: () => shared(),
  catch: asError
})

/**
 * A server of its own as a service, for `layer(TestRedisServer.layer)(…)` of `@effect/vitest` or `Effect.provide`:
 * started when the layer is built, killed when it is released.
 */
export class TestRedisServer extends Context.Service<TestRedisServer, Core.RedisServer>()("test/TestRedisServer") {
  static readonly layer: Layer.Layer<TestRedisServer, RedisServerError> = Layer.effect(TestRedisServer, acquire())
}
