/**
 * The benchmark suite: `npm run bench`. One process loads every contender (see `scenarios.ts`), checks that each
 * does exactly the work its figure claims, then measures every case with mitata in several rounds (the order of
 * the cases rotates from round to round) and takes, for each, the median over rounds of mitata's median batch
 * time divided by the batch's calls. Each figure is also a ratio to its floor measured in the same run.
 *
 * Memory is measured in fresh child processes, one per case, so that no earlier case has already grown the heap:
 * `breaker.concurrent` reports the peak RSS a run adds over the settled RSS before it, and `tracker.record` the RSS
 * that 1 000 000 errors recorded through a live tracker add once the heap has settled.
 *
 * The Redis scenarios (`fleet.ts`: `breaker.shared.success` and `ratelimit.shared`, timed like the others, and
 * `fleet.outage`, on real time) run after the others, each in a fresh child process (so that their clients and
 * background fibers do not touch the other figures), on `REDIS_URL`, or else on a `redis-server` the suite starts on
 * a free loopback port and stops at the end; with neither, they are skipped, said in one line.
 *
 * `adaptive.goodput` (`admission.ts`) is a count, not a timing: the congestion simulation under TestClock, run
 * last; it needs the simulation beside the bench (`bench/congestion.ts`), and is skipped, said in one line, without.
 * So are `budget.storm` and `hedge.tail` (`budget.ts`, issue 17): a retry storm's load amplification with and
 * without a retry budget, and a heavy-tailed dependency's call latency with and without hedging, under TestClock.
 *
 * Prints a table and the budgets, and writes `bench/results.json` at the repository root. Options (environment):
 * `BENCH_ROUNDS` (default 5), `BENCH_TIME_MS` (mitata's minimum CPU time per case and round, default 300),
 * `BENCH_ONLY` (a regular expression on scenario ids, and on their tags: `BENCH_ONLY=shared` runs the Redis
 * scenarios alone, `BENCH_ONLY=admission` those of issue 16, `BENCH_ONLY=budget` those of issue 17; a partial run
 * leaves `bench/results.json` alone), `BENCH_MERGE=1` (a partial run replaces its own rows in `bench/results.json`, and says so in their notes).
 */
import { CommonErrors, ErrorTracker } from "@effect-resilience/core"
import { Effect, Layer, Logger, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { do_not_optimize, measure } from "mitata"
import type * as Admission from "./admission.js"
import type * as Budget from "./budget.js"
import type * as Fleet from "./fleet.js"
import * as Scenarios from "./scenarios.js"

/** One row of `bench/results.json`. */
interface Result {
  readonly scenario: string
  readonly contender: Scenarios.Contender
  readonly ns_per_op: number
  readonly floor_ns_per_op: number
  readonly ratio_to_floor: number
  rss_mb?: number
  /** Figures measured alongside (Redis commands per call), and a note. */
  readonly [field: string]: unknown
}

/**
 * A row of `bench/results.json`: a timed case, or a count of `fleet.outage`, `adaptive.goodput`, `budget.storm` or
 * `hedge.tail`.
 */
type Row = Result | Fleet.OutageRow | Admission.GoodputRow | Budget.StormRow | Budget.TailRow

/** The tags of `fleet.outage`, which is not a timed scenario (see `fleet.ts`). */
const outageTags = ["shared", "redis"]
/** The tags of the timed Redis scenarios (by id: `breaker.shared.success`, `ratelimit.shared`). */
const sharedTags = ["shared", "redis"]
const limiterTags = ["shared", "redis", "admission"]
/** The tags of `adaptive.goodput`, a count (see `admission.ts`). */
const goodputTags = ["admission", "adaptive"]
/** The tags of `budget.storm` and `hedge.tail`, counts (see `budget.ts`). */
const stormTags = ["budget"]
const tailTags = ["budget", "hedge"]

const MB = 1024 * 1024
const gc = (globalThis as { gc?: () => void }).gc
const settledRss = () => {
  gc?.()
  gc?.()
  return process.memoryUsage.rss()
}
const round1 = (x: number) => Math.round(x * 10) / 10
const round3 = (x: number) => Math.round(x * 1000) / 1000
const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

// --- child processes: memory of one case ------------------------------------------------------------------------

/** Peak RSS added by three runs of one case of `breaker.concurrent`, sampled every millisecond. */
const concurrentRss = async (contender: string) => {
  const built = await Scenarios.make()
  const scenario = built.scenarios.find((s) => s.id === "breaker.concurrent")!
  const kase = scenario.cases.find((c) => c.contender === contender)!
  const before = settledRss()
  let peak = before
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 1)
  for (let i = 0; i < 3; i++) {
    await built.verify(scenario, kase)
    peak = Math.max(peak, process.memoryUsage.rss())
  }
  clearInterval(sampler)
  await built.dispose()
  return (peak - before) / MB
}

