/**
 * Success-path cost of `protect` and of `Effect.retry(PolicyService.retry)`, next to the bare call they wrap.
 *
 * Run with `npm run bench`. Each case runs the same effect to completion with `runSync` on one runtime that
 * already holds the ErrorLayer services, so the figures differ only by the wrapper. Time is mitata's median
 * (p50) per run and allocation mitata's mean heap bytes per run (the `runSync` fiber itself is most of the bare
 * call's); both are printed next to the bare call measured in the same process.
 */
import { CommonErrors, ErrorLayer, PolicyService, protect } from "@effect-resilience/core"
import { Effect, ManagedRuntime, Schedule } from "effect"
import { bench, do_not_optimize, run, summary } from "mitata"

let counter = 0
const call: Effect.Effect<number, CommonErrors.StorageError> = Effect.sync(() => ++counter)

const cases = {
  "bare call": call,
  "protect(call)": call.pipe(protect({ operation: "bench" })),
  "protect(call, timeout)": call.pipe(protect({ operation: "bench", timeout: "1 second" })),
  "Effect.retry(call, PolicyService.retry)": call.pipe(Effect.retry(PolicyService.retry)),
  "Effect.retry(call, exponential, for reference)": call.pipe(
    Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.upTo({ times: 3 })))
  )
} as const
type Case = keyof typeof cases

const runtime = ManagedRuntime.make(ErrorLayer.layer({ logFormat: false }))
await runtime.runPromise(Effect.void) // build the layer before measuring

const runOnce = (name: Case) => runtime.runSync(cases[name] as Effect.Effect<number, unknown, PolicyService.PolicyService>)

summary(() => {
  for (const name of Object.keys(cases) as Array<Case>) {
    const b = bench(name, () => do_not_optimize(runOnce(name)))
    if (name === "bare call") b.baseline(true)
  }
})

const results = await run({ format: "mitata" })

const median = new Map<string, number>()
const heap = new Map<string, number>()
for (const trial of results.benchmarks) {
  const stats = trial.runs[0]?.stats
  if (stats === undefined) continue
  median.set(trial.alias, stats.p50)
  if (stats.heap !== undefined) heap.set(trial.alias, stats.heap.avg)
}

const floor = median.get("bare call")!
const floorHeap = heap.get("bare call")
console.log("\nSuccess path, as ratios to the bare call measured in this run (median time; mean heap bytes per run):")
for (const name of Object.keys(cases) as Array<Case>) {
  const time = median.get(name)!
  const bytes = heap.get(name)
  const mem = bytes === undefined || floorHeap === undefined
    ? "(no heap figures: run under node with --expose-gc)"
    : `${bytes.toFixed(0).padStart(5)} B/run (${bytes - floorHeap >= 0 ? "+" : ""}${(bytes - floorHeap).toFixed(0)} B)`
  console.log(`  ${name.padEnd(48)} ${(time / floor).toFixed(2).padStart(5)}x  ${time.toFixed(0).padStart(5)} ns  ${mem}`)
}
await runtime.dispose()
