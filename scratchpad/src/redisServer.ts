/**
 * A `redis-server` of the multi-replica demo's own (`DEMO_REPLICAS` without `REDIS_URL`): started on a free
 * loopback port with no config file, no persistence and a temporary directory, and stopped when its scope closes.
 * The same recipe as the tests' `packages/core/test/support/redisServer.ts`, reduced to what the demo needs.
 *
 * It runs in a process group of its own, so that a Ctrl-C in the terminal reaches only the demo, which stops its
 * replicas before the server they use. A small watchdog shell kills it if the demo dies without running its
 * finalizers (SIGKILL, a crash): the watchdog reads a pipe from the demo, which the kernel closes however the demo
 * ends.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, rmSync, statSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { Data, Effect, type Scope } from "effect"

/** A running `redis-server` of the demo's. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  readonly pid: number
}

/** A server that could not be started: the binary is missing, or it did not answer in time. */
export class RedisServerError extends Data.TaggedError("RedisServerError")<{ readonly message: string }> {}

/** Whether `redis-server` is an executable file on PATH. */
export const isInstalled = (): boolean =>
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

/** A free loopback port: bind port 0, read the port, close. */
export const freePort: Effect.Effect<number, RedisServerError> = Effect.callback((resume) => {
  const server = net.createServer()
  server.unref()
  server.once("error", (error) => resume(Effect.fail(new RedisServerError({ message: `no free port: ${error.message}` }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() =>
      resume(
        typeof address === "object" && address !== null
          ? Effect.succeed(address.port)
          : Effect.fail(new RedisServerError({ message: "no port from listen(0)" }))
      )
    )
  })
})

/** Whether something on `127.0.0.1:port` answers `PING` with `+PONG` within half a second. */
const answersPing = (port: number): Effect.Effect<boolean> =>
  Effect.callback((resume) => {
    let reply = ""
    const socket = net.connect({ host: "127.0.0.1", port })
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(500, () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (data) => {
      reply += data.toString("latin1")
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"))
    })
    socket.once("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

const awaitExit = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback((resume) => {
    if (exited(child)) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/** SIGTERM, SIGKILL if it has not exited within `graceMillis`; completes once it has exited. */
export const stopProcess = (child: ChildProcess, graceMillis: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (exited(child)) return Effect.void
    child.kill("SIGTERM")
    return awaitExit(child).pipe(
      Effect.timeoutOption(graceMillis),
      Effect.flatMap((stopped) =>
        stopped._tag === "Some" ? Effect.void : Effect.andThen(Effect.sync(() => child.kill("SIGKILL")), awaitExit(child))
      )
    )
  })

const howTo = "install it (Debian: apt-get install -y redis-server) or set REDIS_URL to a running Redis"

/** Spawns `redis-server` on `port` and waits until it answers PING (5 s at most). */
const spawnOn = (port: number) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "redis-demo-"))
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: ["ignore", "pipe", "pipe"], detached: true }
    )
    let output = ""
    const keep = (data: Buffer) => {
      output = (output + data.toString("utf8")).slice(-2000)
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    const spawnError = yield* Effect.callback<Error | undefined>((resume) => {
      child.once("error", (error) => resume(Effect.succeed(error)))
      child.once("spawn", () => resume(Effect.succeed(undefined)))
    })
    if (spawnError !== undefined || child.pid === undefined) {
      rmSync(dir, { recursive: true, force: true })
      return yield* new RedisServerError({ message: `could not run redis-server (${spawnError?.message}): ${howTo}` })
    }
    const watchdog = spawn(
      "/bin/sh",
      ["-c", "while read -r _; do :; done; kill -9 \"$1\" 2>/dev/null; rm -rf -- \"$2\"", "redis-watchdog", String(child.pid), dir],
      { stdio: ["pipe", "ignore", "ignore"], detached: true }
    )
    watchdog.on("error", () => {}) // without /bin/sh the finalizer still stops the server
    watchdog.unref()
    ;(watchdog.stdin as net.Socket | null)?.unref()
    child.once("exit", () => {
      watchdog.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    })
    // done once both are gone: no process of the demo's outlives it
    const stop = Effect.andThen(stopProcess(child, 5000), awaitExit(watchdog).pipe(Effect.timeoutOption(1000)))
    for (let waited = 0; !exited(child); waited += 20) {
      // the answer may come from another process holding the port while ours fails to bind
      if ((yield* answersPing(port)) && !exited(child)) return { child, stop }
      if (waited >= 5000) {
        yield* stop
        return yield* new RedisServerError({ message: `redis-server did not answer PING within 5 s; its output:\n${output}` })
      }
      yield* Effect.sleep(20)
    }
    yield* awaitExit(child)
    return yield* new RedisServerError({ message: `redis-server exited before answering PING; its output:\n${output}` })
  })

/**
 * Starts a `redis-server` on a free loopback port, stopped (SIGTERM, SIGKILL after 5 s) when the scope closes.
 * Fails with a {@link RedisServerError} saying how to install it when it is not on PATH.
 */
export const acquire: Effect.Effect<RedisServer, RedisServerError, Scope.Scope> = Effect.gen(function*() {
  if (!isInstalled()) return yield* new RedisServerError({ message: `redis-server is not on PATH: ${howTo}` })
  // another process may take the port between freePort and the bind: try another one, twice
  for (let attempt = 1;; attempt++) {
    const port = yield* freePort
    const started = yield* Effect.acquireRelease(
      Effect.result(spawnOn(port)),
      (result) => result._tag === "Success" ? result.success.stop : Effect.void
    )
    if (started._tag === "Success") return { url: `redis://127.0.0.1:${port}`, port, pid: started.success.child.pid! }
    if (attempt === 3 || !/address already in use/i.test(started.failure.message)) return yield* started.failure
  }
})