/**
 * RSS added by 1 000 000 errors recorded through a live tracker (its fiber drains the queue between batches, as in
 * a program), measured after forced GCs; for `floor-effect`, by the same 1 000 000 failures without recording.
 */
const trackerRss = async (contender: string) => {
  const runtime = ManagedRuntime.make(Layer.merge(ErrorTracker.layer(), Logger.layer([])))
  await runtime.runPromise(Effect.void)
  const error = new CommonErrors.StorageError({ operation: "bench" })
  const failing = Effect.suspend(() => Effect.fail(error))
  const recording = contender !== "floor-effect"
  const batch = Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      if (recording) yield* ErrorTracker.record(error, { operation: "items.save", attempt: 1 })
      yield* Effect.exit(failing)
    }
  })
  const before = settledRss()
  for (let i = 0; i < 1000; i++) await runtime.runPromise(batch)
  const summary = await runtime.runPromise(ErrorTracker.summary)
  if (summary.total !== (recording ? 1_000_000 : 0)) throw new Error(`the tracker counted ${summary.total} errors`)
  const after = settledRss()
  await runtime.dispose()
  return (after - before) / MB
}

const rssOf = (scenario: string, contender: string): number => {
  const out = execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--rss", scenario, contender], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
  return JSON.parse(out.trim().split("\n").at(-1)!).rss_mb
}

// --- timing ------------------------------------------------------------------------------------------------------

/** What `print` needs of a scenario. */
type Described = Pick<Scenarios.Scenario, "id" | "description" | "calls">

/**
 * Checks, measures and reports the cases of `scenarios` (of `group`): three checked batches of each first (the
 * warm-up), `rounds` rounds of mitata in a rotating order, a checked batch of each again, and one row per case.
 */
const timed = async (
  group: Scenarios.Scenarios,
  scenarios: ReadonlyArray<Scenarios.Scenario>,
  rounds: number,
  minCpuMs: number,
  log: (line: string) => void
): Promise<Array<Result>> => {
  const cases = scenarios.flatMap((scenario) => scenario.cases.map((kase) => ({ scenario, kase })))
  // warm-up, and the check that every case does what it claims: each batch must end every call as expected,
  // run the operation exactly as often as it should, and move the contender's own count by its calls
  for (const { scenario, kase } of cases) {
    for (let i = 0; i < 3; i++) await group.verify(scenario, kase)
  }
  log(`checked ${cases.length} cases: every call counted exactly\n`)

  const samples = new Map<string, Array<number>>()
  for (let round = 0; round < rounds; round++) {
    const offset = Math.floor((round * cases.length) / Math.max(rounds, 1))
    for (let i = 0; i < cases.length; i++) {
      const { scenario, kase } = cases[(i + offset) % cases.length]!
      const prepare = kase.prepare
      const stopMeter = await kase.meter?.()
      const stats = prepare === undefined
        ? await measure(async () => do_not_optimize(await kase.run()), { min_cpu_time: minCpuMs * 1e6 })
        : await measure(function*() {
          yield {
            [0]: () => {
              prepare()
              return 0
            },
            bench: async (_: number) => do_not_optimize(await kase.run())
          }
        }, { min_cpu_time: minCpuMs * 1e6 })
      await stopMeter?.()
      const key = `${scenario.id} ${kase.contender}`
      samples.set(key, [...(samples.get(key) ?? []), stats.p50 / scenario.calls])
    }
    log(`round ${round + 1} of ${rounds} done`)
  }
  // the counts again, after measuring: no breaker changed state and no call went missing meanwhile
  for (const { scenario, kase } of cases) await group.verify(scenario, kase)

  const results: Array<Result> = []
  for (const scenario of scenarios) {
    for (const kase of scenario.cases) {
      const ns = median(samples.get(`${scenario.id} ${kase.contender}`)!)
      const floor = median(samples.get(`${scenario.id} ${Scenarios.floorOf(kase.contender)}`)!)
      results.push({
        scenario: scenario.id,
        contender: kase.contender,
        ns_per_op: round1(ns),
        floor_ns_per_op: round1(floor),
        ratio_to_floor: round3(ns / floor),
        ...group.fields?.(scenario.id, kase.contender)
      })
    }
  }
  return results
}

