/**
 * Circuit breakers side by side on the same trivial async operation: ours, cockatiel's and effect's experimental
 * `CircuitBreaker` (memory store), each next to its floor measured in the same run:
 *
 * - `floor-promise`: `await op()`; `floor-effect`: `Effect.promise(op)` in a fiber.
 * - success path: one call through a closed breaker;
 * - rejection: one call rejected by an open breaker (cockatiel throws, the effect breakers fail);
 * - concurrent: 1 000 fibers (or promise chains) × 100 calls through one breaker, with the counts checked.
 *
 * Each bench runs a batch of calls in one fiber (or one async function), so fiber start-up is not part of the
 * figure; times are mitata medians of a batch divided by its calls.
 */
import { BreakerRegistry, TripRule } from "@effect-resilience/core"
import { CircuitBreakerPolicy, ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel"
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import { CircuitBreaker as EffectBreaker } from "effect/persistence"
import { bench, do_not_optimize, group, run } from "mitata"

const op = () => Promise.resolve(1)
const failing = () => Promise.reject(new Error("down"))
const batch = 1000

// --- the contenders, each built once
const runtime = ManagedRuntime.make(BreakerRegistry.layer({
  breakers: {
    closed: { trip: TripRule.consecutive(5) },
    open: { trip: TripRule.consecutive(1), openDuration: "1 hour" }
  }
}))
const registry = await runtime.runPromise(BreakerRegistry.BreakerRegistry.use(Effect.succeed))
const ours = registry.breaker("closed")
const oursOpen = registry.breaker("open")
const scope = Effect.runSync(Scope.make())
const effectBreaker = await Effect.runPromise(
  EffectBreaker.make({ tripPolicy: EffectBreaker.consecutive(5), openDuration: "1 hour" }).pipe(
    Scope.provide(scope),
    Effect.provide(EffectBreaker.layerStoreMemory())
  )
)
const effectOpenBreaker = await Effect.runPromise(
  EffectBreaker.make({ tripPolicy: EffectBreaker.consecutive(1), openDuration: "1 hour" }).pipe(
    Scope.provide(scope),
    Effect.provide(EffectBreaker.layerStoreMemory())
  )
)
const cockatiel: CircuitBreakerPolicy = circuitBreaker(handleAll, {
  halfOpenAfter: 3_600_000,
  breaker: new ConsecutiveBreaker(5)
})
const cockatielOpen: CircuitBreakerPolicy = circuitBreaker(handleAll, {
  halfOpenAfter: 3_600_000,
  breaker: new ConsecutiveBreaker(1)
})

const call = Effect.promise(op)
const oursCall = ours.execute(call)
const oursOpenCall = oursOpen.execute(call)
const effectCall = call.pipe(effectBreaker.execute({ key: "closed" }))
const effectOpenCall = call.pipe(effectOpenBreaker.execute({ key: "open" }))

// open the "open" breakers
await runtime.runPromise(Effect.exit(oursOpen.execute(Effect.promise(failing))))
await Effect.runPromise(Effect.exit(Effect.promise(failing).pipe(effectOpenBreaker.execute({ key: "open" }))))
await cockatielOpen.execute(failing).catch(() => {})

const loop = <A, E>(effect: Effect.Effect<A, E>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* effect
  })
const loopExit = <A, E>(effect: Effect.Effect<A, E>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* Effect.exit(effect)
  })
const promiseLoop = async (f: () => Promise<unknown>, n: number) => {
  for (let i = 0; i < n; i++) await f()
}
const promiseLoopCatch = async (f: () => Promise<unknown>, n: number) => {
  for (let i = 0; i < n; i++) {
    try {
      await f()
    } catch {
      // rejected
    }
  }
}
const fibers = 1000
const perFiber = 100
const concurrent = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.forEach(Array.from({ length: fibers }), () => loop(effect, perFiber), {
    concurrency: "unbounded",
    discard: true
  })
