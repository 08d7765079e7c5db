#!/usr/bin/env node
// Checks the shipped Grafana dashboard (grafana/effect-resilience.json) against a real Prometheus: Debian's
// `prometheus` scrapes the demo service every second, and every query of the dashboard (panel targets, the
// annotation, the template variables) runs on Prometheus's HTTP API. A query fails when Prometheus refuses it (bad
// PromQL) or when it returns no series: one line per failing panel, exit 1.
//
//   npx tsc -b && node scripts/check-grafana.mjs     runs scratchpad/dist/demo.js and checks against it
//   node scripts/check-grafana.mjs --target host:port         checks against a service that is already running
//
// Options: --dashboard <file> (default grafana/effect-resilience.json), --prometheus <binary> (default
// `prometheus` on PATH), --timeout <seconds> for the whole run (default 45), --verbose (every query's series count).
//
// Prometheus starts first, on the port the demo will have: its scrape manager takes up a new target only every
// 5 s, and the demo starts failing on purpose 4 s after it starts (demo.ts: flaky storage 4 s, outage 3 s, recovery
// 5 s, overload 3 s). Then two checks:
// - at start-up: the demo's first /metrics (read as soon as it listens) must hold the state series (breakers,
//   bulkheads, rate limiters, retry budgets, the tracker's own series), and every panel over those series (or with
//   an `or vector(0)` fallback) must have data as of Prometheus's second successful scrape (queries evaluated at
//   that time), before the breaker opened: such a panel must never read "No data" before the first failure;
// - after the outage (the breaker's opening scraped, plus two scrapes): every query must return series.
// With --target only the second check runs, at once after two scrapes (the target's start-up is not ours to see).
//
// Grafana's variables are substituted as Grafana would: `$__rate_interval` as 5s (4 scrape intervals, plus one),
// `$__interval` 1s, `$__range` the time since this started; each query runs twice, with every template variable
// at its "All" value (`.*`) and at the values its own query returned (Grafana's regex-escaped multi-value form).
// Exit 0 when every query returned data, 1 when one did not (or the run failed), 2 when prometheus is missing or
// the arguments are wrong. The processes this starts (the demo, Prometheus) and its temporary directory go however
// it ends: on exit, on a signal, and, through a watchdog shell reading a pipe from this process, on a SIGKILL.
//
// Plain Node ESM without dependencies: it runs under the machine's Node (20) as well as the pinned Node 24.
import { spawn } from "node:child_process"
import { accessSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { onPath } from "./redis-server.mjs"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const started = Date.now()
const howToInstall = "apt-get install -y prometheus"
const job = "effect-resilience"
const scrapeSeconds = 1
const rateInterval = "5s"

// ------------------------------------------------------------------------------------------------ arguments

const usage = "usage: node scripts/check-grafana.mjs [--target host:port] [--dashboard file] [--prometheus binary] " +
  "[--timeout seconds] [--verbose]"
const options = { dashboard: join(root, "grafana", "effect-resilience.json"), target: undefined, prometheus: undefined, timeout: 45, verbose: false }
{
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const next = argv[++i]
      if (next === undefined) bail(`${arg} needs a value; ${usage}`)
      return next
    }
    if (arg === "--target") options.target = value()
    else if (arg === "--dashboard") options.dashboard = resolve(value())
    else if (arg === "--prometheus") options.prometheus = value()
    else if (arg === "--timeout") options.timeout = Number(value())
    else if (arg === "--verbose") options.verbose = true
    else if (arg === "--help" || arg === "-h") {
      console.log(usage)
      process.exit(0)
    } else bail(`unknown argument ${JSON.stringify(arg)}; ${usage}`)
  }
  if (!(options.timeout > 0)) bail(`--timeout must be a number of seconds; ${usage}`)
  if (options.target !== undefined && !/^[^\s/:]+:\d+$/.test(options.target)) bail(`--target must be host:port, got ${JSON.stringify(options.target)}`)
}

function bail(message, code = 2) {
  console.error(`[check-grafana] ${message}`)
  process.exit(code)
}

// ------------------------------------------------------------------------------------------------ processes

/** Processes and directories of this run, taken down however it ends. */
const owned = { children: [], dirs: [] }


