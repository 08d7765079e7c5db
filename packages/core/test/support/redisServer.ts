/**
 * Real Redis servers for the tests: never a mock. Each `start()` runs its own `redis-server` (Debian's
 * redis-server package, put on PATH by `scripts/ensure-redis.mjs` before `npm test`) on a free loopback port,
 * with no config file, no persistence and a temporary working directory, and waits until it answers `PING`.
 * `REDIS_URL` points the tests that only need *a* server (`shared()`) at an existing one instead; the tests that
 * kill or restart a server always own theirs (`canOwnServer()` says whether they can).
 *
 * No server outlives the test process: every one is killed on `exit`, and a small watchdog shell kills it when
 * the process dies without running its exit handlers (SIGKILL, an uncaught signal). Real processes run on real
 * time, so everything here uses timers, never `Clock`: the Effect variants work the same under `TestClock`.
 *
 * ```ts
 * const server = await start()            // { url, port, pid, running, kill, stop, restart }
 * const prefix = uniquePrefix()           // "test:5f2c9a1be04d:": keys of this test only
 * await server.kill()                     // SIGKILL: connections are refused now
 * await server.restart()                  // same port, empty, answering PING again
 * await server.stop()                     // SIGTERM
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { accessSync, constants, mkdtempSync, rmSync, statSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { Context, Data, Effect, Layer, type Scope } from "effect"

/** A `redis-server` owned by the test process. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The pid of the current (or last) server process: a restart changes it. */
  readonly pid: number
  /** Whether the server process is alive. */
  readonly running: boolean
  /** SIGKILL, as a crash would; resolves once the process has exited. A no-op when it is not running. */
  readonly kill: () => Promise<void>
  /** SIGTERM (SIGKILL after 5 s); resolves once the process has exited. A no-op when it is not running. */
  readonly stop: () => Promise<void>
  /** Starts a fresh, empty server on the same port (stopping the running one first) and waits until it is ready. */
  readonly restart: () => Promise<void>
}

/** Options of {@link start}. */
export interface StartOptions {
  /** How long to wait for the server to answer PING, in milliseconds. Default 5000. */
  readonly readyTimeout?: number
  /** More `redis-server` arguments, e.g. `["--maxmemory", "1mb"]`. */
  readonly args?: ReadonlyArray<string>
}

/** A server that could not be started (missing binary, no answer in time, early exit). */
export class RedisServerError extends Data.TaggedError("RedisServerError")<{ readonly message: string }> {}

const howTo = "install it (Debian: sudo apt-get install -y redis-server) or set REDIS_URL to a running server"

/** Whether `redis-server` is on PATH, so that a test can start, kill and restart its own server. */
export const canOwnServer = (): boolean =>
  (process.env.PATH ?? "").split(delimiter).some((dir) => {
    if (dir === "") return false
    try {
      const candidate = join(dir, "redis-server")
      accessSync(candidate, constants.X_OK)
      return statSync(candidate).isFile()
    } catch {
      return false
    }
  })

/** `REDIS_URL` when it is set to a non-empty value. */
export const redisUrlFromEnv = (): string | undefined => {
  const url = process.env.REDIS_URL
  return url === undefined || url === "" ? undefined : url
}

/**
 * A key prefix no other test uses (`test:<12 hex digits>:`, or `test:<label>:<12 hex digits>:`), so that tests
 * sharing a server never see each other's keys or channels.
 */
export const uniquePrefix = (label?: string): string =>
  `test:${label === undefined ? "" : `${label}:`}${randomBytes(6).toString("hex")}:`

// ---------------------------------------------------------------------------------------------------------------
// processes

interface Owned {
  readonly child: ChildProcess
  readonly watchdog: ChildProcess
  readonly dir: string
}

const owned = new Set<Owned>()
let exitHookInstalled = false

const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on("exit", () => {
    for (const { child, watchdog, dir } of owned) {
      child.kill("SIGKILL")
      watchdog.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  })
}

// Pipes are sockets at run time; unref'd, they do not keep the test process alive on their own.
const unref = (stream: unknown) => (stream as net.Socket | null)?.unref?.()

/** A free loopback port: bind port 0, read the port, close. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port from listen(0)"))
      )
    })
  })

/** Whether something on `127.0.0.1:port` answers `PING` with `+PONG` within `timeout` ms. */
export const answersPing = (port: number, timeout = 500): Promise<boolean> =>
  new Promise((resolve) => {
    let reply = ""
    const socket = net.connect({ host: "127.0.0.1", port })
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeout)
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (data) => {
      reply += data.toString("latin1")
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"))
    })
    socket.once("error", () => done(false))
    socket.once("close", () => done(false))
  })

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

