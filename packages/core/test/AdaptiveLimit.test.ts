import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Exit, Schema } from "effect"
import { AdaptiveLimit, ConfigError } from "../src/index.js"
import * as Controller from "../src/internal/bulkhead/controller.js"
import { prng } from "./utils.js"

// the problems the Schema finds, as a bulkhead's options report them
const issues = (limit: unknown) => {
  const exit = Schema.decodeUnknownExit(AdaptiveLimit.AdaptiveLimit)(limit, {
    errors: "all",
    onExcessProperty: "error"
  })
  if (Exit.isSuccess(exit)) return []
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? ConfigError.fromSchemaIssue(error.value.issue) : []
}
const paths = (limit: unknown) => issues(limit).map((i) => i.path)

const sample = (rttMillis: number, inFlight: number, dropped = false): Controller.Sample => ({
  rttMillis,
  inFlight,
  dropped
})
// the limits after each sample in turn
const run = (controller: Controller.Controller, samples: ReadonlyArray<Controller.Sample>) =>
  samples.map((s) => controller.update(s))
const times = <A>(n: number, a: A): Array<A> => Array.from({ length: n }, () => a)
const noRandom = () => 0

describe("AdaptiveLimit", () => {
  describe("values and their Schema", () => {
    it("the constructors build plain values with Netflix's defaults", () => {
      const aimd = AdaptiveLimit.aimd()
      assert.deepStrictEqual({ ...aimd, timeout: Duration.toMillis(aimd.timeout) }, {
        _tag: "Aimd",
        initial: 10,
        min: 1,
        max: 200,
        backoffRatio: 0.9,
        timeout: 5000
      })
      assert.deepStrictEqual(AdaptiveLimit.gradient2(), {
        _tag: "Gradient2",
        initial: 20,
        min: 20,
        max: 200,
        smoothing: 0.2,
        queueSize: 4,
        longWindow: 600,
        rttTolerance: 1.5
      })
      assert.deepStrictEqual(AdaptiveLimit.vegas(), {
        _tag: "Vegas",
        initial: 20,
        min: 1,
        max: 1000,
        smoothing: 1,
        alpha: 3,
        beta: 6,
        probeMultiplier: 30
      })
      assert.strictEqual(Duration.toMillis(AdaptiveLimit.aimd({ timeout: "2 seconds" }).timeout), 2000)
    })

    it("a default bound or start follows the bounds given", () => {
      const within = (l: AdaptiveLimit.AdaptiveLimit) => [l.initial, l.min, l.max]
      assert.deepStrictEqual(within(AdaptiveLimit.gradient2({ max: 10 })), [10, 10, 10])
      assert.deepStrictEqual(within(AdaptiveLimit.gradient2({ initial: 8 })), [8, 8, 200])
      assert.deepStrictEqual(within(AdaptiveLimit.aimd({ min: 20 })), [20, 20, 200])
      assert.deepStrictEqual(within(AdaptiveLimit.vegas({ initial: 2000 })), [2000, 1, 2000])
      // bounds given that contradict each other are reported, not mended
      assert.deepStrictEqual(issues(AdaptiveLimit.aimd({ min: 30, max: 20 })), [
        { path: ["min"], message: "Expected at most max (20), got 30" }
      ])
    })

    it("the Schema accepts well-formed values as they are", () => {
      const limits = [AdaptiveLimit.aimd(), AdaptiveLimit.gradient2({ min: 1 }), AdaptiveLimit.vegas({ max: 50 })]
      for (const limit of limits) {
        assert.strictEqual(Schema.decodeUnknownSync(AdaptiveLimit.AdaptiveLimit)(limit), limit)
      }
      const fromJson = JSON.parse(
        "{ \"_tag\": \"Vegas\", \"initial\": 5, \"min\": 1, \"max\": 50, \"smoothing\": 0.5, \"alpha\": 2, " +
          "\"beta\": 4, \"probeMultiplier\": 10 }"
      )
      assert.deepStrictEqual(issues(fromJson), [])
      assert.deepStrictEqual(issues(AdaptiveLimit.aimd({ initial: 1, min: 1, max: 1, backoffRatio: 0.5 })), [])
    })

    it("the Schema names every field at fault", () => {
      assert.deepStrictEqual(
        paths({
          _tag: "Gradient2",
          initial: 2.5,
          min: 0,
          max: "many",
          smoothing: 0,
          queueSize: 1.5,
          longWindow: 0,
          rttTolerance: 0.9
        }),
        [["initial"], ["min"], ["max"], ["smoothing"], ["queueSize"], ["longWindow"], ["rttTolerance"]]
      )
      assert.deepStrictEqual(issues(AdaptiveLimit.aimd({ backoffRatio: 1, timeout: 0 })), [
        { path: ["backoffRatio"], message: "Expected a number in [0.5, 1), got 1" },
        { path: ["timeout"], message: "Expected a finite, positive duration such as \"5 seconds\"" }
      ])
      assert.deepStrictEqual(paths(AdaptiveLimit.aimd({ backoffRatio: 0.4, timeout: "Infinity" })), [
        ["backoffRatio"],
        ["timeout"]
      ])
      assert.deepStrictEqual(issues(AdaptiveLimit.vegas({ smoothing: 1.5, alpha: 4, beta: 3, probeMultiplier: 0 })), [
        { path: ["smoothing"], message: "Expected a number in (0, 1], got 1.5" },
        { path: ["beta"], message: "Expected at least alpha (4), got 3" },
        { path: ["probeMultiplier"], message: "Expected an integer of at least 1, got 0" }
      ])
      assert.deepStrictEqual(issues(AdaptiveLimit.gradient2({ initial: 5, min: 10, max: 20 })), [
        { path: ["initial"], message: "Expected at least min (10), got 5" }
      ])
      assert.deepStrictEqual(issues(AdaptiveLimit.gradient2({ initial: 30, min: 1, max: 20 })), [
        { path: ["initial"], message: "Expected at most max (20), got 30" }
      ])
      // a field of the wrong type is reported on its own key, not on the defaults that follow it
      assert.deepStrictEqual(paths({ ...AdaptiveLimit.vegas({ max: 10 }), initial: "ten" }), [["initial"]])
      assert.deepStrictEqual(paths(AdaptiveLimit.aimd({ initial: Number.NaN })), [["initial"]])
      assert.deepStrictEqual(paths(AdaptiveLimit.gradient2({ initial: 0 })), [["initial"]])
    })

    it("the Schema refuses unknown keys, given to a constructor or written by hand, and what is no limit", () => {
      assert.deepStrictEqual(
        issues(AdaptiveLimit.aimd({ backofRatio: 0.5 } as unknown as AdaptiveLimit.AimdOptions)),
        [{ path: ["backofRatio"], message: "Unknown key \"backofRatio\", did you mean \"backoffRatio\"?" }]
      )
      const fromConfig = JSON.parse('{ "initial": 10, "queSize": 2 }')
      assert.deepStrictEqual(issues(AdaptiveLimit.gradient2(fromConfig)), [
        { path: ["queSize"], message: "Unknown key \"queSize\", did you mean \"queueSize\"?" }
      ])
      assert.deepStrictEqual(issues({ ...AdaptiveLimit.vegas(), probeMultiplyer: 2 }), [
        { path: ["probeMultiplyer"], message: "Unknown key \"probeMultiplyer\", did you mean \"probeMultiplier\"?" }
      ])
      assert.deepStrictEqual(issues({ _tag: "Cubic", initial: 10 }), [
        { path: ["_tag"], message: "Unknown adaptive limit \"Cubic\"" }
      ])
      assert.deepStrictEqual(issues(null), [{
        path: [],
        message: "Expected an adaptive limit (AdaptiveLimit.aimd, gradient2, vegas), got null"
      }])
      // a well-formed value carries nothing of the check: equal to one written by hand
      assert.deepStrictEqual(AdaptiveLimit.vegas({ max: 50 }), { ...AdaptiveLimit.vegas(), max: 50 })
    })

    it("isAdaptiveLimit tells a limit value from a number", () => {
      assert.isTrue(AdaptiveLimit.isAdaptiveLimit(AdaptiveLimit.aimd()))
      assert.isTrue(AdaptiveLimit.isAdaptiveLimit(JSON.parse('{ "_tag": "Gradient2" }')))
      assert.isFalse(AdaptiveLimit.isAdaptiveLimit(10))
      assert.isFalse(AdaptiveLimit.isAdaptiveLimit(null))
      assert.isFalse(AdaptiveLimit.isAdaptiveLimit({ _tag: "Consecutive", failures: 3 }))
      assert.isFalse(AdaptiveLimit.isAdaptiveLimit([{ _tag: "Aimd" }]))
    })
  })

  describe("AIMD", () => {
    it("grows by one while at least half the limit is in flight, backs off on a drop or a slow call", () => {
      const controller = Controller.make(AdaptiveLimit.aimd(), noRandom)
      assert.deepStrictEqual(
        run(controller, [
          sample(10, 5), // 5 of 10 in flight: half, so it grows
          sample(10, 5), // 5 of 11: under half, it holds
          sample(10, 6),
          sample(10, 12, true), // a drop: ⌊12 × 0.9⌋
          sample(5001, 10), // slower than the 5 s timeout: a drop too
          sample(5000, 9) // not slower than it
        ]),
        [11, 11, 12, 10, 9, 10]
      )
      assert.deepStrictEqual(controller.figures(), {})
    })

    it("halves with a backoff ratio of 0.5, down to min, and never passes max", () => {
      const halving = Controller.make(AdaptiveLimit.aimd({ initial: 16, min: 2, backoffRatio: 0.5 }), noRandom)
      assert.deepStrictEqual(run(halving, times(5, sample(10, 16, true))), [8, 4, 2, 2, 2])
      // ⌊2 × 0.9⌋ = 1: at least one less, but never under min
      const floored = Controller.make(AdaptiveLimit.aimd({ initial: 2 }), noRandom)
      assert.deepStrictEqual(run(floored, times(2, sample(1, 2, true))), [1, 1])
      const capped = Controller.make(AdaptiveLimit.aimd({ initial: 3, max: 4 }), noRandom)
      assert.deepStrictEqual(run(capped, times(3, sample(10, 4))), [4, 4, 4])
    })
  })

  describe("Gradient2", () => {
    const limit = AdaptiveLimit.gradient2({ initial: 20, min: 1, max: 200 })

    it("grows by smoothing × queueSize per call while latency holds", () => {
      const controller = Controller.make(limit, noRandom)
      // 20 × 0.8 + (20 + 4) × 0.2 = 20.8, then 21.6, 22.4, 23.2: the limit is the floor
      assert.deepStrictEqual(run(controller, times(4, sample(10, 20))), [20, 21, 22, 23])
      assert.deepStrictEqual(controller.figures(), { minRttMillis: 10, gradient: 1 })
    })

    it("does not grow while the caller uses less than half of the limit", () => {
      const controller = Controller.make(limit, noRandom)
      assert.deepStrictEqual(run(controller, times(200, sample(10, 9))).filter((l) => l !== 20), [])
      // it measured the latency all the same, and never computed a gradient
      assert.deepStrictEqual(controller.figures(), { minRttMillis: 10, gradient: undefined })
      // at half, it grows
      assert.strictEqual(controller.update(sample(10, 10)), 20) // 20.8
      assert.strictEqual(controller.update(sample(10, 10)), 20) // 10 < 20.8 / 2
      assert.strictEqual(controller.update(sample(10, 11)), 21)
    })

    it("shrinks as latency rises over the long-term average (gradient at least 0.5), by the full step on a drop", () => {
      const controller = Controller.make(limit, noRandom)
      run(controller, times(10, sample(10, 40))) // long-term latency 10 ms; the limit grows to 28
      assert.strictEqual(controller.update(sample(10, 40)), 28)
      // 1.5 × 10 / 20 = 0.75: 28.8 × 0.8 + 28.8 × 0.75 × 0.2 = 27.36 (no growth while the gradient is under 1)
      assert.strictEqual(controller.update(sample(20, 40)), 27)
      const { gradient, minRttMillis } = controller.figures()
      assert.strictEqual(gradient?.toFixed(3), (1.5 * minRttMillis! / 20).toFixed(3))
      // a drop takes the largest step (gradient 0.5: × 0.9), whatever its latency
      const before = controller.update(sample(10, 40))
      const dropped = controller.update(sample(10, 40, true))
      assert.strictEqual(controller.figures().gradient, 0.5)
      assert.isTrue(dropped < before && dropped >= Math.floor(before * 0.9) - 1)
      // a drop counts even when little of the limit is in flight
      assert.isTrue(controller.update(sample(10, 1, true)) < dropped)
    })

    it("absorbs a latency step within its tolerance, and settles on the new latency after a larger one", () => {
      // saturated: every place of the limit is in flight; 50 calls at 10 ms grow the limit by 0.8 each
      const saturated = (controller: Controller.Controller, rtt: number, calls: number, trace: Array<number> = []) => {
        let current = trace[trace.length - 1] ?? 20
        for (let call = 0; call < calls; call++) trace.push(current = controller.update(sample(rtt, current)))
        return trace
      }
      const absorbing = Controller.make(limit, noRandom)
      const absorbed = saturated(absorbing, 14, 100, saturated(absorbing, 10, 50))
      // 1.4 × the long-term latency is within the tolerance of 1.5: the limit keeps growing
      assert.strictEqual(absorbed[49], 60)
      assert.isTrue(absorbed.every((l, i) => i === 0 || l >= absorbed[i - 1]!))

      const controller = Controller.make(limit, noRandom)
      const trace = saturated(controller, 20, 400, saturated(controller, 10, 50))
      // twice the latency: the limit shrinks while the long-term latency learns the new one...
      const lowest = Math.min(...trace)
      const turn = trace.lastIndexOf(lowest)
      assert.isTrue(lowest < 30 && lowest >= 1, `lowest ${lowest}`)
      assert.isTrue(trace.slice(50, turn).every((l, i, a) => i === 0 || l <= a[i - 1]!))
      // ...which takes it until 1.5 × long ≥ 20 ms, about 120 calls at a long window of 600
      assert.isTrue(turn >= 50 + 100 && turn <= 50 + 140, `turn ${turn}`)
      // then latency holds again: the gradient is back to 1 and the limit grows from there
      assert.strictEqual(controller.figures().gradient, 1)
      assert.isTrue(controller.figures().minRttMillis! > 15 && controller.figures().minRttMillis! < 20)
      assert.isTrue(trace[trace.length - 1]! > lowest)
    })

    it("comes back down after a timeout storm instead of holding the maximum", () => {
      // every call times out at 100 ms: Netflix's rule (drops ignored) would climb to max and stay there
      const controller = Controller.make(AdaptiveLimit.gradient2({ initial: 100, min: 1, max: 200 }), noRandom)
      const trace = run(controller, times(100, sample(100, 100, true)))
      assert.strictEqual(trace[trace.length - 1], 1)
    })

    it("decays the long-term latency when latency falls far below it", () => {
      const controller = Controller.make(limit, noRandom)
      run(controller, times(10, sample(100, 40)))
      assert.strictEqual(controller.figures().minRttMillis, 100)
      controller.update(sample(10, 40))
      // (100 × 599 + 10 × 2) / 601, then × 0.95: the average alone would take hundreds of calls
      const decayed = ((100 * 599 + 10 * 2) / 601) * 0.95
      assert.strictEqual(controller.figures().minRttMillis?.toFixed(3), decayed.toFixed(3))
    })
  })

  describe("Vegas", () => {
    const limit = AdaptiveLimit.vegas({ initial: 20 })

    it("takes the first latency as the no-load latency, then follows the estimated queue", () => {
      const controller = Controller.make(limit, noRandom)
      assert.deepStrictEqual(controller.figures(), {})
      assert.deepStrictEqual(
        run(controller, [
          sample(10, 20), // the no-load latency: 10 ms
          sample(10, 20), // no queue (⌈20 × 0⌉ = 0 ≤ log10 20 = 1): + beta × 1
          sample(10, 26),
          sample(20, 32), // queue ⌈32 × 0.5⌉ = 16 > beta: − 1
          sample(12, 31), // queue ⌈31 × (1 − 10/12)⌉ = 6: between alpha and beta, it holds
          sample(10.5, 31), // queue ⌈31 × (1 − 10/10.5)⌉ = 2 < alpha: + 1
          sample(10, 32, true), // a drop: − log10 32 = 1
          sample(10, 15), // 15 × 2 < 31 in flight: no evidence the limit could be higher
          sample(5, 31) // a lower latency: the new no-load one, nothing else
        ]),
        [20, 26, 32, 31, 31, 32, 31, 31, 31]
      )
      assert.deepStrictEqual(controller.figures(), { minRttMillis: 5 })
    })

    it("steps by log10 of the limit", () => {
      const controller = Controller.make(AdaptiveLimit.vegas({ initial: 150 }), noRandom)
      controller.update(sample(10, 150))
      // log10 150 = 2: no queue grows it by beta × 2 = 12, a drop shrinks it by 2
      assert.deepStrictEqual(run(controller, [sample(10, 150), sample(10, 162, true)]), [162, 160])
    })

    it("smooths each step", () => {
      const controller = Controller.make(AdaptiveLimit.vegas({ initial: 20, smoothing: 0.5 }), noRandom)
      controller.update(sample(10, 20))
      // 20 × 0.5 + 26 × 0.5 = 23, then 23 × 0.5 + 29 × 0.5 = 26
      assert.deepStrictEqual(run(controller, times(2, sample(10, 20))), [23, 26])
    })

    it("measures the no-load latency afresh every jitter × probeMultiplier × limit calls", () => {
      const probeAt = (random: () => number) => {
        // a fixed limit of 10: the probe comes at jitter × 30 × 10 calls
        const controller = Controller.make(AdaptiveLimit.vegas({ initial: 10, min: 10, max: 10 }), random)
        controller.update(sample(10, 10))
        for (let call = 2; call <= 400; call++) {
          controller.update(sample(20, 10))
          if (controller.figures().minRttMillis === 20) return call
        }
        return -1
      }
      assert.strictEqual(probeAt(() => 0), 150) // jitter 0.5
      assert.strictEqual(probeAt(() => 0.5), 225) // jitter 0.75
      // the next probe draws its jitter afresh
      const draws: Array<number> = []
      const controller = Controller.make(AdaptiveLimit.vegas({ initial: 10, min: 10, max: 10 }), () => {
        draws.push(draws.length)
        return 0
      })
      run(controller, times(301, sample(20, 10)))
      assert.strictEqual(draws.length, 3)
    })
  })

  it("every limit is an integer in [min, max], whatever the samples", () => {
    const random = prng(16)
    const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1))
    for (let round = 0; round < 300; round++) {
      const min = int(1, 30)
      const max = int(min, 300)
      const initial = int(min, max)
      const pick = round % 3
      const limit = pick === 0
        ? AdaptiveLimit.aimd({ initial, min, max, backoffRatio: 0.5 + random() * 0.49, timeout: int(1, 200) })
        : pick === 1
        ? AdaptiveLimit.gradient2({
          initial,
          min,
          max,
          smoothing: 0.01 + random() * 0.99,
          queueSize: int(1, 10),
          longWindow: int(1, 1000),
          rttTolerance: 1 + random() * 2
        })
        : AdaptiveLimit.vegas({
          initial,
          min,
          max,
          smoothing: 0.01 + random() * 0.99,
          alpha: int(1, 4),
          beta: int(4, 8),
          probeMultiplier: int(1, 40)
        })
      assert.deepStrictEqual(issues(limit), [])
      const controller = Controller.make(limit, random)
      for (let call = 0; call < 400; call++) {
        const roll = random()
        // latencies of every kind, those that carry no latency among them (0, under the clock's resolution)
        const rtt = roll < 0.05 ? 0 : roll < 0.1 ? Number.NaN : roll < 0.15 ? 1e9 : random() * 300
        const next = controller.update(sample(rtt, int(0, max * 2), random() < 0.1))
        if (!(Number.isInteger(next) && next >= min && next <= max)) {
          assert.fail(`${limit._tag} ${JSON.stringify({ initial, min, max })}: limit ${next} after call ${call}`)
        }
      }
      const figures = controller.figures()
      for (const figure of [figures.minRttMillis, figures.gradient]) {
        assert.isTrue(figure === undefined || Number.isFinite(figure))
      }
    }
  })
})
