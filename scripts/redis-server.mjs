// A real `redis-server` of this process's own, for the tests (packages/core/test/support/redisServer.ts, an Effect
// layer over this), the bench (packages/core/bench/redisServer.ts) and the multi-replica demo (scratchpad/src/fleet.ts).
// `start()` runs Debian's redis-server (put on PATH by `scripts/ensure-tools.mjs` before `npm test`) on a free
// loopback port, with no config file, no persistence and a temporary working directory, and resolves once it
// answers `PING`. Types: redis-server.d.mts. Plain Node ESM without dependencies: it loads under the machine's
// Node (20) as well as the pinned Node 24 (ensure-tools.mjs imports it before the pinned one may exist).
//
// No server outlives its owner: every one is killed on `exit`, and a small watchdog shell kills it when the process
// dies without running its exit handlers (SIGKILL, a crash, vitest ending its workers): the watchdog reads a pipe
// from this process, which the kernel closes however the process ends. Real processes run on real time: everything
// here uses timers, so an Effect layer over it works the same under `TestClock`.
import { spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, rmSync, statSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"

/** What to do when redis-server is missing, in one line. */
export const howTo = "install it (Debian: sudo apt-get install -y redis-server) or set REDIS_URL to a running server"

/** A server that could not be started (missing binary, no answer in time, early exit); its output is in the message. */
export class RedisServerError extends Error {
  constructor(message) {
    super(message)
    this.name = "RedisServerError"
  }
}

/** The path of `command` on PATH, if there is an executable file of that name. */
export const onPath = (command) => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Whether `redis-server` is an executable file on PATH, so that `start()` can run one. */
export const isInstalled = () => onPath("redis-server") !== undefined

/** `REDIS_URL` when it is set to a non-empty value. */
export const redisUrlFromEnv = () => {
  const url = process.env.REDIS_URL
  return url === undefined || url === "" ? undefined : url
}

/** A free loopback port: bind port 0, read the port, close. */
export const freePort = () =>
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
export const answersPing = (port, timeout = 500) =>
  new Promise((resolve) => {
    let reply = ""
    const socket = net.connect({ host: "127.0.0.1", port })
    const done = (ok) => {
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

const exited = (child) => child.exitCode !== null || child.signalCode !== null

/** Resolves once `child` has exited, or after `timeout` ms when one is given. */
const waitExit = (child, timeout) =>
  exited(child) ? Promise.resolve() : new Promise((resolve) => {
    child.ref() // an unref'd child would let the process exit while this waits
    const timer = timeout === undefined ? undefined : setTimeout(resolve, timeout)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
  })

/** SIGTERM, SIGKILL if it has not exited within `graceMillis` (default 5000); resolves once it has exited. */
export const stopProcess = async (child, graceMillis = 5000) => {
  if (exited(child)) return
  child.kill("SIGTERM")
  const killer = setTimeout(() => child.kill("SIGKILL"), graceMillis)
  await waitExit(child)
  clearTimeout(killer)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Pipes are sockets at run time; unref'd, they do not keep the process alive on their own.
const unref = (stream) => stream?.unref?.()

/** The servers of this process that are running: { child, watchdog, dir }. */
const owned = new Set()
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

/** Spawns `redis-server` on `port` and waits until it answers PING; rejects with its output when it does not. */
const spawnOn = async (port, options) => {
  installExitHook()
  const dir = mkdtempSync(join(tmpdir(), `redis-${options.label ?? "server"}-`))
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
    // detached: a process group of its own, which a Ctrl-C in the terminal does not reach
    { stdio: ["ignore", "pipe", "pipe"], detached: options.detached === true }
  )
  let output = ""
  const keep = (data) => {
    output = (output + data.toString("utf8")).slice(-4000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  const spawnError = await new Promise((resolve) => {
    child.once("error", resolve)
    child.once("spawn", () => resolve(undefined))
  })
  child.on("error", () => {}) // a later error (a failed kill) is not fatal; exited() tells the state
  if (spawnError !== undefined || child.pid === undefined) {
    rmSync(dir, { recursive: true, force: true })
    throw new RedisServerError(`could not run redis-server (${spawnError?.message ?? "no pid"}): ${howTo}`)
  }
  // The watchdog reads its stdin, a pipe from this process, until EOF, then kills the server and removes its
  // directory. Detached, so that a Ctrl-C to the process group does not stop it first.
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
  const entry = { child, watchdog, dir }
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
      throw new RedisServerError(
        `redis-server on port ${port} did not answer PING within ${timeout} ms; its output:\n${output}`
      )
    }
    await sleep(20)
  }
  await waitExit(child)
  throw new RedisServerError(
    `redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}) before answering PING; ` +
      `its output:\n${output}`
  )
}

const portTaken = (error) => error instanceof RedisServerError && /address already in use/i.test(error.message)

/**
 * Starts a `redis-server` on a free loopback port (or `options.port`) and resolves once it answers PING (within
 * `readyTimeout`, default 5 s); rejects with a RedisServerError saying why (how to install it, or the server's
 * output) otherwise. Another process may take a free port before the server binds it: then it tries another one,
 * twice. Stop it with `stop()` or `kill()`; both also wait for its watchdog to be gone.
 */
export const start = async (options = {}) => {
  if (!isInstalled()) throw new RedisServerError(`redis-server is not on PATH: ${howTo}`)
  let port = options.port ?? await freePort()
  let current
  for (let attempt = 1; current === undefined; attempt++) {
    try {
      current = await spawnOn(port, options)
    } catch (error) {
      if (!portTaken(error) || options.port !== undefined || attempt === 3) throw error
      port = await freePort()
    }
  }
  let latest = current
  // done once both are gone: no process of the server's outlives the call
  const gone = (entry) => Promise.all([waitExit(entry.child), waitExit(entry.watchdog, 1000)]).then(() => {})
  const kill = async () => {
    latest.child.kill("SIGKILL")
    await gone(latest)
  }
  const stop = async () => {
    await stopProcess(latest.child, 5000)
    await gone(latest)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return latest.child.pid
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
