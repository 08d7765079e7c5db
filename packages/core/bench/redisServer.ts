/**
 * The Redis server the benchmark's Redis scenarios run on: `REDIS_URL` when it is set, otherwise a `redis-server`
 * of the bench's own on a free loopback port (no config file, no persistence, a temporary directory), stopped at
 * the end of the run. The spawn logic is the one of `test/support/redisServer.ts`, cut down to what the bench needs
 * (the bench's tsconfig does not include the tests): a server never outlives the bench, however it ends (an exit
 * hook, and a watchdog shell that kills the server once the bench's end of its stdin pipe closes).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, rmSync, statSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"

/** A Redis server for the bench: its URL, whether the bench started it, and how to stop it (a no-op if not). */
export interface BenchRedis {
  readonly url: string
  readonly owned: boolean
  readonly stop: () => Promise<void>
}

const onPath = (command: string): boolean =>
  (process.env.PATH ?? "").split(delimiter).some((dir) => {
    if (dir === "") return false
    try {
      const candidate = join(dir, command)
      accessSync(candidate, constants.X_OK)
      return statSync(candidate).isFile()
    } catch {
      return false
    }
  })

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })

const answersPing = (port: number, timeout = 500): Promise<boolean> =>
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
  exited(child) ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const spawnOn = async (port: number): Promise<ChildProcess> => {
  const dir = mkdtempSync(join(tmpdir(), "redis-bench-"))
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", dir],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  const keep = (data: Buffer) => {
    output = (output + data.toString("utf8")).slice(-4000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  child.once("error", (error) => {
    output += `\n${error.message}`
  })
  const watchdog = spawn(
    "/bin/sh",
    [
      "-c",
      "while read -r _; do :; done; kill -9 \"$1\" 2>/dev/null; rm -rf -- \"$2\"",
      "redis-watchdog",
      String(child.pid ?? 0),
      dir
    ],
    { stdio: ["pipe", "ignore", "ignore"], detached: true }
  )
  watchdog.on("error", () => {})
  watchdog.unref()
  ;(watchdog.stdin as unknown as net.Socket | null)?.unref?.()
  const onExit = () => {
    child.kill("SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  }
  process.on("exit", onExit)
  child.once("exit", () => {
    process.off("exit", onExit)
    watchdog.kill("SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + 5000
  while (!exited(child) && child.pid !== undefined) {
    if (await answersPing(port) && !exited(child)) return child
    if (Date.now() >= deadline) break
    await sleep(20)
  }
  child.kill("SIGKILL")
  await waitExit(child)
  throw new Error(`redis-server on port ${port} did not start: ${output.trim()}`)
}

/**
 * The server to use, or why there is none: `REDIS_URL` when set (never stopped by the bench), else an own
 * `redis-server` when one is on PATH.
 */
export const acquire = async (): Promise<BenchRedis | string> => {
  const fromEnv = process.env.REDIS_URL
  if (fromEnv !== undefined && fromEnv !== "") return { url: fromEnv, owned: false, stop: async () => {} }
  if (!onPath("redis-server")) return "redis-server is not on PATH and REDIS_URL is not set"
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      const child = await spawnOn(port)
      return {
        url: `redis://127.0.0.1:${port}`,
        owned: true,
        stop: async () => {
          if (exited(child)) return
          child.kill("SIGTERM")
          const killer = setTimeout(() => child.kill("SIGKILL"), 5000)
          await waitExit(child)
          clearTimeout(killer)
        }
      }
    } catch (error) {
      // another process may have taken the port between freePort and the bind: try another one
      lastError = error
    }
  }
  return `redis-server could not be started (${String(lastError)})`
}