// --- child processes: the Redis scenarios -----------------------------------------------------------------------

// Each Redis scenario runs in a fresh process of its own, so that its clients, background fibers and second breaker
// store neither slow nor reshape (JIT) the scenarios above, nor they it. Their modules (node-redis among them) are
// loaded only there: a process that measures RSS never loads them.
const loadFleet = () => import("./fleet.js")

/**
 * `breaker.shared.success` (`--shared`) or `ratelimit.shared` (`--limiter`), timed as above; progress on stderr, the
 * rows as JSON on stdout's last line.
 */
const sharedChild = async (which: "--shared" | "--limiter", url: string, rounds: number, minCpuMs: number) => {
  const fleet = await loadFleet()
  const group = which === "--shared" ? await fleet.makeShared(url) : await fleet.makeSharedLimiter(url)
  try {
    const rows = await timed(group, group.scenarios, rounds, minCpuMs, (line) => console.error(`  ${line.trim()}`))
    const scenarios: Array<Described> = group.scenarios.map(({ calls, description, id }) => ({ id, description, calls }))
    console.log(JSON.stringify({ scenarios, rows }))
  } finally {
    await group.dispose()
  }
}

/** `fleet.outage`; progress on stderr, the rows as JSON on stdout's last line. */
const outageChild = async (url: string) => {
  const rows = await (await loadFleet()).runOutage(url, (line) => console.error(line))
  console.log(JSON.stringify({ scenarios: [], rows }))
}

const inChild = (flag: "--shared" | "--limiter" | "--outage", url: string): { scenarios: Array<Described>; rows: Array<Row> } => {
  const out = execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), flag, url], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 * MB
  })
  return JSON.parse(out.trim().split("\n").at(-1)!)
}

// --- the main process -------------------------------------------------------------------------------------------

