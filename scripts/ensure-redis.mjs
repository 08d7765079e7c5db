// Runs before `npm test` (after ensure-install): the Redis tests start their own `redis-server` (Debian's
// redis-server package) on a random loopback port, so it has to be on PATH. With `REDIS_URL` set the tests use
// that server instead and nothing is needed. Otherwise, when `redis-server` is missing, this script installs it
// where it can (as root with apt-get: `apt-get install -y redis-server`, once more after `apt-get update` if the
// package lists are stale), or fails with one line saying how to install it. Plain Node ESM without
// dependencies: it must run under the machine's Node (20) as well as the pinned Node 24.
//
// For tests only: ENSURE_REDIS_NO_INSTALL=1 skips the install attempt, as on a machine where it cannot install.
import { spawnSync } from "node:child_process"
import { howTo, onPath, redisUrlFromEnv } from "./redis-server.mjs"

const fail = (message) => {
  console.error(`[ensure-redis] ${message}`)
  process.exit(1)
}

const aptGet = (args) =>
  spawnSync("apt-get", args, {
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    maxBuffer: Infinity,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  })

const exitOf = (run) => run.status ?? run.signal ?? run.error?.message

// apt's own output is kept only when it failed: the reason is in it
const aptOutput = (run) => {
  const output = `${run.stdout ?? ""}${run.stderr ?? ""}`.trim()
  if (output !== "") console.error(output)
}

if (redisUrlFromEnv() === undefined) {
  if (onPath("redis-server") === undefined) {
    const canInstall = process.env.ENSURE_REDIS_NO_INSTALL !== "1" &&
      process.getuid?.() === 0 &&
      onPath("apt-get") !== undefined
    if (!canInstall) fail(`redis-server is missing: ${howTo}`)

    console.error("[ensure-redis] redis-server is missing: running apt-get install -y redis-server")
    let install = aptGet(["install", "-y", "-q", "redis-server"])
    if (install.error === undefined && install.status !== 0) {
      // stale package lists (a fresh container has none): refresh them once and try again
      const update = aptGet(["update", "-q"])
      if (update.error !== undefined || update.status !== 0) {
        aptOutput(install)
        aptOutput(update)
        fail(`apt-get update failed (exit ${exitOf(update)}): ${howTo}`)
      }
      install = aptGet(["install", "-y", "-q", "redis-server"])
    }
    if (install.error !== undefined || install.status !== 0) {
      aptOutput(install)
      fail(`apt-get install -y redis-server failed (exit ${exitOf(install)}): ${howTo}`)
    }
    if (onPath("redis-server") === undefined) fail(`redis-server is still not on PATH after apt-get: ${howTo}`)
  }
}
