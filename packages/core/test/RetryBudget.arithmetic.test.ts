import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { RetryBudget } from "../src/index.js"
import { make as makeBudget } from "../src/internal/budget/budget.js"

const ratio = (percent: number, minPerSecond: number, ttlMillis: number) =>
  makeBudget("b", { kind: "ratio", percent, minPerSecond, ttlMillis })

const drain = (b: ReturnType<typeof ratio>, now: number) => {
  let n = 0
  while (n < 10_000 && b.withdrawUnsafe(now)) n++
  return n
}

describe("ratio budget arithmetic", () => {
  // available = reserve + percent * deposited - withdrawn, in floats: 0.7 * 90 is 62.99999999999999, so the 63rd
  // retry that 70 % of 90 calls allows is refused (likewise 0.29 or 0.57 x 100, 0.35 x 180)
  it.effect("70 % of 90 calls is 63 retries, the last one included", () =>
    Effect.gen(function*() {
      const config = yield* RetryBudget.validate({ percent: 0.7, minPerSecond: 0 })
      const b = makeBudget("b", config)
      for (let i = 0; i < 90; i++) b.depositUnsafe(0)
      assert.strictEqual(b.stateUnsafe(0).available, 63, "the state says 63")
      assert.strictEqual(drain(b, 0), 63, "and 63 are granted")
    }))

  it("29 % of 100 calls is 29 retries", () => {
    const b = ratio(0.29, 0, 10_000)
    for (let i = 0; i < 100; i++) b.depositUnsafe(0)
    assert.strictEqual(drain(b, 0), 29)
  })
})
