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
 * Prints a table and the budgets, and writes `bench/results.json` at the repository root. Options (environment):
 * `BENCH_ROUNDS` (default 5), `BENCH_TIME_MS` (mitata's minimum CPU time per case and round, default 300),
 * `BENCH_ONLY` (a regular expression on scenario ids; a partial run leaves `bench/results.json` alone).
 */
import { CommonErrors, ErrorTracker } from "@effect-resilience/core"
import { Effect, Layer, Logger, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { do_not_optimize, measure } from "mitata"
import * as Scenarios from "./scenarios.js"

/** One row of `bench/results.json`. */
interface Result {
  readonly scenario: string
  readonly contender: Scenarios.Contender
  readonly ns_per_op: number
  readonly floor_ns_per_op: number
  readonly ratio_to_floor: number
  rss_mb?: number
}

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

// --- the main process -------------------------------------------------------------------------------------------

const main = async () => {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const minCpuMs = Number(process.env.BENCH_TIME_MS ?? 300)
  const only = process.env.BENCH_ONLY === undefined ? undefined : new RegExp(process.env.BENCH_ONLY)
  const built = await Scenarios.make()
  const scenarios = built.scenarios.filter((s) => only === undefined || only.test(s.id))
  const cases = scenarios.flatMap((scenario) => scenario.cases.map((kase) => ({ scenario, kase })))

  console.log(`node ${process.version}, ${rounds} rounds, mitata min CPU time ${minCpuMs} ms per case and round`)
  // warm-up, and the check that every case does what it claims: each batch must end every call as expected,
  // run the operation exactly as often as it should, and move the contender's own count by its calls
  for (const { scenario, kase } of cases) {
    for (let i = 0; i < 3; i++) await built.verify(scenario, kase)
  }
  console.log(`checked ${cases.length} cases: every call counted exactly\n`)

  const samples = new Map<string, Array<number>>()
  for (let round = 0; round < rounds; round++) {
    const offset = Math.floor((round * cases.length) / Math.max(rounds, 1))
    for (let i = 0; i < cases.length; i++) {
      const { scenario, kase } = cases[(i + offset) % cases.length]!
      const prepare = kase.prepare
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
      const key = `${scenario.id} ${kase.contender}`
      samples.set(key, [...(samples.get(key) ?? []), stats.p50 / scenario.calls])
    }
    process.stdout.write(`round ${round + 1} of ${rounds} done\n`)
  }
  // the counts again, after measuring: no breaker changed state and no call went missing meanwhile
  for (const { scenario, kase } of cases) await built.verify(scenario, kase)
  await built.dispose()

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
        ratio_to_floor: round3(ns / floor)
      })
    }
  }
  for (const row of results) {
    if (row.scenario === "breaker.concurrent") row.rss_mb = round1(rssOf(row.scenario, row.contender))
    if (row.scenario === "tracker.record" && row.contender !== "effect-sync-step") {
      row.rss_mb = round1(rssOf(row.scenario, row.contender))
    }
  }

  print(scenarios, results)
  budgets(results)
  if (only !== undefined) return console.log("\nBENCH_ONLY is set: bench/results.json is left as it was")
  const file = fileURLToPath(new URL("../../../../bench/results.json", import.meta.url))
  mkdirSync(fileURLToPath(new URL("../../../../bench/", import.meta.url)), { recursive: true })
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n")
  console.log(`\nwrote ${file}`)
}

const print = (scenarios: ReadonlyArray<Scenarios.Scenario>, results: ReadonlyArray<Result>) => {
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
          (row.rss_mb === undefined ? "" : `  RSS +${row.rss_mb.toFixed(1)} MB`)
      )
    }
  }
}

const budgets = (results: ReadonlyArray<Result>) => {
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
} else {
  await main()
}
