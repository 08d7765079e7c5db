// The multi-replica demo (`DEMO_REPLICAS=N npm run demo`), run as a user runs it: the built demo in a process of
// its own, on a real redis-server (its own, or REDIS_URL's), its console output read back. Skipped when neither
// redis-server nor REDIS_URL is there. Then the summary's arithmetic (`analyse`) on made-up messages.
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { execFileSync, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { CircuitBreaker } from "@effect-resilience/core"
import { analyse, type Event } from "../src/fleet.js"
import { isInstalled } from "../../scripts/redis-server.mjs"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const demo = join(root, "scratchpad", "dist", "demo.js")
const noRedis = !isInstalled() && (process.env.REDIS_URL ?? "") === ""
const skipReason = "redis-server is not on PATH and REDIS_URL is unset (Debian: apt-get install -y redis-server)"

interface Run {
  readonly code: number | null
  readonly out: string
  readonly err: string
}

/** Runs the built demo with `env`; `interruptWhen` sends it SIGINT once its output matches. */
const runDemo = (env: Record<string, string>, interruptWhen?: RegExp): Promise<Run> =>
  new Promise((resolve, reject) => {
    const { DEMO_DURATION_S: _, DEMO_REPLICAS: __, ...inherited } = process.env
    const child = spawn(process.execPath, [demo], { env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    let interrupted = false
    child.stdout.on("data", (data: Buffer) => {
      out += data.toString("utf8")
      if (interruptWhen !== undefined && !interrupted && interruptWhen.test(out)) {
        interrupted = true
        child.kill("SIGINT")
      }
    })
    child.stderr.on("data", (data: Buffer) => (err += data.toString("utf8")))
    child.once("error", reject)
    child.once("exit", (code) => resolve({ code, out, err }))
  })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * The processes the run started that are still there: its replicas and redis-server by pid, and any process whose
 * environment holds the run's key prefix (a replica) or whose command line names its Redis port or pid (the
 * server, its watchdog).
 */
const leftovers = (run: Run): Array<string> => {
  const pids = [...run.out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
  const prefix = /prefix (demo:[0-9a-f]+:)/.exec(run.out)?.[1]
  const port = /redis:\/\/127\.0\.0\.1:(\d+) \(redis-server/.exec(run.out)?.[1]
  const found = pids.filter(alive).map((pid) => `pid ${pid}`)
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ")
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8")
      if (
        (prefix !== undefined && environ.includes(`DEMO_PREFIX=${prefix}`)) ||
        (port !== undefined && cmdline.includes(`127.0.0.1:${port}`)) ||
        (cmdline.includes("redis-watchdog") && pids.some((pid) => cmdline.includes(` ${pid} `)))
      ) found.push(`${entry}: ${cmdline.trim()}`)
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return [...new Set(found)]
}

const transitionLine =
  /^\d\d:\d\d:\d\d\.\d{3} {2}(replica-\d+) +storage {2}(\w+) → (\w+) *\((local|remote|sync)(?:: (\w+))?(?:, from (replica-\d+))?/

const transitionsOf = (out: string) =>
  out.split("\n").flatMap((line) => {
    const m = transitionLine.exec(line)
    return m === null ? [] : [{ replica: m[1]!, from: m[2]!, to: m[3]!, origin: m[4]!, reason: m[5], by: m[6], line }]
  })

/** The summary's half-open lines: `HH:MM:SS.mmm  1 probe (replica-2 failed) → open again`. */
const halfOpenPeriodsOf = (out: string) =>
  [...out.matchAll(/^ {6}\d\d:\d\d:\d\d\.\d{3} {2}(\d+) probes? \((.*)\) → (.*)$/gm)].map((m) => ({
    probes: Number(m[1]),
    who: m[2]!,
    ended: m[3]!
  }))

/** The summary's table: requests, writes, writes while open, probes, transitions, state now, per replica. */
const figuresOf = (out: string) =>
  [...out.matchAll(/^ {3}(replica-\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)\/(\d+)\/(\d+) +(\w+)$/gm)].map((m) => ({
    replica: m[1]!,
    writes: Number(m[3]),
    writesWhileOpen: Number(m[4]),
    probes: Number(m[5]),
    now: m[9]!
  }))

describe("DEMO_REPLICAS=3 npm run demo", () => {
  beforeAll(() => {
    // the demo runs built, as `npm run demo` runs it; up to date, this takes a moment
    if (noRedis) return
    execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-b", join(root, "scratchpad")], { cwd: root })
  }, 120_000)

  it("one replica's trip opens all three, one probe per half-open period for the fleet, all close again; no process left", async (ctx) => {
    ctx.skip(noRedis, skipReason)
    const run = await runDemo({ DEMO_REPLICAS: "3", DEMO_DURATION_S: "10" })
    assert.strictEqual(run.code, 0, run.err + run.out)
    const transitions = transitionsOf(run.out)

    // one trip, decided by one replica; the two others opened from its message
    const trips = transitions.filter((t) => t.from === "closed" && t.to === "open")
    const local = trips.filter((t) => t.origin === "local")
    assert.strictEqual(local.length, 1, run.out)
    const tripper = local[0]!.replica
    assert.strictEqual(local[0]!.reason, "failure_rate")
    const remote = trips.filter((t) => t.origin === "remote")
    assert.deepStrictEqual(remote.map((t) => t.replica).sort(), ["replica-1", "replica-2", "replica-3"].filter((r) => r !== tripper))
    assert.isTrue(remote.every((t) => t.by === tripper), run.out)

    // every half-open period: one replica turned half-open itself (it claimed the probe; the others turn half-open
    // from its claim, or straight to its outcome), and the fleet made exactly one probe in it
    const periods = halfOpenPeriodsOf(run.out)
    assert.isAtLeast(periods.length, 1, run.out)
    assert.deepStrictEqual(periods.map((p) => p.probes), periods.map(() => 1), run.out)
    const claims = transitions.filter((t) => t.to === "half_open" && t.origin === "local")
    assert.strictEqual(claims.length, periods.length, run.out)

    // recovery: the last period's probe closed the breaker, and every replica closed: the prober itself, the
    // others from it
    assert.strictEqual(periods.at(-1)!.ended, "closed", run.out)
    const closings = transitions.filter((t) => t.to === "closed")
    assert.strictEqual(closings.filter((t) => t.origin === "local").length, 1, run.out)
    assert.deepStrictEqual(closings.map((t) => t.replica).sort(), ["replica-1", "replica-2", "replica-3"], run.out)
    const figures = figuresOf(run.out)
    assert.deepStrictEqual(figures.map((f) => f.now), ["closed", "closed", "closed"], run.out)
    // the summary counts each probe once, and the others hardly touched the storage once the fleet was open: at
    // most the one attempt in flight when the message arrived
    assert.strictEqual(figures.reduce((n, f) => n + f.probes, 0), periods.length)
    for (const f of figures) assert.isAtMost(f.writesWhileOpen, 1, run.out)

    assert.deepStrictEqual(leftovers(run), [])
  }, 60_000)

  it("Ctrl-C: the summary, exit 130, the replicas and redis-server stopped", async (ctx) => {
    ctx.skip(noRedis, skipReason)
    const run = await runDemo({ DEMO_REPLICAS: "2" }, /running until Ctrl-C[\s\S]*client/)
    assert.strictEqual(run.code, 130, run.err + run.out)
    assert.include(run.out, "== summary (2 replicas, one Redis)")
    assert.strictEqual(figuresOf(run.out).length, 2, run.out)
    assert.deepStrictEqual(leftovers(run), [])
  }, 60_000)
})

// --- the summary's arithmetic, on messages made up for it

const transition = (
  replica: number,
  from: CircuitBreaker.Status,
  to: CircuitBreaker.Status,
  at: number,
  origin: CircuitBreaker.Origin,
  reason: CircuitBreaker.Reason = "failure_rate"
): Event => ({
  replica,
  message: {
    _tag: "Transition",
    transition: { breaker: "storage", from, to, reason, at, generation: 0, openings: 1, origin }
  }
})
const write = (replica: number, at: number, failed = true): Event => ({ replica, message: { _tag: "Write", at, failed } })

describe("analyse", () => {
  it("a write of the tripping replica before its trip is not made while open; another replica's, not yet told, is", () => {
    const { figures, periods } = analyse(2, [
      write(0, 100),
      transition(0, "closed", "open", 100, "local"),
      write(1, 103),
      transition(1, "closed", "open", 105, "remote"),
      transition(0, "open", "half_open", 2100, "local", "open_elapsed"),
      write(0, 2101, false),
      transition(1, "open", "half_open", 2102, "remote", "open_elapsed"),
      transition(0, "half_open", "closed", 2102, "local", "probes_succeeded"),
      transition(1, "half_open", "closed", 2104, "remote", "probes_succeeded"),
      write(1, 2110, false)
    ])
    assert.deepStrictEqual(periods.map((p) => [p.kind, p.start, p.end, p.by, p.probes.length, p.outcome]), [
      ["open", 100, 2100, 0, 0, undefined],
      ["half_open", 2100, 2102, 0, 1, "closed"]
    ])
    assert.deepStrictEqual(figures.map((f) => [f.writes, f.writesWhileOpen, f.probes, f.status]), [
      [2, 0, 1, "closed"],
      [2, 1, 0, "closed"]
    ])
  })

  it("two replicas tripping at once make one opening, both named; a second probe in a period is counted", () => {
    const { figures, periods } = analyse(3, [
      transition(0, "closed", "open", 100, "local"),
      transition(1, "closed", "open", 101, "local"),
      transition(2, "closed", "open", 104, "remote"),
      transition(0, "open", "half_open", 2100, "local", "open_elapsed"),
      transition(1, "open", "half_open", 2100, "local", "open_elapsed"),
      write(0, 2101),
      write(1, 2101),
      transition(0, "half_open", "open", 2102, "local", "probe_failed")
    ])
    assert.deepStrictEqual(periods.map((p) => [p.kind, p.by, p.alsoBy, p.probes.length, p.outcome ?? "-"]), [
      ["open", 0, [1], 0, "-"],
      ["half_open", 0, [], 2, "open"],
      ["open", 0, [], 0, "-"]
    ])
    assert.deepStrictEqual(figures.map((f) => f.probes), [1, 1, 0])
  })
})