const main = async () => {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const minCpuMs = Number(process.env.BENCH_TIME_MS ?? 300)
  const only = process.env.BENCH_ONLY === undefined ? undefined : new RegExp(process.env.BENCH_ONLY)
  const selects = (id: string, tags: ReadonlyArray<string> = []) =>
    only === undefined || only.test(id) || tags.some((tag) => only.test(tag))
  console.log(`node ${process.version}, ${rounds} rounds, mitata min CPU time ${minCpuMs} ms per case and round`)

  const built = await Scenarios.make()
  const selected = built.scenarios.filter((s) => selects(s.id, s.tags))
  const scenarios: Array<Described> = [...selected]
  const results = selected.length === 0 ? [] : await timed(built, selected, rounds, minCpuMs, (line) => console.log(line))
  await built.dispose()
  for (const row of results) {
    if (row.scenario === "breaker.concurrent") row.rss_mb = round1(rssOf(row.scenario, row.contender))
    if (row.scenario === "tracker.record" && row.contender !== "effect-sync-step") {
      row.rss_mb = round1(rssOf(row.scenario, row.contender))
    }
  }

  // the Redis scenarios, when selected and a server is at hand
  const rows: Array<Row> = [...results]
  const wantsShared = selects("breaker.shared.success", sharedTags)
  const wantsLimiter = selects("ratelimit.shared", limiterTags)
  const wantsOutage = selects("fleet.outage", outageTags)
  const redis = wantsShared || wantsLimiter || wantsOutage
    ? await (await import("./redisServer.js")).acquire()
    : undefined
  if (typeof redis === "string") console.log(`\nRedis scenarios skipped: ${redis}`)
  else if (redis !== undefined) {
    try {
      const owner = redis.owned ? "started by the bench" : "REDIS_URL"
      console.log(`\nRedis scenarios on ${redis.url} (${owner}), each in a child process of its own`)
      if (wantsShared) {
        console.log("breaker.shared.success:")
        const shared = inChild("--shared", redis.url)
        scenarios.push(...shared.scenarios)
        rows.push(...shared.rows)
      }
      if (wantsLimiter) {
        console.log("ratelimit.shared:")
        const shared = inChild("--limiter", redis.url)
        scenarios.push(...shared.scenarios)
        rows.push(...shared.rows)
      }
      if (wantsOutage) {
        console.log("fleet.outage (real time, about 25 s):")
        rows.push(...inChild("--outage", redis.url).rows)
      }
    } finally {
      await redis.stop()
    }
  }

  // the congestion simulation, last: a count on TestClock, no timing
  if (selects("adaptive.goodput", goodputTags)) {
    const Admission = await import("./admission.js")
    const simulate = await Admission.loadSimulate()
    if (typeof simulate === "string") console.log(`\nadaptive.goodput skipped: ${simulate}`)
    else {
      console.log("\nadaptive.goodput (the congestion simulation, TestClock):")
      rows.push(await Admission.goodput(simulate, { log: (line) => console.log(line) }))
    }
  }

  // the retry storm and the heavy tail: counts on TestClock, no timing
  const wantsStorm = selects("budget.storm", stormTags)
  const wantsTail = selects("hedge.tail", tailTags)
  if (wantsStorm || wantsTail) {
    const Budget = await import("./budget.js")
    console.log(`\n${[wantsStorm && "budget.storm", wantsTail && "hedge.tail"].filter(Boolean).join(" and ")} `
      + "(simulations, TestClock):")
    rows.push(...await Budget.simulations((line) => console.log(line), {
      storm: wantsStorm && undefined,
      tail: wantsTail && undefined
    }))
  }

  print(scenarios, rows.filter(isTimed))
  printOutage(rows)
  printGoodput(rows)
  printStorm(rows)
  printTail(rows)
  budgets(rows)
  const file = fileURLToPath(new URL("../../../../bench/results.json", import.meta.url))
  if (only !== undefined) {
    if (process.env.BENCH_MERGE !== "1" || !existsSync(file)) {
      return console.log("\nBENCH_ONLY is set: bench/results.json is left as it was")
    }
    const merged = merge(JSON.parse(readFileSync(file, "utf8")) as Array<Row>, rows, only.source)
    writeFileSync(file, JSON.stringify(merged, null, 2) + "\n")
    return console.log(`\nmerged ${rows.length} rows of this partial run into ${file}`)
  }
  mkdirSync(fileURLToPath(new URL("../../../../bench/", import.meta.url)), { recursive: true })
  writeFileSync(file, JSON.stringify(rows, null, 2) + "\n")
  console.log(`\nwrote ${file}`)
}

/** `previous` with the rows of a partial run in place of their own (new ones at the end), marked in their notes. */
const merge = (previous: ReadonlyArray<Row>, partial: ReadonlyArray<Row>, filter: string): Array<Row> => {
  const key = (row: Row) => `${row.scenario} ${row.contender}`
  const mark = (row: Row): Row => ({
    ...row,
    note: `${typeof row.note === "string" ? `${row.note}. ` : ""}From a partial run (BENCH_ONLY=${filter}) merged `
      + "into the last full run's results: its ratios are to rows of the same partial run"
  })
  const fresh = new Map(partial.map((row) => [key(row), mark(row)]))
  const out = previous.map((row) => fresh.get(key(row)) ?? row)
  const kept = new Set(previous.map(key))
  return [...out, ...partial.filter((row) => !kept.has(key(row))).map((row) => fresh.get(key(row))!)]
}