const concurrentPromises = (f: () => Promise<unknown>) =>
  Promise.all(Array.from({ length: fibers }, () => promiseLoop(f, perFiber)))

const rejection = new Error("rejected")
const failWith = Effect.fail(rejection)

const scenarios = {
  "success": {
    calls: batch,
    cases: {
      "floor-promise": () => promiseLoop(op, batch),
      "floor-effect": () => Effect.runPromise(loop(call, batch)),
      "effect-resilience": () => Effect.runPromise(loop(oursCall, batch)),
      "cockatiel": () => promiseLoop(() => cockatiel.execute(op), batch),
      "effect-circuit-breaker": () => Effect.runPromise(loop(effectCall, batch))
    }
  },
  "rejection": {
    calls: batch,
    cases: {
      "floor-promise": () => promiseLoopCatch(() => Promise.reject(rejection), batch),
      "floor-effect": () => Effect.runPromise(loopExit(failWith, batch)),
      "effect-resilience": () => Effect.runPromise(loopExit(oursOpenCall, batch)),
      "cockatiel": () => promiseLoopCatch(() => cockatielOpen.execute(op), batch),
      "effect-circuit-breaker": () => Effect.runPromise(loopExit(effectOpenCall, batch))
    }
  },
  "concurrent": {
    calls: fibers * perFiber,
    cases: {
      "floor-promise": () => concurrentPromises(op),
      "floor-effect": () => Effect.runPromise(concurrent(call)),
      "effect-resilience": () => Effect.runPromise(concurrent(oursCall)),
      "cockatiel": () => concurrentPromises(() => cockatiel.execute(op)),
      "effect-circuit-breaker": () => Effect.runPromise(concurrent(effectCall))
    }
  }
} as const

for (const [scenario, { cases }] of Object.entries(scenarios)) {
  group(scenario, () => {
    for (const [name, f] of Object.entries(cases)) {
      bench(`${scenario} ${name}`, async () => do_not_optimize(await f()))
    }
  })
}

// the concurrent run must count every call, exactly
const before = (await runtime.runPromise(ours.state)).calls.success
await Effect.runPromise(concurrent(oursCall))
const after = (await runtime.runPromise(ours.state)).calls.success
if (after - before !== fibers * perFiber) throw new Error(`counted ${after - before} of ${fibers * perFiber} calls`)

const results = await run({ format: "mitata" })
const median = new Map<string, number>()
for (const trial of results.benchmarks) {
  const stats = trial.runs[0]?.stats
  if (stats !== undefined) median.set(trial.alias, stats.p50)
}

console.log("\nPer call (median of a batch / its calls), and the added cost over the floor of the same kind:")
for (const [scenario, { calls, cases }] of Object.entries(scenarios)) {
  const per = (name: string) => median.get(`${scenario} ${name}`)! / calls
  const promiseFloor = per("floor-promise")
  const effectFloor = per("floor-effect")
  console.log(`\n${scenario} (${calls} calls per run)`)
  for (const name of Object.keys(cases)) {
    const ns = per(name)
    const floor = name === "cockatiel" || name === "floor-promise" ? promiseFloor : effectFloor
    console.log(
      `  ${name.padEnd(24)} ${ns.toFixed(0).padStart(6)} ns  ${(ns / floor).toFixed(2).padStart(6)}x its floor  ` +
        `+${(ns - floor).toFixed(0)} ns`
    )
  }
  const added = (name: string, floor: number) => Math.max(per(name) - floor, 1)
  const oursAdded = added("effect-resilience", effectFloor)
  console.log(
    `  added cost, ours vs cockatiel: ${(added("cockatiel", promiseFloor) / oursAdded).toFixed(1)}x less; ` +
      `vs effect's breaker: ${(added("effect-circuit-breaker", effectFloor) / oursAdded).toFixed(1)}x less`
  )
}
console.log(`\nconcurrent: ${fibers * perFiber} calls counted exactly`)
await Effect.runPromise(Scope.close(scope, Exit.void))
await runtime.dispose()