const exited = (child) => child.exitCode !== null || child.signalCode !== null
const waitExit = (child, ms) =>
  exited(child) ? Promise.resolve() : new Promise((done) => {
    const timer = setTimeout(done, ms)
    child.once("exit", () => {
      clearTimeout(timer)
      done()
    })
  })

/**
 * Spawns `command`, keeping the tail of its output; a detached watchdog shell kills it (and removes `dir`) when
 * this process's end closes the watchdog's stdin, however this process ends.
 */
const run = (name, command, args, { env, dir, onStdout } = {}) => {
  const child = spawn(command, args, { env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] })
  let tail = ""
  const keep = (data) => {
    tail = (tail + data.toString("utf8")).slice(-6000)
  }
  child.stdout.on("data", (data) => {
    keep(data)
    onStdout?.(data.toString("utf8"))
  })
  child.stderr.on("data", keep)
  child.on("error", (error) => keep(Buffer.from(`\n[spawn failed: ${error.message}]`)))
  const entry = { name, child, watchdog: undefined, output: () => tail }
  if (child.pid !== undefined) {
    const watchdog = spawn(
      "/bin/sh",
      ["-c", "while read -r _; do :; done; kill -9 \"$1\" 2>/dev/null; [ -n \"$2\" ] && rm -rf -- \"$2\"", `${name}-watchdog`, String(child.pid), dir ?? ""],
      { stdio: ["pipe", "ignore", "ignore"], detached: true }
    )
    watchdog.on("error", () => {}) // without /bin/sh the exit handlers below still cover a normal end
    watchdog.unref()
    entry.watchdog = watchdog
  }
  owned.children.push(entry)
  return entry
}

let cleaning
const cleanup = () =>
  cleaning ??= (async () => {
    for (const { child, watchdog } of owned.children.splice(0)) {
      if (!exited(child)) {
        child.kill("SIGTERM")
        await waitExit(child, 3000)
        if (!exited(child)) {
          child.kill("SIGKILL")
          await waitExit(child, 2000)
        }
      }
      watchdog?.kill("SIGKILL")
    }
    for (const dir of owned.dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })()

process.on("exit", () => {
  for (const { child, watchdog } of owned.children) {
    if (!exited(child)) child.kill("SIGKILL")
    watchdog?.kill("SIGKILL")
  }
  for (const dir of owned.dirs) rmSync(dir, { recursive: true, force: true })
})
let stopping = false
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(signal, () => {
    stopping = true
    console.error(`[check-grafana] ${signal}: stopping`)
    cleanup().finally(() => process.exit(code))
  })
}

const freePort = () =>
  new Promise((done, reject) => {
    const server = net.createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? done(address.port) : reject(new Error("no port"))))
    })
  })

const sleep = (ms) => new Promise((done) => setTimeout(done, ms))
const deadline = started + options.timeout * 1000
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1)

class CheckError extends Error {}

/** Polls `probe` every `every` ms until it returns a value other than undefined; fails at the run's deadline. */
const until = async (what, probe, every = 200) => {
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new CheckError(`timed out after ${options.timeout} s waiting for ${what}`)
    await sleep(every)
  }
}

// ------------------------------------------------------------------------------------------------ the dashboard

/** The template variables, the annotation queries, and every panel (rows' collapsed panels included). */
const readDashboard = (file) => {
  let dashboard
  try {
    dashboard = JSON.parse(readFileSync(file, "utf8"))
  } catch (error) {
    throw new CheckError(`cannot read ${file}: ${error.message}`)
  }
  const panels = []
  const walk = (list) => {
    for (const panel of list ?? []) {
      if (panel.type === "row") walk(panel.panels)
      else panels.push(panel)
    }
  }
  walk(dashboard.panels)
  return { dashboard, panels }
}

const allowedPanels = new Set(["timeseries", "stat", "state-timeline", "bargauge", "gauge", "table", "text", "status-history", "barchart", "piechart", "heatmap"])