const print = (scenarios: ReadonlyArray<Described>, results: ReadonlyArray<Result>) => {
  for (const scenario of scenarios) {
    console.log(`\n${scenario.id}: ${scenario.description} (${scenario.calls} calls per batch)`)
    for (const row of results.filter((r) => r.scenario === scenario.id)) {
      const added = row.ns_per_op - row.floor_ns_per_op
      const floor = Scenarios.floorOf(row.contender)
      console.log(
        `  ${row.contender.padEnd(24)} ${row.ns_per_op.toFixed(0).padStart(8)} ns  ` +
          (row.contender === floor
            ? "(floor)".padEnd(33)
            : `${row.ratio_to_floor.toFixed(2).padStart(6)}x ${floor.padEnd(13)} ${
              (added >= 0 ? "+" : "") + added.toFixed(0)
            } ns`.padEnd(33)) +
          (row.rss_mb === undefined ? "" : `  RSS +${row.rss_mb.toFixed(1)} MB`) +
          (typeof row.redis_cmds_per_call === "number"
            ? `  Redis commands per call ${row.redis_cmds_per_call} (sent by clients ${row.redis_client_cmds_per_call})`
            : "")
      )
    }
  }
}

const isOutage = (row: Row): row is Fleet.OutageRow => row.scenario === "fleet.outage"
const isGoodput = (row: Row): row is Admission.GoodputRow => row.scenario === "adaptive.goodput"
const isStorm = (row: Row): row is Budget.StormRow => row.scenario === "budget.storm"
const isTail = (row: Row): row is Budget.TailRow => row.scenario === "hedge.tail"
const isTimed = (row: Row): row is Result => !isOutage(row) && !isGoodput(row) && !isStorm(row) && !isTail(row)

const printStorm = (rows: ReadonlyArray<Row>) => {
  const storm = rows.filter(isStorm)
  if (storm.length === 0) return
  const { phase_seconds: seconds, rate_per_second: rate } = storm[0]!
  console.log(`\nbudget.storm: calls reaching the dependency / calls made, ${rate} calls/s, 3 attempts; the dependency `
    + `fails 50 % of calls for ${seconds} s, then 100 % for ${seconds} s (TestClock)`)
  for (const row of storm) {
    console.log(`  ${row.contender.padEnd(24)} ${row.load_amplification.toFixed(3).padStart(7)}x  `
      + `(50 %: ${row.load_amplification_50pct.toFixed(3)}x, 100 %: ${row.load_amplification_100pct.toFixed(3)}x)  `
      + `${row.dependency_calls} attempts for ${row.calls} calls, ${row.succeeded} succeeded `
      + `(${row.succeeded_50pct} in the 50 % phase), `
      + `${row.retries_suppressed} retries suppressed`)
  }
}

const printTail = (rows: ReadonlyArray<Row>) => {
  const tail = rows.filter(isTail)
  if (tail.length === 0) return
  console.log(`\nhedge.tail: call latency, a dependency taking 10 ms for 98 % of attempts and 500 ms for 2 % `
    + `(${tail[0]!.calls} calls, TestClock)`)
  for (const row of tail) {
    const delay = row.hedge_delay_final_ms
    console.log(`  ${row.contender.padEnd(24)} p50 ${row.p50_ms.toFixed(1).padStart(6)} ms  p99 `
      + `${row.p99_ms.toFixed(1).padStart(6)} ms  p99.9 ${row.p999_ms.toFixed(1).padStart(6)} ms  max `
      + `${row.max_ms.toFixed(1).padStart(6)} ms  extra load ${row.extra_load_pct.toFixed(2).padStart(6)} %`
      + (delay === undefined
        ? ""
        : `  hedge delay (last quarter) median ${delay.median} ms, ${delay.min} to ${delay.max} ms`))
  }
}

