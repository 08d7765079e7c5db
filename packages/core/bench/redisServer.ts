/**
 * The Redis server the benchmark's Redis scenarios run on: `REDIS_URL` when it is set, otherwise a `redis-server`
 * of the bench's own on a free loopback port, stopped at the end of the run. The server is
 * `scripts/redis-server.mjs`'s, the one the tests and the demo use (no config file, no persistence, a temporary
 * directory): it never outlives the bench, however the bench ends (an exit hook, and a watchdog shell that kills it
 * once the bench's end of its stdin pipe closes).
 */
import type * as RedisServerModule from "../../../scripts/redis-server.mjs"

/** A Redis server for the bench: its URL, whether the bench started it, and how to stop it (a no-op if not). */
export interface BenchRedis {
  readonly url: string
  readonly owned: boolean
  readonly stop: () => Promise<void>
}

// Loaded from where this file runs, packages/core/dist-bench/bench/ (one directory deeper than bench/, where the
// type import above is resolved from), so that the path is right there.
const load = (): Promise<typeof RedisServerModule> =>
  import(new URL("../../../../scripts/redis-server.mjs", import.meta.url).href)

/**
 * The server to use, or why there is none: `REDIS_URL` when set (never stopped by the bench), else an own
 * `redis-server` when one is on PATH.
 */
export const acquire = async (): Promise<BenchRedis | string> => {
  const Server = await load()
  const fromEnv = Server.redisUrlFromEnv()
  if (fromEnv !== undefined) return { url: fromEnv, owned: false, stop: async () => {} }
  if (!Server.isInstalled()) return "redis-server is not on PATH and REDIS_URL is not set"
  try {
    const server = await Server.start({ label: "bench" })
    return { url: server.url, owned: true, stop: server.stop }
  } catch (error) {
    return `redis-server could not be started (${error instanceof Error ? error.message : String(error)})`
  }
}