/** What Grafana would refuse or show wrongly, found without Grafana: one message each. */
const lint = ({ dashboard, panels }) => {
  const problems = []
  if (typeof dashboard.schemaVersion !== "number" || dashboard.schemaVersion < 36) problems.push(`schemaVersion ${dashboard.schemaVersion}: expected 36 or later (Grafana 10/11)`)
  const inputs = dashboard.__inputs ?? []
  if (!inputs.some((i) => i.name === "DS_PROMETHEUS" && i.type === "datasource" && i.pluginId === "prometheus")) problems.push("no DS_PROMETHEUS datasource input in __inputs")
  const variables = dashboard.templating?.list ?? []
  const names = new Set(variables.map((v) => v.name))
  for (const name of ["datasource", "job", "instance", "operation", "breaker"]) if (!names.has(name)) problems.push(`no template variable ${name}`)
  const ids = new Set()
  const all = [...(dashboard.panels ?? []), ...(dashboard.panels ?? []).flatMap((p) => p.panels ?? [])]
  for (const panel of all) {
    const label = `panel ${JSON.stringify(panel.title)} (id ${panel.id})`
    if (ids.has(panel.id)) problems.push(`${label}: duplicate id`)
    ids.add(panel.id)
    const g = panel.gridPos
    if (g === undefined || ![g.h, g.w, g.x, g.y].every(Number.isInteger) || g.x + g.w > 24) problems.push(`${label}: bad gridPos ${JSON.stringify(g)}`)
    if (panel.type === "row") continue
    if (!allowedPanels.has(panel.type)) problems.push(`${label}: panel type ${panel.type} (deprecated or unknown)`)
    if (typeof panel.title !== "string" || panel.title === "") problems.push(`${label}: no title`)
    const targets = panel.targets ?? []
    if (panel.type !== "text" && targets.length === 0) problems.push(`${label}: no queries`)
    const refIds = new Set()
    for (const t of targets) {
      if (typeof t.expr !== "string" || t.expr.trim() === "") problems.push(`${label}: a target without expr`)
      if (refIds.has(t.refId)) problems.push(`${label}: duplicate refId ${t.refId}`)
      refIds.add(t.refId)
      const ds = t.datasource ?? panel.datasource
      if (ds?.uid !== "${datasource}" && ds?.uid !== "${DS_PROMETHEUS}") problems.push(`${label}: target ${t.refId} not on the dashboard's data source`)
      for (const m of t.expr?.matchAll(/\$\{?(\w+)/g) ?? []) {
        if (!m[1].startsWith("__") && !names.has(m[1])) problems.push(`${label}: ${m[0]} is not a template variable`)
      }
    }
  }
  return problems
}

// the series that must exist from start-up, so that their panels never read "No data" before the first failure:
// the state of breakers, bulkheads, rate limiters and retry budgets, made when their registries build them, and
// the tracker's own series. `optional` ones exist only with a shared store (the demo's single replica has none).
const startupFamilies = [
  "resilience_breaker_state",
  "resilience_breaker_calls_total",
  "resilience_breaker_transitions_total",
  "resilience_bulkhead_in_flight",
  "resilience_bulkhead_queued",
  "resilience_bulkhead_limit",
  "resilience_bulkhead_admitted_total",
  "resilience_bulkhead_rejections_total",
  "resilience_rate_limiter_permits_total",
  "resilience_rate_limiter_rejections_total",
  "resilience_rate_limiter_waits_total",
  "resilience_rate_limiter_keys",
  "resilience_retry_budget_available",
  "resilience_retry_budget_granted_total",
  "resilience_retry_budget_refused_total",
  "resilience_recoveries_total",
  "resilience_recoveries_pending",
  "resilience_events_dropped_total",
  "resilience_subscriber_failures_total"
]
const optionalFamilies = ["resilience_breaker_shared_degraded", "resilience_rate_limiter_shared_degraded", "resilience_breaker_shared_sync_total"]

// a histogram's family from its _bucket, _count and _sum series
const familyOf = (name) => /_duration_seconds_(bucket|count|sum)$/.test(name) ? name.replace(/_(bucket|count|sum)$/, "") : name
const familiesOf = (expr) => new Set([...expr.matchAll(/\bresilience_[a-z0-9_]+/g)].map((m) => familyOf(m[0])))

/** Whether a panel must have data at start-up: all its series exist from start-up, or each query falls back. */
const isStartupPanel = (panel) =>
  (panel.targets ?? []).every((t) =>
    /\bor\s+vector\s*\(/.test(t.expr) ||
    [...familiesOf(t.expr)].every((f) => startupFamilies.includes(f) || optionalFamilies.includes(f))
  )

// ------------------------------------------------------------------------------------------------ Grafana's variables

const regexEscape = (value) => value.replace(/[\\^$*+?.()|[\]{}]/g, "\\$&")
// a regex in a PromQL double-quoted string: its backslashes doubled
const inPromString = (text) => text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')

/** Grafana's interpolation of a multi-value variable into a `=~"..."` matcher. */
const formatValues = (values) =>
  values.length === 1 ? inPromString(regexEscape(values[0])) : `(${values.map((v) => inPromString(regexEscape(v))).join("|")})`

const substitute = (expr, values, builtins) => {
  let text = expr
  const all = { ...builtins, ...values }
  // longest names first, so that $__range_s is not read as $__range + "_s"
  for (const name of Object.keys(all).sort((a, b) => b.length - a.length)) {
    text = text.split(`\${${name}}`).join(all[name]).split(`[[${name}]]`).join(all[name])
    text = text.replace(new RegExp(`\\$${name}(?![A-Za-z0-9_])`, "g"), () => all[name])
  }
  return text
}

// ------------------------------------------------------------------------------------------------ Prometheus

let prom = ""

// POST for queries (a long expression fits), GET for the label values (which Prometheus 2.42 answers only to GET)
const api = async (path, params, method = "POST") => {
  const body = new URLSearchParams(params)
  let response
  try {
    response = await fetch(method === "GET" ? `${prom}${path}?${body}` : `${prom}${path}`, {
      method,
      ...(method === "GET" ? {} : { headers: { "content-type": "application/x-www-form-urlencoded" }, body }),
      signal: AbortSignal.timeout(5000)
    })
  } catch (error) {
    return { status: "error", error: `request failed: ${error.message}` }
  }
  const text = await response.text()
  try {
    return JSON.parse(text)
  } catch {
    return { status: "error", error: `HTTP ${response.status}: ${text.slice(0, 200)}` }
  }
}

/** An instant query, at `at` (seconds since the epoch) or now. */
const query = (expr, at) => api("/api/v1/query", { query: expr, time: String(at ?? Date.now() / 1000) })

/** The number of series (a scalar counts as one) in a successful answer, or the error. */
const seriesOf = (answer) => {
  if (answer.status !== "success") return { error: `${answer.errorType ?? "error"}: ${answer.error}` }
  const { resultType, result } = answer.data
  return { count: resultType === "scalar" || resultType === "string" ? 1 : result.length, result }
}

const scalarOf = async (expr, at) => {
  const { result, error } = seriesOf(await query(expr, at))
  if (error !== undefined) throw new CheckError(`${expr}: ${error}`)
  return result.length === 0 ? undefined : Number(result[0].value[1])
}

const startPrometheus = async (dir, target) => {
  const bin = options.prometheus ?? onPath("prometheus")
  if (bin === undefined) {
    console.error(`[check-grafana] prometheus is not on PATH: ${howToInstall} (Debian's package), or pass --prometheus <binary>`)
    await cleanup()
    process.exit(2)
  }
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      "global:",
      `  scrape_interval: ${scrapeSeconds}s`,
      `  scrape_timeout: ${scrapeSeconds}s`,
      `  evaluation_interval: ${scrapeSeconds}s`,
      "scrape_configs:",
      `  - job_name: ${job}`,
      "    static_configs:",
      `      - targets: [${JSON.stringify(target)}]`,
      ""
    ].join("\n")
  )
  for (let attempt = 1;; attempt++) {
    const port = await freePort()
    const server = run("prometheus", bin, [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn"
    ], { dir })
    const url = `http://127.0.0.1:${port}`
    const ready = await until("Prometheus to be ready", async () => {
      if (exited(server.child)) return false
      try {
        const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })
        return response.ok ? true : undefined
      } catch {
        return undefined
      }
    }, 50)
    if (ready) return { url, server }
    if (attempt < 3 && /address already in use/i.test(server.output())) continue
    throw new CheckError(`prometheus exited (${server.child.exitCode ?? server.child.signalCode}) before it was ready:\n${server.output()}`)
  }
}

