/**
 * Caller-side cost of recording one error in the tracker, next to the bare `Effect.fail` it accompanies, and the
 * memory the tracker keeps after recording 1 000 000 errors with the default history.
 *
 * Run with `npm run bench`. Time is mitata's median (p50) per iteration. The tracker's fiber normally drains
 * the queue between bursts; here the queue is drained outside the timed batches (mitata computes per-iteration
 * parameters before timing a batch, and the parameter generator drains every 1 024 iterations), so the timed
 * part is the enqueue only, as a caller pays it. The overflow case measures the other caller path: a full queue,
 * where the caller folds the error into the totals itself.
 */
import { CommonErrors, ErrorTracker } from "@effect-resilience/core"
import { Effect, Exit, Scope } from "effect"
import { bench, do_not_optimize, run, summary } from "mitata"

const error = new CommonErrors.StorageError({ operation: "items.insert" })
// suspended so that it runs in a fiber, as it does in a program (a bare `Effect.fail` is an `Exit`, which
// `runSyncExit` returns without starting a fiber)
const fail: Effect.Effect<never, CommonErrors.StorageError> = Effect.suspend(() => Effect.fail(error))

const scope = Effect.runSync(Scope.make())
const make = (options?: ErrorTracker.Options) =>
  Effect.runSync(ErrorTracker.make(options).pipe(Scope.provide(scope)))
const tracker = make()
const full = make({ queueCapacity: 1 })
full.offer({ error, timestamp: 0 }) // fills its queue: it is never drained

// memory: 1 000 000 errors through a fresh tracker with the default options, drained as the fiber would, then
// 1 000 000 more: the second million shows whether anything keeps growing once the heap has reached its size
const gc = (globalThis as { gc?: () => void }).gc
const settle = () => {
  gc?.()
  gc?.()
  return process.memoryUsage()
}
const fresh = make()
const million = (offset: number) => {
  for (let i = 0; i < 1_000_000; i++) {
    fresh.offer({ error, timestamp: offset + i, operation: "items.save", attempt: 1, source: "protect" })
    if (i % 8192 === 8191) Effect.runSync(fresh.history)
  }
  return Effect.runSync(fresh.summary)
}
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const growth = (from: NodeJS.MemoryUsage, to: NodeJS.MemoryUsage) =>
  `RSS ${mb(from.rss)} -> ${mb(to.rss)} (${to.rss >= from.rss ? "+" : ""}${mb(to.rss - from.rss)}), heap used ` +
  `${mb(from.heapUsed)} -> ${mb(to.heapUsed)} (${to.heapUsed >= from.heapUsed ? "+" : ""}${mb(to.heapUsed - from.heapUsed)})`
const m0 = settle()
const first = million(0)
const m1 = settle()
const second = million(1_000_000)
const m2 = settle()
console.log(`Memory, default options (history ${first.history.capacity}), forced GC before each reading:`)
console.log(`  1st 1 000 000 errors (total ${first.total}, dropped ${first.dropped}): ${growth(m0, m1)}`)
console.log(`  2nd 1 000 000 errors (total ${second.total}, dropped ${second.dropped}): ${growth(m1, m2)}`)
if (gc === undefined) console.log("  (no forced GC: run under node with --expose-gc)")
console.log()

const drain = () => Effect.runSync(tracker.summary)
let sinceDrain = 0
// a parameter computed outside the timed batch: drains the queue often enough that it never fills
const drained = () => {
  if (++sinceDrain >= 1024) {
    sinceDrain = 0
    drain()
  }
  return error
}

const recordThenFail = Effect.andThen(tracker.record(error, { operation: "items.save" }), fail)

summary(() => {
  bench("Effect.fail (floor)", function*() {
    yield { [0]: drained, bench: () => do_not_optimize(Effect.runSyncExit(fail)) }
  }).baseline(true)
  bench("Effect.fail + tracker.offer", function*() {
    yield {
      [0]: drained,
      bench: (e: CommonErrors.StorageError) => {
        tracker.offer({ error: e, timestamp: 0, operation: "items.save", attempt: 1, source: "protect" })
        return do_not_optimize(Effect.runSyncExit(fail))
      }
    }
  })
  bench("tracker.record(error) then Effect.fail", function*() {
    yield { [0]: drained, bench: () => do_not_optimize(Effect.runSyncExit(recordThenFail)) }
  })
  bench("Effect.fail + tracker.offer, queue full", function*() {
    yield {
      [0]: drained,
      bench: (e: CommonErrors.StorageError) => {
        full.offer({ error: e, timestamp: 0, operation: "items.save", attempt: 1, source: "protect" })
        return do_not_optimize(Effect.runSyncExit(fail))
      }
    }
  })
})

const results = await run({ format: "mitata" })
const median = new Map<string, number>()
for (const trial of results.benchmarks) {
  const p50 = trial.runs[0]?.stats?.p50
  if (p50 !== undefined) median.set(trial.alias, p50)
}
const floor = median.get("Effect.fail (floor)")!
console.log("\nRecording one error, caller side, as ratios to the bare Effect.fail measured in this run (median):")
for (const [name, time] of median) {
  const added = time - floor
  console.log(
    `  ${name.padEnd(44)} ${(time / floor).toFixed(2).padStart(5)}x  ${time.toFixed(0).padStart(5)} ns  (${
      added >= 0 ? "+" : ""
    }${added.toFixed(0)} ns)`
  )
}

await Effect.runPromise(Scope.close(scope, Exit.void))