const waitExit = (child: ChildProcess): Promise<void> =>
  exited(child) ? Promise.resolve() : new Promise((resolve) => {
    child.ref() // an unref'd child would let the process exit while this waits
    child.once("exit", () => resolve())
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Spawns `redis-server` on `port` and waits until it answers PING; fails with its output when it does not. */
const spawnOn = async (port: number, options: StartOptions): Promise<Owned> => {
  installExitHook()
  const dir = mkdtempSync(join(tmpdir(), "redis-test-"))
  const child = spawn(
    "redis-server",
    [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--protected-mode", "no",
      "--dir", dir,
      ...(options.args ?? [])
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  const keep = (data: Buffer) => {
    output = (output + data.toString("utf8")).slice(-4000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  let spawnError: Error | undefined
  child.once("error", (error) => {
    spawnError = error
  })
  if (child.pid === undefined) {
    await new Promise((resolve) => setImmediate(resolve)) // the "error" event comes on a later tick
    rmSync(dir, { recursive: true, force: true })
    throw new RedisServerError({
      message: `could not run redis-server (${spawnError?.message ?? "no pid"}): ${howTo}`
    })
  }
  // The watchdog reads its stdin, a pipe from this process, until EOF: the kernel closes the pipe however this
  // process dies (vitest ends its workers without an "exit" event), and the watchdog then kills the server and
  // removes its directory. Detached, so a Ctrl-C to the process group does not stop it first.
  const watchdog = spawn(
    "/bin/sh",
    [
      "-c",
      "while read -r _; do :; done; kill -9 \"$1\" 2>/dev/null; rm -rf -- \"$2\"",
      "redis-watchdog",
      String(child.pid),
      dir
    ],
    { stdio: ["pipe", "ignore", "ignore"], detached: true }
  )
  watchdog.on("error", () => {}) // without /bin/sh the exit hook still covers a normal exit
  const entry: Owned = { child, watchdog, dir }
  owned.add(entry)
  child.once("exit", () => {
    owned.delete(entry)
    watchdog.kill("SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  })
  child.unref()
  unref(child.stdout)
  unref(child.stderr)
  watchdog.unref()
  unref(watchdog.stdin)

  const timeout = options.readyTimeout ?? 5000
  const deadline = Date.now() + timeout
  while (!exited(child)) {
    if (await answersPing(port)) {
      // the answer may come from another process that holds the port while ours is failing to bind
      if (!exited(child)) return entry
    }
    if (Date.now() >= deadline) {
      child.kill("SIGKILL")
      await waitExit(child)
      throw new RedisServerError({
        message: `redis-server on port ${port} did not answer PING within ${timeout} ms; its output:\n${output}`
      })
    }
    await sleep(20)
  }
  await waitExit(child)
  throw new RedisServerError({
    message: `redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}) before answering PING; ` +
      `its output:\n${output}`
  })
}

const portTaken = (error: unknown) =>
  error instanceof RedisServerError && /address already in use/i.test(error.message)

/**
 * Starts a `redis-server` of its own on a free loopback port and resolves once it answers PING (within
 * `readyTimeout`, default 5 s); rejects with a {@link RedisServerError} carrying the server's output otherwise.
 * Stop it with `stop()` or `kill()`; in Effect code prefer {@link acquire}, which does it in a finalizer.
 */
export const start = async (options: StartOptions = {}): Promise<RedisServer> => {
  let port = await freePort()
  let current: Owned | undefined
  // another process may take the port between freePort and the bind: try a new one
  for (let attempt = 1; current === undefined; attempt++) {
    try {
      current = await spawnOn(port, options)
    } catch (error) {
      if (!portTaken(error) || attempt === 3) throw error
      port = await freePort()
    }
  }
  let latest: Owned = current
  const kill = async () => {
    latest.child.kill("SIGKILL")
    await waitExit(latest.child)
  }
  const stop = async () => {
    if (exited(latest.child)) return
    latest.child.kill("SIGTERM")
    const killer = setTimeout(() => latest.child.kill("SIGKILL"), 5000)
    await waitExit(latest.child)
    clearTimeout(killer)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return latest.child.pid!
    },
    get running() {
      return !exited(latest.child)
    },
    kill,
    stop,
    restart: async () => {
      await stop()
      latest = await spawnOn(port, options)
    }
  }
}

let sharedServer: Promise<RedisServer> | undefined

/**
 * A URL for tests that only need *a* server: `REDIS_URL` when it is set, otherwise one server of this process,
 * started on the first call and killed when the process exits. Do not kill or restart it: use {@link start} for
 * that. Keep tests apart with {@link uniquePrefix}.
 */
export const shared = async (): Promise<string> => {
  const fromEnv = redisUrlFromEnv()
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

const asError = (cause: unknown) =>
  cause instanceof RedisServerError ? cause : new RedisServerError({ message: String(cause) })

/** {@link start} as a scoped Effect: the server is killed when the scope closes. */
export const acquire = (options: StartOptions = {}): Effect.Effect<RedisServer, RedisServerError, Scope.Scope> =>
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
export class TestRedisServer extends Context.Service<TestRedisServer, RedisServer>()("test/TestRedisServer") {
  static readonly layer: Layer.Layer<TestRedisServer, RedisServerError> = Layer.effect(TestRedisServer, acquire())
}