// ------------------------------------------------------------------------------------------------ the demo

const startDemo = async (port) => {
  const demo = join(root, "scratchpad", "dist", "demo.js")
  try {
    accessSync(demo)
  } catch {
    throw new CheckError(`${demo} is missing: build first (npx tsc -b)`)
  }
  const { DEMO_REPLICAS: _, LOG_FORMAT: __, ...inherited } = process.env
  let stdout = ""
  const phases = []
  const service = run("demo", process.execPath, [demo], {
    env: { ...inherited, PORT: String(port), DEMO_DURATION_S: String(Math.ceil(options.timeout) + 5) },
    onStdout: (text) => {
      stdout = (stdout + text).slice(-20000)
      for (const m of text.matchAll(/^-- ([a-z ]+) \(/gm)) phases.push({ name: m[1], at: Date.now() })
    }
  })
  const url = await until("the demo to print its URL", () => {
    if (exited(service.child)) throw new CheckError(`the demo exited (${service.child.exitCode ?? service.child.signalCode}) before listening:\n${service.output()}`)
    return /demo service listening on (http:\/\/\S+)/.exec(stdout)?.[1]
  }, 20)
  return { url, service, phases }
}

// ------------------------------------------------------------------------------------------------ the checks

/** Every query of every panel with `values`: the problems per panel id (with `label`), and the number of queries. */
const checkPanels = async (panels, values, builtins, label, at) => {
  const problems = new Map()
  let queries = 0
  for (const panel of panels) {
    for (const target of panel.targets ?? []) {
      if (target.hide === true) continue
      const expr = substitute(target.expr, values, builtins)
      queries++
      const { count, error } = seriesOf(await query(expr, at))
      if (options.verbose) console.log(`   ${label}: ${panel.title} [${target.refId}]: ${error ?? `${count} series`}`)
      const problem = error !== undefined
        ? `[${target.refId}] ${error}`
        : count === 0
        ? `[${target.refId}] no series: ${expr.replace(/\s+/g, " ").slice(0, 160)}`
        : undefined
      if (problem !== undefined) problems.set(panel.id, [...(problems.get(panel.id) ?? []), { problem, label }])
    }
  }
  return { problems, queries }
}

/** One line per failing panel, whatever the passes it failed in. */
const panelLines = (prefix, panels, ...passes) =>
  panels.flatMap((panel) => {
    // the same problem in several passes (a parse error) is said once, with the passes it was seen in
    const seen = new Map()
    for (const { problem, label } of passes.flatMap((pass) => pass.problems.get(panel.id) ?? [])) {
      seen.set(problem, [...(seen.get(problem) ?? []), label])
    }
    const problems = [...seen].map(([problem, labels]) => `${problem} (${labels.join(", ")})`)
    return problems.length === 0 ? [] : [`FAIL ${prefix}panel ${JSON.stringify(panel.title)} (id ${panel.id}): ${problems.join("; ")}`]
  })

/** Resolves the query variables in order: each one's values from Prometheus, the earlier ones substituted. */
const checkVariables = async (variables, builtins) => {
  const failures = []
  const allValues = {}
  const realValues = {}
  for (const variable of variables) {
    if (variable.type === "datasource") {
      if (variable.query !== "prometheus") failures.push(`FAIL variable ${variable.name}: data source type ${variable.query}, expected prometheus`)
      continue
    }
    if (variable.type !== "query") continue
    const raw = typeof variable.query === "string" ? variable.query : variable.query?.query ?? variable.definition
    const m = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(raw ?? "")
    if (m === null) {
      failures.push(`FAIL variable ${variable.name}: unsupported query ${JSON.stringify(raw)} (the check knows label_values)`)
      continue
    }
    const [, selector, label] = m
    const params = new URLSearchParams({ start: String(started / 1000 - 60), end: String(Date.now() / 1000) })
    if (selector !== undefined) params.append("match[]", substitute(selector, allValues, builtins))
    const answer = await api(`/api/v1/label/${encodeURIComponent(label)}/values`, params, "GET")
    if (answer.status !== "success") {
      failures.push(`FAIL variable ${variable.name}: ${answer.errorType ?? "error"}: ${answer.error}`)
      continue
    }
    const found = answer.data.filter((v) => v !== "")
    if (found.length === 0) failures.push(`FAIL variable ${variable.name}: ${raw} returned no values`)
    allValues[variable.name] = variable.includeAll ? variable.allValue ?? ".*" : formatValues(found.slice(0, 1))
    realValues[variable.name] = found.length === 0 ? "" : formatValues(variable.multi ? found : found.slice(0, 1))
    if (options.verbose) console.log(`   variable ${variable.name}: ${found.join(", ")}`)
  }
  return { failures, allValues, realValues }
}

const builtinsNow = () => {
  const range = Math.max(10, Math.ceil((Date.now() - started) / 1000))
  return {
    __rate_interval: rateInterval,
    __interval: `${scrapeSeconds}s`,
    __interval_ms: String(scrapeSeconds * 1000),
    __range: `${range}s`,
    __range_s: String(range),
    __range_ms: String(range * 1000)
  }
}

const main = async () => {
  const read = readDashboard(options.dashboard)
  const { dashboard, panels } = read
  const failures = lint(read).map((p) => `FAIL dashboard: ${p}`)
  const variables = dashboard.templating?.list ?? []
  const annotations = (dashboard.annotations?.list ?? []).filter((a) => typeof a.expr === "string")
  // the annotation queries are checked as panels of their own
  const checked = [...panels, ...annotations.map((a, i) => ({ id: `annotation ${i + 1}`, title: `annotation: ${a.name}`, targets: [{ refId: "A", expr: a.expr }] }))]

  const dir = mkdtempSync(join(tmpdir(), "check-grafana-"))
  owned.dirs.push(dir)

  // Prometheus first: its scrape manager takes up new targets only every 5 s, so it is started on the demo's port
  // before the demo, and the demo once the target's scrape loop runs (its first scrapes fail); the first scrape of
  // the demo then comes within a second of its start, well before its outage
  const demoPort = options.target === undefined ? await freePort() : undefined
  const target = options.target ?? `127.0.0.1:${demoPort}`
  const { url } = await startPrometheus(dir, target)
  prom = url
  await until("Prometheus to take up the target", async () => {
    const answer = await api("/api/v1/targets", { state: "active" }, "GET")
    const active = answer.status === "success" ? answer.data.activeTargets : []
    return active.some((t) => t.scrapePool === job && !t.lastScrape.startsWith("0001-")) ? true : undefined
  }, 100)
  if (options.verbose) console.log(`   Prometheus scraping ${target}, ${elapsed()} s`)

  let demo
  let startupSeries
  if (demoPort !== undefined) {
    demo = await startDemo(demoPort)
    if (options.verbose) console.log(`   demo listening on ${demo.url}, ${elapsed()} s`)
    // the demo's very first /metrics: before or at its first calls, before any breaker failure
    const text = await (await fetch(`${demo.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
    startupSeries = new Set([...text.matchAll(/^(resilience_[a-z0-9_]+)[{ ]/gm)].map((m) => familyOf(m[1])))
  }

  // two successful scrapes, so that rate() has two samples
  await until("two scrapes of the target", async () => {
    const scraped = await scalarOf(`sum_over_time(up{job="${job}"}[1m])`)
    const tried = await scalarOf(`count_over_time(up{job="${job}"}[1m])`)
    if (demo !== undefined && exited(demo.service.child)) throw new CheckError(`the demo exited early:\n${demo.service.output()}`)
    if (scraped === 0 && tried >= (demo === undefined ? 3 : 8)) throw new CheckError(`Prometheus cannot scrape ${target}: up == 0`)
    return scraped >= 2 ? true : undefined
  }, 100)
  if (options.verbose) console.log(`   two scrapes, ${elapsed()} s`)
  const startupPanels = checked.filter(isStartupPanel)
  if (options.verbose) console.log(`   state panels: ${startupPanels.map((p) => p.title).join(", ")}`)
  const later = new Set()
  if (demo !== undefined) {
    // --- start-up: the state series in the first /metrics, and their panels' data before the breaker opened
    for (const family of startupFamilies) {
      if (!startupSeries.has(family)) failures.push(`FAIL start-up: ${family} is not in the demo's first /metrics`)
    }
    for (const panel of checked) {
      for (const t of panel.targets ?? []) for (const f of familiesOf(t.expr)) if (!startupSeries.has(f)) later.add(f)
    }
    // the panels as they were at the second successful scrape (a query "at" a time sees only the samples up to
    // it), whenever this runs: then no failure has opened the breaker yet, and rate() has its two samples
    const { result: ups } = seriesOf(await query(`up{job="${job}"}[1m]`))
    const second = (ups?.[0]?.values ?? []).filter(([, v]) => v === "1")[1]?.[0]
    if (second === undefined) throw new CheckError("no second successful scrape in Prometheus's samples of up")
    const at = Number(second) + 0.001
    const { allValues } = await checkVariables(variables, builtinsNow())
    const startup = await checkPanels(startupPanels, allValues, { ...builtinsNow(), __range: "10s", __range_s: "10", __range_ms: "10000" }, "start-up", at)
    const startupFailures = panelLines("start-up: ", startupPanels, startup)
    failures.push(...startupFailures)
    const opened = await scalarOf(`sum(resilience_breaker_transitions_total{job="${job}", to="open"})`, at)
    const late = opened !== 0 || demo.phases.some((p) => p.name === "storage outage" && p.at <= at * 1000)
    if (late) failures.push(`FAIL start-up: the breaker had opened by the second scrape (${(at - started / 1000).toFixed(1)} s in): too late to tell`)
    const shown = (list) => list.sort().join(", ") || "none"
    console.log(
      `[check-grafana] start-up (at the second scrape, ${(at - started / 1000).toFixed(1)} s, ${late ? "AFTER" : "before"} the breaker opened): ` +
        `${startupPanels.length - startupFailures.length}/${startupPanels.length} state panels with data; ` +
        `series not in the first /metrics: ${shown([...later].filter((f) => !optionalFamilies.includes(f)))} ` +
        `(and, with a shared store only: ${shown([...later].filter((f) => optionalFamilies.includes(f)))})`
    )

    // --- the outage: wait for the breaker's opening to be scraped, then two more scrapes
    await until("the breaker to open (the demo's outage)", async () => {
      if (exited(demo.service.child)) throw new CheckError(`the demo exited early:\n${demo.service.output()}`)
      const n = await scalarOf(`sum(resilience_breaker_transitions_total{job="${job}", to="open"})`)
      return n > 0 ? true : undefined
    }, 250)
    await sleep(2 * scrapeSeconds * 1000 + 200)
  }

  // --- every query, with the variables at All and at their real values
  const vars = await checkVariables(variables, builtinsNow())
  failures.push(...vars.failures)
  const all = await checkPanels(checked, vars.allValues, builtinsNow(), "variables at All")
  const real = await checkPanels(checked, vars.realValues, builtinsNow(), "variables at their values")
  failures.push(...panelLines("", checked, all, real))

  const errors = await scalarOf(`sum(resilience_errors_total{job="${job}"})`)
  const queryVariables = variables.filter((v) => v.type === "query").length
  console.log(
    `[check-grafana] ${panels.length} panels, ${annotations.length} annotation, ${all.queries} queries (run twice: variables at All and at ` +
      `their values), ${queryVariables} variables; errors tracked when checked: ${errors ?? 0}; ${elapsed()} s`
  )
  return failures
}

let code = 0
try {
  const failures = await main()
  for (const line of failures) console.log(line)
  code = failures.length === 0 ? 0 : 1
  console.log(failures.length === 0 ? "[check-grafana] ok: every query returned data" : `[check-grafana] ${failures.length} failing`)
} catch (error) {
  // after a signal, what fails is only the run being taken down
  if (stopping) await new Promise(() => {})
  console.log(`FAIL ${error instanceof CheckError ? error.message : error?.stack ?? error}`)
  for (const { name, output } of owned.children) {
    const tail = output().trim().split("\n").slice(-15).join("\n")
    if (tail !== "") console.log(`--- ${name}'s last output:\n${tail}`)
  }
  code = 1
} finally {
  await cleanup()
}
process.exit(code)
