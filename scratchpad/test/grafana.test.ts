// The shipped Grafana dashboard (grafana/effect-resilience.json) against a real Prometheus scraping the demo:
// scripts/check-grafana.mjs run as a user runs it, then once more over a dashboard broken on purpose, so that the
// check is seen to catch a bad query and an empty one. Needs Debian's `prometheus` on PATH (the pre-test step,
// scripts/ensure-tools.mjs, installs it where it can); without it every test here fails, with one line saying how.
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const script = join(root, "scripts", "check-grafana.mjs")
const dashboardFile = join(root, "grafana", "effect-resilience.json")

const onPath = (command: string) =>
  (process.env.PATH ?? "").split(delimiter).some((dir) => {
    if (dir === "") return false
    try {
      accessSync(join(dir, command), constants.X_OK)
      return statSync(join(dir, command)).isFile()
    } catch {
      return false
    }
  })

interface Run {
  readonly code: number | null
  readonly out: string
}

/** Runs the check script with `args`, its stdout and stderr together. */
const check = (args: ReadonlyArray<string>): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (data: Buffer) => (out += data.toString("utf8")))
    child.stderr.on("data", (data: Buffer) => (out += data.toString("utf8")))
    child.once("error", reject)
    child.once("exit", (code) => resolve({ code, out }))
  })

/** The built demo on a free port; resolves with its `host:port` once it listens. */
const startDemo = (): Promise<{ readonly target: string; readonly child: ChildProcess }> =>
  new Promise((resolve, reject) => {
    const { DEMO_REPLICAS: _, LOG_FORMAT: __, ...inherited } = process.env
    const child = spawn(process.execPath, [join(root, "scratchpad", "dist", "demo.js")], {
      env: { ...inherited, PORT: "0", DEMO_DURATION_S: "40" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (data: Buffer) => {
      out += data.toString("utf8")
      const port = /demo service listening on http:\/\/localhost:(\d+)/.exec(out)?.[1]
      if (port !== undefined) resolve({ target: `127.0.0.1:${port}`, child })
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the demo exited (${code}) before listening:\n${out}`)))
  })

beforeAll(() => {
  if (!onPath("prometheus")) {
    throw new Error("prometheus is not on PATH: apt-get install -y prometheus (Debian's package)")
  }
})

describe.concurrent("Grafana dashboard", () => {
  it("every query returns data from a Prometheus scraping the demo, and the state panels from start-up", async () => {
    const run = await check(["--timeout", "40"])
    assert.strictEqual(run.code, 0, run.out)
    assert.include(run.out, "[check-grafana] ok: every query returned data")
    assert.notMatch(run.out, /^FAIL/m)
    // the start-up check ran before the outage, and found every state panel with data
    const startup = /start-up \(at the second scrape, [\d.]+ s, before the breaker opened\): (\d+)\/(\d+) state panels with data/
      .exec(run.out)
    assert.isNotNull(startup, run.out)
    assert.strictEqual(startup![1], startup![2])
    assert.isAtLeast(Number(startup![2]), 10)
  }, 50_000)

  it("fails on a bad query and an empty one, one line per failing panel", async () => {
    const dir = mkdtempSync(join(tmpdir(), "grafana-test-"))
    const demo = await startDemo()
    try {
      const dashboard = JSON.parse(readFileSync(dashboardFile, "utf8"))
      const panels = dashboard.panels.filter((p: { type: string }) => p.type !== "row")
      const [bad, empty] = [panels[1], panels[4]]
      bad.targets[0].expr = "sum by (operation (rate(resilience_calls_total[$__rate_interval]))"
      empty.targets[0].expr = `resilience_no_such_series{job=~"$job"}`
      writeFileSync(join(dir, "broken.json"), JSON.stringify(dashboard))

      const run = await check(["--target", demo.target, "--dashboard", join(dir, "broken.json"), "--timeout", "30"])
      assert.strictEqual(run.code, 1, run.out)
      const failing = run.out.split("\n").filter((line) => line.startsWith("FAIL"))
      assert.strictEqual(failing.length, 2, run.out)
      assert.include(failing[0], `panel ${JSON.stringify(bad.title)}`)
      assert.include(failing[0], "parse error")
      assert.include(failing[1], `panel ${JSON.stringify(empty.title)}`)
      assert.include(failing[1], "no series")
    } finally {
      demo.child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  }, 40_000)
})