const printGoodput = (rows: ReadonlyArray<Row>) => {
  for (const row of rows.filter(isGoodput)) {
    console.log(`\nadaptive.goodput: successful calls per virtual second through a bulkhead in front of a congested `
      + `dependency (capacity ${row.capacity}/s)`)
    const lines = [
      ...Object.entries(row.fixed).map(([limit, figures]) => [`fixed ${limit}`, figures] as const),
      ...Object.entries(row.algorithms),
      ...Object.entries(row.fixed_sweep).map(([limit, figures]) => [`fixed ${limit} (sweep)`, figures] as const)
    ]
    for (const [name, figures] of lines) {
      console.log(`  ${name.padEnd(24)} ${figures.goodput.toFixed(1).padStart(7)}/s  mean limit ${figures.mean_limit}, `
        + `timeouts ${figures.timeouts}, rejections ${figures.rejections}, wasted ${figures.wasted}`)
    }
    console.log(`  goodput_ratio ${row.goodput_ratio.toFixed(2)}: ${row.best_algorithm} over fixed ${row.best_fixed_limit}; `
      + `ratio_to_best_sweep ${row.ratio_to_best_sweep.toFixed(3)}: over fixed ${row.best_sweep_limit}`)
  }
}

const printOutage = (rows: ReadonlyArray<Row>) => {
  const outage = rows.filter(isOutage)
  if (outage.length === 0) return
  console.log(`\nfleet.outage: 3 replicas, the dependency fails hard; calls reaching it in the ${outage[0]!.window_ms} ms `
    + "after the first replica opened (median of runs)")
  for (const row of outage) {
    console.log(
      `  ${row.contender.padEnd(30)} ${String(row.calls_after_open).padStart(5)} calls `
        + `(runs: ${row.calls_after_open_runs.join(", ")})`
        + `  ${row.ratio_to_local.toFixed(2)}x local-only, until all open ${row.calls_until_all_open}, `
        + `to the first opening ${row.calls_to_first_open}`
        + (row.propagation_p99_ms === undefined
          ? ""
          : `; propagation p50 ${row.propagation_p50_ms} ms, p99 ${row.propagation_p99_ms} ms, max `
            + `${row.propagation_max_ms} ms (${row.propagation_samples} samples)`)
    )
  }
}

