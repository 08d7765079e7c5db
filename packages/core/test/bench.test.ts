// The benchmark suite's scenarios, run on small batches: every case must do exactly the work its figure claims
// (each call ends as the scenario expects, the operation runs as often as it should, the contender's own count
// moves by its calls), so a figure in bench/results.json never comes from a case that silently did something else.
import { assert, describe, it } from "@effect/vitest"
import * as Scenarios from "../bench/scenarios.js"

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
        "layer.failure"
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
})
