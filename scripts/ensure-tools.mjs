// Runs before `npm test` (after ensure-install): makes sure the programs the tests drive for real are there.
//
// - `redis-server` (Debian's redis-server package): the Redis tests start their own on a random loopback port.
//   Not needed when `REDIS_URL` points the tests at an existing server.
// - `chromium` (Debian's chromium package): the dashboard's browser tests drive it with playwright-core (whose
//   own browser downloads cannot be fetched here). `CHROMIUM_PATH` names another Chromium or Chrome binary.
// - `prometheus` (Debian's prometheus package): the Grafana dashboard's queries are checked against a real one.
//
// Usage: node scripts/ensure-tools.mjs [tool…] (all three by default). For each missing tool this installs its
// package where it can (as root with apt-get: `apt-get install -y <package>`, once more after `apt-get update` if
// the package lists are stale), or fails with one line saying how to install it. Plain Node ESM without
// dependencies: it must run under the machine's Node (20) as well as the pinned Node 24.
//
// For tests only: ENSURE_TOOLS_NO_INSTALL=1 skips the install attempt, as on a machine where it cannot install.
import { spawnSync } from "node:child_process"
import { accessSync, constants, statSync } from "node:fs"
import { howTo as redisHowTo, onPath, redisUrlFromEnv } from "./redis-server.mjs"

const executableFile = (path) => {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

// the names a Chromium (or Chrome) binary goes by on PATH; the browser tests look for the same ones
const browserNames = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]

/**
 * What each tool needs: its Debian package, the one line saying how to get it, and `present()`, which answers
 * `true` when nothing is to be done, or a string when the tool is configured wrongly (that string is the failure).
 */
const tools = {
  "redis-server": {
    tag: "ensure-redis",
    pkg: "redis-server",
    howTo: redisHowTo,
    present: () => redisUrlFromEnv() !== undefined || onPath("redis-server") !== undefined
  },
  chromium: {
    tag: "ensure-chromium",
    pkg: "chromium",
    howTo: "install it (Debian: sudo apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary",
    present: () => {
      const path = process.env.CHROMIUM_PATH
      if (path !== undefined && path !== "") {
        return executableFile(path) || `CHROMIUM_PATH=${path} is not an executable file`
      }
      return browserNames.some((name) => onPath(name) !== undefined)
    }
  },
  prometheus: {
    tag: "ensure-prometheus",
    pkg: "prometheus",
    howTo: "install it (Debian: sudo apt-get install -y prometheus)",
    present: () => onPath("prometheus") !== undefined
  }
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

// the package lists are refreshed at most once per run, whatever the number of missing tools
let updated = false

/** Makes sure `name` is there; answers the one line of failure, or `undefined`. */
const ensure = (name) => {
  const tool = tools[name]
  const fail = (message) => `[${tool.tag}] ${message}`
  const before = tool.present()
  if (before === true) return undefined
  if (typeof before === "string") return fail(before)

  const canInstall = process.env.ENSURE_TOOLS_NO_INSTALL !== "1" &&
    process.getuid?.() === 0 &&
    onPath("apt-get") !== undefined
  if (!canInstall) return fail(`${name} is missing: ${tool.howTo}`)

  console.error(`[${tool.tag}] ${name} is missing: running apt-get install -y ${tool.pkg}`)
  const install = ["install", "-y", "-q", tool.pkg]
  let run = aptGet(install)
  if (run.error === undefined && run.status !== 0 && !updated) {
    // stale package lists (a fresh container has none): refresh them once and try again
    updated = true
    const update = aptGet(["update", "-q"])
    if (update.error !== undefined || update.status !== 0) {
      aptOutput(run)
      aptOutput(update)
      return fail(`apt-get update failed (exit ${exitOf(update)}): ${tool.howTo}`)
    }
    run = aptGet(install)
  }
  if (run.error !== undefined || run.status !== 0) {
    aptOutput(run)
    return fail(`apt-get install -y ${tool.pkg} failed (exit ${exitOf(run)}): ${tool.howTo}`)
  }
  if (tool.present() !== true) return fail(`${name} is still not on PATH after apt-get: ${tool.howTo}`)
  return undefined
}

const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(tools)
const unknown = names.filter((name) => !Object.hasOwn(tools, name))
if (unknown.length > 0) {
  console.error(`[ensure-tools] unknown tool ${unknown.join(", ")}: expected ${Object.keys(tools).join(", ")}`)
  process.exit(2)
}
// every tool is tried, so one run names everything that is missing
const failures = names.map(ensure).filter((line) => line !== undefined)
for (const line of failures) console.error(line)
if (failures.length > 0) process.exit(1)