const budgets = (rows: ReadonlyArray<Row>) => {
  const results = rows.filter(isTimed)
  const outage = rows.filter(isOutage)
  const find = (scenario: string, contender: Scenarios.Contender) =>
    results.find((r) => r.scenario === scenario && r.contender === contender)
  const added = (scenario: string, contender: Scenarios.Contender) => {
    const row = find(scenario, contender)
    return row === undefined ? undefined : row.ns_per_op - row.floor_ns_per_op
  }
  const lines: Array<[string, number | undefined, string, boolean | undefined]> = []
  const atMost = (name: string, value: number | undefined, limit: number | undefined, unit: string) =>
    lines.push([
      name,
      value,
      `${unit} (budget ≤ ${limit === undefined ? "?" : limit.toFixed(unit === "x" ? 2 : 0)})`,
      value === undefined || limit === undefined ? undefined : value <= limit
    ])
  atMost("retry.success, added over floor-effect", added("retry.success", "effect-resilience"), 100, "ns")
  atMost("breaker.success, added over floor-effect", added("breaker.success", "effect-resilience"), 250, "ns")
  atMost("protect.success, added over floor-effect", added("protect.success", "effect-resilience"), 400, "ns")
  atMost(
    "protect.success, added, vs cockatiel's retry+breaker added",
    added("protect.success", "effect-resilience"),
    added("protect.success", "cockatiel"),
    "ns"
  )
  atMost("layer.success, added over floor-effect", added("layer.success", "effect-resilience"), 600, "ns")
  const rejection = find("breaker.rejection", "effect-resilience")
  const cockatielRejection = find("breaker.rejection", "cockatiel")
  atMost(
    "breaker.rejection, ours / cockatiel's",
    rejection && cockatielRejection && rejection.ns_per_op / cockatielRejection.ns_per_op,
    0.15,
    "x"
  )
  atMost("breaker.concurrent, ours / floor-effect", find("breaker.concurrent", "effect-resilience")?.ratio_to_floor, 2, "x")
  const success = find("breaker.success", "effect-resilience")
  const effectBreaker = find("breaker.success", "effect-circuit-breaker")
  atMost(
    "breaker.success, ours / effect's breaker",
    success && effectBreaker && success.ns_per_op / effectBreaker.ns_per_op,
    0.1,
    "x"
  )
  const effectAdded = added("breaker.success", "effect-circuit-breaker")
  const oursAdded = added("breaker.success", "effect-resilience")
  lines.push([
    "breaker.success, effect's breaker added / ours added",
    effectAdded !== undefined && oursAdded !== undefined ? effectAdded / Math.max(oursAdded, 1) : undefined,
    "x (budget ≥ 10)",
    effectAdded !== undefined && oursAdded !== undefined ? effectAdded / Math.max(oursAdded, 1) >= 10 : undefined
  ])
  atMost("tracker.record, added over floor-effect", added("tracker.record", "effect-resilience"), 150, "ns")
  const step = added("tracker.record", "effect-sync-step")
  atMost(
    "tracker.record, added / one empty Effect.sync step added",
    step === undefined ? undefined : (added("tracker.record", "effect-resilience") ?? NaN) / Math.max(step, 1),
    2,
    "x"
  )
  atMost("tracker.record, RSS added by 1 000 000 errors", find("tracker.record", "effect-resilience")?.rss_mb, 30, "MB")

  const shared = find("breaker.shared.success", "effect-resilience")
  const sharedLocal = find("breaker.shared.success", "effect-resilience-local")
  atMost(
    "breaker.shared.success, ours on Redis / ours on memory",
    shared && sharedLocal && shared.ns_per_op / sharedLocal.ns_per_op,
    1.05,
    "x"
  )
  atMost(
    "breaker.shared.success, ours, Redis commands per call",
    typeof shared?.redis_cmds_per_call === "number" ? shared.redis_cmds_per_call : undefined,
    0,
    "cmds"
  )
  const effectRedisAdded = added("breaker.shared.success", "effect-circuit-breaker-redis")
  const sharedAdded = added("breaker.shared.success", "effect-resilience")
  lines.push([
    "breaker.shared.success, effect Redis added / ours added",
    effectRedisAdded !== undefined && sharedAdded !== undefined ? effectRedisAdded / Math.max(sharedAdded, 1) : undefined,
    "x (budget ≥ 20)",
    effectRedisAdded !== undefined && sharedAdded !== undefined ? effectRedisAdded / Math.max(sharedAdded, 1) >= 20 : undefined
  ])
  const bulkheadAdded = added("bulkhead.success", "effect-resilience")
  atMost(
    "bulkhead.success, added, vs cockatiel's bulkhead added",
    bulkheadAdded,
    added("bulkhead.success", "cockatiel"),
    "ns"
  )
  const effectLimiterAdded = added("ratelimit.acquire", "effect-rate-limiter")
  const ratio = (value: number | undefined, of: number | undefined) =>
    value === undefined || of === undefined ? undefined : value / Math.max(of, 1)
  atMost(
    "ratelimit.acquire, acquire added / effect's added",
    ratio(added("ratelimit.acquire", "effect-resilience"), effectLimiterAdded),
    0.5,
    "x"
  )
  atMost(
    "ratelimit.acquire, execute added / effect's added",
    ratio(added("ratelimit.acquire", "effect-resilience-execute"), effectLimiterAdded),
    0.5,
    "x"
  )
  const cmds = (contender: Scenarios.Contender) => {
    const value = find("ratelimit.shared", contender)?.redis_cmds_per_call
    return typeof value === "number" ? value : undefined
  }
  const oursCmds = cmds("effect-resilience")
  const effectCmds = cmds("effect-rate-limiter-redis")
  lines.push([
    "ratelimit.shared, Redis commands per call, ours vs effect's",
    oursCmds,
    `cmds (budget < ${effectCmds === undefined ? "?" : effectCmds.toFixed(2)})`,
    oursCmds === undefined || effectCmds === undefined ? undefined : oursCmds < effectCmds
  ])
  const goodputRow = rows.find(isGoodput)
  lines.push([
    "adaptive.goodput, best adaptive / best fixed limit",
    goodputRow?.goodput_ratio,
    "x (budget ≥ 1)",
    goodputRow === undefined ? undefined : goodputRow.goodput_ratio >= 1
  ])

  const budgetStep = added("budget.check", "effect-sync-step")
  atMost(
    "budget.check, budget added vs one Effect.sync step added",
    added("budget.check", "effect-resilience"),
    budgetStep,
    "ns"
  )
  atMost(
    "budget.check, budget added / one Effect.sync step added",
    // a step measured at or below its floor is noise: no ratio to it
    budgetStep === undefined || budgetStep <= 0
      ? undefined
      : (added("budget.check", "effect-resilience") ?? NaN) / budgetStep,
    1,
    "x"
  )
  const baseline = find("chaos.off", "protect-baseline")
  atMost(
    "chaos.off, protect with a chaos layer (no rule for it) / protect without one",
    baseline === undefined ? undefined : (find("chaos.off", "effect-resilience")?.ns_per_op ?? NaN) / baseline.ns_per_op,
    1.05,
    "x"
  )
  const chaosStep = added("chaos.on", "effect-sync-step")
  atMost(
    "chaos.on, the decision added / one Effect.sync step added",
    chaosStep === undefined || chaosStep <= 0 ? undefined : (added("chaos.on", "effect-resilience") ?? NaN) / chaosStep,
    2,
    "x"
  )
  const storm = rows.find((row): row is Budget.StormRow => isStorm(row) && row.contender === "effect-resilience")
  atMost("budget.storm, load amplification, default budget", storm?.load_amplification, 1.2, "x")
  atMost(
    "budget.storm, the same vs 1.2 + the floor's 10/rate",
    storm?.load_amplification,
    storm === undefined ? undefined : 1.2 + 10 / storm.rate_per_second,
    "x"
  )
  const tailOf = (contender: Budget.TailRow["contender"]) =>
    rows.find((row): row is Budget.TailRow => isTail(row) && row.contender === contender)
  const noHedge = tailOf("no-hedge")
  const adaptive = tailOf("effect-resilience")
  const cut = noHedge && adaptive && noHedge.p99_ms / Math.max(adaptive.p99_ms, 1e-9)
  lines.push([
    "hedge.tail, p99 without a hedge / with the p95 delay",
    cut,
    "x (budget ≥ 5)",
    cut === undefined ? undefined : cut >= 5
  ])
  atMost("hedge.tail, extra load with the p95 delay", adaptive?.extra_load_pct, 5, "%")

  const oursOutage = outage.find((r) => r.contender === "effect-resilience")
  atMost("fleet.outage, calls after opening, shared / local-only", oursOutage?.ratio_to_local, 1 / 2.5, "x")
  atMost("fleet.outage, propagation p99 (loopback)", oursOutage?.propagation_p99_ms, 50, "ms")

  console.log("\nbudgets:")
  for (const [name, value, limit, met] of lines) {
    const verdict = met === undefined ? "not measured" : met ? "met" : "MISSED"
    console.log(`  ${name.padEnd(56)} ${value === undefined ? "-" : value.toFixed(2).padStart(8)} ${limit.padEnd(22)} ${verdict}`)
  }
}

const args = process.argv.slice(2)
if (args[0] === "--rss") {
  const rss = args[1] === "tracker.record" ? await trackerRss(args[2]!) : await concurrentRss(args[2]!)
  console.log(JSON.stringify({ rss_mb: rss }))
} else if (args[0] === "--shared" || args[0] === "--limiter") {
  await sharedChild(args[0], args[1]!, Number(process.env.BENCH_ROUNDS ?? 5), Number(process.env.BENCH_TIME_MS ?? 300))
} else if (args[0] === "--outage") {
  await outageChild(args[1]!)
} else {
  await main()
}
