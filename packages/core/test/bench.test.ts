// The benchmark suite's scenarios, run on small batches: every case must do exactly the work its figure claims
// (each call ends as the scenario expects, the operation runs as often as it should, the contender's own count
// moves by its calls), so a figure in bench/results.json never comes from a case that silently did something else.
// The Redis scenario of issue 16 (`ratelimit.shared`) runs on a real Redis, and `adaptive.goodput` on a short
// congestion simulation.
import { assert, describe, it } from "@effect/vitest"
import { AdaptiveLimit } from "../src/index.js"
import * as Admission from "../bench/admission.js"
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
        "ratelimit.acquire"
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
      // the admission rows say what each contender ran
      for (const id of ["bulkhead.success", "ratelimit.acquire"]) {
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
})
