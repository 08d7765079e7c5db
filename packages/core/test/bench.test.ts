// The benchmark suite's scenarios, run on small batches: every case must do exactly the work its figure claims
// (each call ends as the scenario expects, the operation runs as often as it should, the contender's own count
// moves by its calls), so a figure in bench/results.json never comes from a case that silently did something else.
// The Redis scenario of issue 16 (`ratelimit.shared`) runs on a real Redis, `adaptive.goodput` on a short
// congestion simulation, and `budget.storm` and `hedge.tail` (issue 17) on short runs of their simulations.
import { assert, describe, it } from "@effect/vitest"
import { AdaptiveLimit } from "../src/index.js"
import * as Admission from "../bench/admission.js"
import * as Budget from "../bench/budget.js"
import * as Fleet from "../bench/fleet.js"
import * as Scenarios from "../bench/scenarios.js"
import { simulate } from "../bench/congestion.js"
import * as Server from "./support/redisServer.js"

describe("benchmark scenarios", () => {
  it("cover the scenarios and contenders the suite reports", async () => {
    const built = await Scenarios.make({ batch: 4, fibers: 2, perFiber: 2 })
    try {
      assert.deepStrictEqual(built.scenarios.map((s) => s.id), [
        "retry.success",
        "breaker.success",
        "protect.success",
        "breaker.rejection",
        "breaker.concurrent",
        "retry.recover",
        "tracker.record",
        "layer.success",
        "layer.failure",
        "bulkhead.success",
        "ratelimit.acquire",
        "budget.check",
        "chaos.off",
        "chaos.on"
      ])
      for (const scenario of built.scenarios) {
        const contenders = scenario.cases.map((c) => c.contender)
        assert.include(contenders, "effect-resilience", scenario.id)
        assert.include(contenders, "floor-effect", scenario.id)
        // every contender's floor is measured in the same scenario
        for (const contender of contenders) assert.include(contenders, Scenarios.floorOf(contender), scenario.id)
      }
      const breakers = built.scenarios.filter((s) => s.id.startsWith("breaker."))
      for (const scenario of breakers) {
        assert.includeMembers(scenario.cases.map((c) => c.contender), ["cockatiel", "opossum", "effect-circuit-breaker"])
      }
      const contendersOf = (id: string) => built.scenarios.find((s) => s.id === id)!.cases.map((c) => c.contender)
      assert.includeMembers(contendersOf("bulkhead.success"), ["cockatiel", "semaphore", "floor-promise"])
      assert.includeMembers(contendersOf("ratelimit.acquire"), ["effect-resilience-execute", "effect-rate-limiter"])
      assert.deepStrictEqual(contendersOf("budget.check"), ["floor-effect", "effect-resilience", "effect-sync-step"])
      assert.deepStrictEqual(contendersOf("chaos.off"), ["floor-effect", "protect-baseline", "effect-resilience"])
      assert.deepStrictEqual(contendersOf("chaos.on"), ["floor-effect", "effect-resilience", "effect-sync-step"])
      // the admission, budget and chaos rows say what each contender ran
      for (const id of ["bulkhead.success", "ratelimit.acquire", "budget.check", "chaos.off", "chaos.on"]) {
        for (const contender of contendersOf(id)) assert.isString(built.fields?.(id, contender).note, `${id} ${contender}`)
      }
    } finally {
      await built.dispose()
    }
  })

  it("every case does exactly the work its figure claims", async () => {
    const built = await Scenarios.make({ batch: 20, fibers: 10, perFiber: 5 })
    try {
      for (const scenario of built.scenarios) {
        for (const kase of scenario.cases) {
          // twice: the second batch shows the first left every breaker and counter as the next one needs it
          await built.verify(scenario, kase)
          await built.verify(scenario, kase)
        }
      }
    } finally {
      await built.dispose()
    }
  })

  it("ratelimit.shared: every case does its work, ours leases from Redis (shared mode) with fewer commands per call", async () => {
    const built = await Fleet.makeSharedLimiter(await Server.shared(), 200)
    try {
      const [scenario] = built.scenarios
      assert.strictEqual(scenario!.id, "ratelimit.shared")
      assert.deepStrictEqual(scenario!.cases.map((c) => c.contender), [
        "floor-effect",
        "effect-resilience",
        "effect-resilience-local",
        "effect-rate-limiter-redis"
      ])
      for (const kase of scenario!.cases) {
        // verify throws unless ours is in "shared" mode after the batch; metered as the suite meters a loop
        const stop = await kase.meter!()
        await built.verify(scenario!, kase)
        await built.verify(scenario!, kase)
        await stop()
      }
      const cmds = (contender: Scenarios.Contender) => built.fields!("ratelimit.shared", contender).redis_cmds_per_call
      assert.strictEqual(cmds("floor-effect"), 0)
      assert.strictEqual(cmds("effect-resilience-local"), 0)
      const ours = cmds("effect-resilience") as number
      const effect = cmds("effect-rate-limiter-redis") as number
      // ours leases: at most one script per lease (up to 100 permits), effect's runs one per call
      assert.isTrue(ours > 0 && ours < effect, `ours ${ours}, effect's ${effect} commands per call`)
      assert.isTrue(effect >= 1, `effect's ${effect} commands per call`)
    } finally {
      await built.dispose()
    }
  }, 60_000)

  it("adaptive.goodput: the row is the simulation's figures, and its ratio the best algorithm's over the best fixed", async () => {
    const row = await Admission.goodput(simulate, {
      durationMillis: 2000,
      warmUpMillis: 500,
      algorithms: [["vegas", AdaptiveLimit.vegas()], ["aimd", AdaptiveLimit.aimd()]],
      fixedLimits: [2, 200],
      sweep: [8]
    })
    assert.strictEqual(row.scenario, "adaptive.goodput")
    assert.deepStrictEqual(Object.keys(row.algorithms), ["vegas", "aimd"])
    assert.deepStrictEqual(Object.keys(row.fixed), ["2", "200"])
    const best = Math.max(...Object.values(row.algorithms).map((f) => f.goodput))
    assert.strictEqual(row.goodput, best)
    assert.strictEqual(row.algorithms[row.best_algorithm]!.goodput, best)
    assert.strictEqual(row.goodput_ratio, Math.round((best / row.fixed[String(row.best_fixed_limit)]!.goodput) * 1000) / 1000)
    assert.strictEqual(row.best_fixed_limit, 2)
    // a limit too high collapses, one too low caps goodput at 2 calls of 10 ms at once
    assert.isTrue(row.fixed["200"]!.goodput < row.fixed["2"]!.goodput)
    assert.isTrue(row.fixed["2"]!.goodput > 190 && row.fixed["2"]!.goodput <= 205, `${row.fixed["2"]!.goodput}`)
    assert.isTrue(row.goodput_ratio > 1, `goodput_ratio ${row.goodput_ratio}`)
    assert.strictEqual(row.best_sweep_limit, 8)
    assert.isTrue(row.ratio_to_best_sweep > 0)
  }, 60_000)

  it("budget.storm: without a budget 3 attempts amplify as the arithmetic says; the default budget caps the retries", async () => {
    // 2 s per phase at 500 calls/s: 2000 calls, all within one 10 s window of the budget
    const options = { ratePerSecond: 500, phaseSeconds: 2 }
    const none = await Budget.storm("no-budget", options)
    const ours = await Budget.storm("effect-resilience", options)
    for (const row of [none, ours]) {
      assert.strictEqual(row.calls, 2000)
      assert.strictEqual(row.load_amplification, Math.round((row.dependency_calls / row.calls) * 1000) / 1000)
    }
    // 1 + 0.5 + 0.25 at 50 % (seeded draws), 3 attempts each at 100 %
    assert.isTrue(Math.abs(none.load_amplification_50pct - 1.75) < 0.05, `${none.load_amplification_50pct}`)
    assert.strictEqual(none.load_amplification_100pct, 3)
    assert.strictEqual(none.retries_suppressed, 0)
    // the budget: at most 20 % of the calls plus its reserve (10 per second × 10 s) in the window
    assert.isTrue(ours.dependency_calls <= 2000 * 1.2 + 100, `${ours.dependency_calls} attempts`)
    assert.isTrue(ours.dependency_calls >= 2000 * 1.2, `${ours.dependency_calls} attempts`)
    assert.isTrue(ours.retries_suppressed > 0)
  }, 60_000)

  it("hedge.tail: percentiles from every call's duration; a fixed hedge cuts the tail for the slow share's load", async () => {
    const options = { calls: 2000 }
    const none = await Budget.tail("no-hedge", options)
    const fixed = await Budget.tail("effect-resilience-fixed", options)
    const adaptive = await Budget.tail("effect-resilience", options)
    // 2 % of 2000 calls take 500 ms: the p99 and p99.9 are slow calls, the median a fast one
    assert.strictEqual(none.p50_ms, 10)
    assert.strictEqual(none.p99_ms, 500)
    assert.strictEqual(none.p999_ms, 500)
    assert.strictEqual(none.hedges, 0)
    // a slow primary is hedged at 20 ms and the hedge (fast, but for 2 % of them) ends at 30 ms
    assert.strictEqual(fixed.p99_ms, 30)
    assert.deepStrictEqual(fixed.hedge_delay_ms, { median: 20, min: 20, max: 20 })
    assert.isTrue(fixed.extra_load_pct > 1 && fixed.extra_load_pct < 3.5, `${fixed.extra_load_pct} %`)
    for (const row of [none, fixed, adaptive]) {
      assert.strictEqual(row.calls, 2000)
      assert.strictEqual(row.extra_load_pct, Math.round((row.hedges / row.calls) * 100 * 1000) / 1000)
    }
    // the adaptive delay is known and reported in the note
    assert.isDefined(adaptive.hedge_delay_final_ms)
    assert.include(adaptive.note, `converged to ${adaptive.hedge_delay_final_ms!.median} ms`)
  }, 60_000)
})
