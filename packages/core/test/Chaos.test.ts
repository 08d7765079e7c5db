// Chaos: faults injected into protected calls. Seeded decisions give the same injections on every run, everyNth is
// exact, injected latency runs on the TestClock, the faults meet the real rules (policies, breakers), rules change
// while the service runs, bad options are refused whole, and every injection is counted, exported and logged.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Metric, Random, Schedule, Schema } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  Chaos,
  CommonErrors,
  ConfigError,
  ErrorLayer,
  Policy,
  protect,
  ResilienceMetrics,
  TripRule
} from "../src/index.js"
import { captureLogs, type Line } from "./utils.js"

const { StorageError, NetworkError } = CommonErrors

const Base = ErrorLayer.layer({
  logFormat: false,
  policies: [
    Policy.forFamily(StorageError, Policy.noRetry()),
    Policy.forFamily(NetworkError, { maxAttempts: 3, baseDelay: "10 millis", factor: 1 })
  ],
  breakers: { breakers: { db: { trip: TripRule.consecutive(3), openDuration: "1 minute" } } }
})

const withChaos = (options: Chaos.Options) => Layer.merge(Base, Chaos.layer(options))

const storageDown = Chaos.fail((operation: string) => new StorageError({ operation, detail: "chaos" }))

// which of `n` calls of `operation` failed (by index), the calls otherwise succeeding
const failures = (operation: string, n: number) =>
  Effect.gen(function*() {
    const failed: Array<number> = []
    for (let i = 0; i < n; i++) {
      const exit = yield* Effect.exit(Effect.succeed(i).pipe(protect({ operation })))
      if (Exit.isFailure(exit)) failed.push(i)
    }
    return failed
  })

describe("Chaos", () => {
  it.effect("a seed gives the same injections on every run, another seed others", () =>
    Effect.gen(function*() {
      const rules = { rules: [{ operations: ["save"], fault: storageDown, rate: 0.3 }] }
      const runOf = (seed: string) => failures("save", 200).pipe(Random.withSeed(seed), Effect.provide(withChaos(rules)))
      const first = yield* runOf("rehearsal-1")
      const again = yield* runOf("rehearsal-1")
      const other = yield* runOf("rehearsal-2")
      assert.deepStrictEqual(again, first)
      assert.notDeepEqual(other, first)
      // about the rate asked for
      assert.isAbove(first.length, 40)
      assert.isBelow(first.length, 80)
    }))

  it.effect("everyNth injects into exactly every Nth attempt, counted per rule", () =>
    Effect.gen(function*() {
      const failed = yield* failures("save", 10)
      assert.deepStrictEqual(failed, [2, 5, 8])
      const chaos = yield* Chaos.Chaos
      assert.deepStrictEqual(yield* chaos.stats, [{ operation: "save", kind: "fail", count: 3 }])
    }).pipe(Effect.provide(withChaos({ rules: [{ operations: ["save"], fault: storageDown, everyNth: 3 }] }))))

  it.effect("an injected 30 s delay is instantaneous under the TestClock, and runs the call after it", () =>
    Effect.gen(function*() {
      let ran = 0
      const fiber = yield* Effect.sync(() => ++ran).pipe(protect({ operation: "read" }), Effect.forkChild)
      yield* TestClock.adjust("29999 millis")
      assert.strictEqual(ran, 0)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(fiber), 1)
    }).pipe(Effect.provide(withChaos({ rules: [{ fault: Chaos.latency("30 seconds") }] }))))

  it.effect("a latency schedule gives its delays one per injection, then keeps its last", () =>
    Effect.gen(function*() {
      const took: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const fiber = yield* Effect.void.pipe(protect({ operation: "read" }), Effect.timed, Effect.forkChild)
        yield* TestClock.adjust("10 seconds")
        const [duration] = yield* Fiber.join(fiber)
        took.push(Duration.toMillis(duration))
      }
      // 100, 200, 400, then the schedule is done: its last delay stays
      assert.deepStrictEqual(took, [100, 200, 400, 400, 400])
    }).pipe(
      Effect.provide(withChaos({
        rules: [{ fault: Chaos.latency(Schedule.max([Schedule.exponential("100 millis"), Schedule.recurs(3)])) }]
      }))
    ))

  it.effect("an injected failure meets the real rules: retried by its policy, counted by the breaker", () =>
    Effect.gen(function*() {
      let calls = 0
      // every attempt fails: 3 attempts (the NetworkError policy), each one a breaker failure
      const fiber = yield* Effect.sync(() => ++calls).pipe(protect({ operation: "fetch", breaker: "db" }), Effect.exit, Effect.forkChild)
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isFailure(yield* Fiber.join(fiber)))
      assert.strictEqual(calls, 0)
      const breaker = yield* BreakerRegistry.breaker("db")
      const state = yield* breaker.state
      assert.strictEqual(state.status, "open")
      const chaos = yield* Chaos.Chaos
      assert.deepStrictEqual(yield* chaos.stats, [{ operation: "fetch", kind: "fail", count: 3 }])
    }).pipe(Effect.provide(withChaos({
      rules: [{ operations: ["fetch"], fault: Chaos.fail(new NetworkError({ target: "db" })) }]
    }))))

  it.effect("a defect and an interruption end the call as such, never retried", () =>
    Effect.gen(function*() {
      const died = yield* Effect.exit(Effect.void.pipe(protect({ operation: "crash" })))
      assert.isTrue(Exit.isFailure(died) && died.cause.reasons.some((r) => r._tag === "Die"))
      const cut = yield* Effect.exit(Effect.void.pipe(protect({ operation: "cut" })))
      assert.isTrue(Exit.isFailure(cut) && cut.cause.reasons.every((r) => r._tag === "Interrupt"))
      const chaos = yield* Chaos.Chaos
      assert.deepStrictEqual(
        (yield* chaos.stats).map((s) => [s.operation, s.kind, s.count]),
        [["crash", "die", 1], ["cut", "interrupt", 1]]
      )
    }).pipe(Effect.provide(withChaos({
      rules: [
        { operations: ["crash"], fault: Chaos.die() },
        { operations: ["cut"], fault: Chaos.interrupt }
      ]
    }))))

  it.effect("operations no rule names, disabled rules and a disabled layer are untouched", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* failures("read", 5), [])
      assert.deepStrictEqual(yield* failures("save", 5), [])
      const chaos = yield* Chaos.Chaos
      assert.deepStrictEqual(yield* chaos.stats, [])
      assert.deepStrictEqual((yield* ResilienceMetrics.snapshot).chaos, [])
    }).pipe(Effect.provide(withChaos({
      rules: [
        { operations: ["other"], fault: storageDown },
        { operations: ["save"], fault: storageDown, enabled: false }
      ]
    }))))

  it.effect("rules switched while the service runs: disable, enable, set; an invalid set changes nothing", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.Chaos
      assert.deepStrictEqual(yield* failures("save", 2), [0, 1])
      yield* chaos.disable
      assert.deepStrictEqual(yield* failures("save", 2), [])
      yield* chaos.enable
      assert.deepStrictEqual(yield* failures("save", 2), [0, 1])
      const refused = yield* Effect.flip(chaos.set({ rules: [{ fault: storageDown, rate: 5 }] }))
      assert.instanceOf(refused, ConfigError.ConfigError)
      assert.deepStrictEqual(yield* failures("save", 2), [0, 1])
      yield* chaos.set({ rules: [{ operations: ["save"], fault: storageDown, everyNth: 2 }] })
      assert.deepStrictEqual(yield* failures("save", 4), [1, 3])
    }).pipe(Effect.provide(withChaos({ rules: [{ operations: ["save"], fault: storageDown }] }))))

  it.effect("bad options: every problem at once, each with its path, unknown keys named", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Chaos.validate({
        enabled: "yes",
        rules: [
          { fault: storageDown, rate: 2 },
          { fault: storageDown, rate: 0.5, everyNth: 2 },
          { fault: { _tag: "Explode" } },
          { fault: storageDown, operations: "save", rat: 1 }
        ],
        rulez: []
      } as unknown as Chaos.Options))
      assert.deepStrictEqual(error.issues.map((i) => [i.path.join("."), i.message]), [
        ["rulez", `Unknown key "rulez", did you mean "rules"?`],
        ["enabled", `Expected true or false, got "yes"`],
        ["rules.0.rate", "Expected a number from 0 to 1, got 2"],
        ["rules.1.everyNth", "Expected either rate or everyNth, not both"],
        [
          "rules.2.fault",
          `Expected a fault made with Chaos.fail, Chaos.die, Chaos.latency or Chaos.interrupt, got {"_tag":"Explode"}`
        ],
        ["rules.3.rat", `Unknown key "rat", did you mean "rate"?`],
        ["rules.3.operations", `Expected a non-empty list of operation names (leave it out for every operation), got "save"`]
      ])
      assert.strictEqual(error.issues[2]!.path[1], 0)
      // the layer is not built
      const exit = yield* Effect.exit(Layer.build(Chaos.layer({ rules: [{ fault: storageDown, everyNth: 0 }] })).pipe(Effect.scoped))
      assert.isTrue(Exit.isFailure(exit))
    }))

  it.effect("a call already running injects nothing once the rules change (its later retries run for real)", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.Chaos
      let ran = 0
      // NetworkError: 3 attempts, 10 ms apart; the first is injected, then chaos is disabled
      const fiber = yield* Effect.sync(() => ++ran).pipe(protect({ operation: "fetch" }), Effect.forkChild)
      yield* Effect.yieldNow
      yield* chaos.disable
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), 1)
      assert.deepStrictEqual(yield* chaos.stats, [{ operation: "fetch", kind: "fail", count: 1 }])
    }).pipe(Effect.provide(withChaos({
      rules: [{ operations: ["fetch"], fault: Chaos.fail(new NetworkError({ target: "db" })) }]
    }))))

  it.effect("an everyNth rule counts every attempt, also those an earlier rule hit", () =>
    Effect.gen(function*() {
      // rule 1 fails every 2nd attempt, rule 2 (a zero delay) fires on every 3rd: attempt 6 is rule 1's, yet rule
      // 2 counts it, so it fires on attempts 3 and 9 (not on 3 and 12)
      const failed = yield* failures("save", 9)
      const chaos = yield* Chaos.Chaos
      const stats = yield* chaos.stats
      assert.deepStrictEqual(failed, [1, 3, 5, 7])
      assert.deepStrictEqual(stats.find((s) => s.kind === "latency")?.count, 2)
    }).pipe(Effect.provide(withChaos({
      rules: [
        { operations: ["save"], fault: storageDown, everyNth: 2 },
        { operations: ["save"], fault: Chaos.latency(0), everyNth: 3 }
      ]
    }))))

  it.effect("a Chaos service not made by Chaos.make injects nothing and breaks nothing", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* failures("save", 3), [])
    }).pipe(Effect.provide(Layer.merge(
      Base,
      Layer.succeed(Chaos.Chaos, { set: () => Effect.void, enable: Effect.void, disable: Effect.void, stats: Effect.succeed([]) })
    ))))

  it.effect("an empty operations list, a negative or nonsensical delay are refused, each named", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Chaos.validate({
        rules: [
          { operations: [], fault: storageDown },
          { fault: Chaos.latency(-5) },
          { fault: Chaos.latency("soon" as Duration.Input) }
        ]
      }))
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), ["rules.0.operations", "rules.1.fault", "rules.2.fault"])
      assert.match(error.issues[1]!.message, /Expected a finite delay of at least 0, or a Schedule, got/)
    }))

  it.effect("the Redis faults are checked too, each named", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Chaos.validate({
        rules: [],
        redis: { cut: 1.5, delay: "soon", drop: -1, lag: 1 }
      } as unknown as Chaos.Options))
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), ["redis.lag", "redis.cut", "redis.drop", "redis.delay"])
      yield* Chaos.validate({ rules: [], redis: { cut: 0.5, delay: "200 millis", drop: 1, messageDelay: 50 } })
    }))

  it.effect("each injection is exported as resilience_chaos_injected_total{kind,operation} and logged as chaos", () =>
    Effect.gen(function*() {
      const lines: Array<Line> = []
      yield* Effect.gen(function*() {
        yield* failures("save", 4)
        const text = yield* PrometheusMetrics.format()
        const line = text.split("\n").find((l) =>
          l.startsWith("resilience_chaos_injected_total{") && l.includes(`operation="save"`) && l.includes(`kind="fail"`)
        )
        assert.strictEqual(line?.split(" ").at(-1), "2")
      }).pipe(
        Effect.provide(Layer.mergeAll(
          ErrorLayer.layer({ logFormat: false, policies: [Policy.forFamily(StorageError, Policy.noRetry())] }),
          Chaos.layer({ rules: [{ operations: ["save"], fault: storageDown, everyNth: 2 }] }),
          captureLogs(lines)
        )),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
      // each injection's own line, and the give-up line of the failure it injected (Chaos.marks.test.ts)
      const marked = lines.filter((l) => l.annotations.chaos !== undefined)
      const injection = ["WARN", "fail", "save", "chaos: a failure injected into save"]
      const giveUp = ["WARN", "fail", "save", "save failed on attempt 1, giving up"]
      assert.deepStrictEqual(
        marked.map((l) => [l.level, l.annotations.chaos, l.annotations.operation, String(l.message)]),
        [injection, giveUp, injection, giveUp]
      )
    }))

  it.effect("the injections are in the ResilienceMetrics snapshot, per operation and kind, exactly as stats counts them", () =>
    Effect.gen(function*() {
      // a seeded rate rule, and everyNth rules of the other kinds
      const failed = yield* failures("save", 200).pipe(Random.withSeed("rehearsal-1"))
      yield* failures("crash", 6)
      yield* failures("cut", 6)
      yield* failures("read", 8)
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.isAbove(failed.length, 40)
      assert.deepStrictEqual(snapshot.chaos, [
        { operation: "crash", fail: 0, die: 3, latency: 0, interrupt: 0 },
        { operation: "cut", fail: 0, die: 0, latency: 0, interrupt: 2 },
        { operation: "read", fail: 0, die: 0, latency: 2, interrupt: 0 },
        { operation: "save", fail: failed.length, die: 0, latency: 0, interrupt: 0 }
      ])
      // the same figures as the service's own
      const stats = yield* (yield* Chaos.Chaos).stats
      assert.deepStrictEqual(
        stats.map((s) => [s.operation, s.kind, s.count]).sort(),
        snapshot.chaos.flatMap((c) =>
          (["fail", "die", "latency", "interrupt"] as const).filter((k) => c[k] > 0).map((k) => [c.operation, k, c[k]])
        ).sort()
      )
      // and each injection is in the call's own figures too: the failures as failed calls
      assert.strictEqual(snapshot.calls.find((c) => c.operation === "save")?.failed, failed.length)
      // JSON and back
      const json = yield* Schema.encodeEffect(ResilienceMetrics.SnapshotJson)(snapshot)
      assert.deepStrictEqual((yield* Schema.decodeEffect(ResilienceMetrics.SnapshotJson)(json)).chaos, snapshot.chaos)
    }).pipe(Effect.provide(withChaos({
      rules: [
        { operations: ["save"], fault: storageDown, rate: 0.3 },
        { operations: ["crash"], fault: Chaos.die(), everyNth: 2 },
        { operations: ["cut"], fault: Chaos.interrupt, everyNth: 3 },
        { operations: ["read"], fault: Chaos.latency(0), everyNth: 4 }
      ]
    }))))

  it.effect("resilience_chaos_injected_total is one series per kind and operation, counted once, however many metrics services observe", () =>
    Effect.gen(function*() {
      yield* failures("save", 6)
      yield* failures("crash", 4)
      // both metrics services saw the injections
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.chaos.map((c) => [c.operation, c.fail, c.die]), [["crash", 0, 2], ["save", 3, 0]])
      const lines = (yield* PrometheusMetrics.format()).split("\n")
      const series = lines.filter((l) => l.startsWith("resilience_chaos_injected_total{"))
      assert.deepStrictEqual(series.map((l) => l.replace(/\{(.*)\}/, (_, labels: string) => `{${labels.split(",").sort().join(",")}}`)).sort(), [
        `resilience_chaos_injected_total{kind="die",operation="crash"} 2`,
        `resilience_chaos_injected_total{kind="fail",operation="save"} 3`
      ])
      assert.strictEqual(lines.filter((l) => l.startsWith("# TYPE resilience_chaos_injected_total ")).length, 1)
      // while a series both metrics services export adds up (the documented sharing of a registry): two observers
      const failedCalls = lines.find((l) =>
        l.startsWith("resilience_calls_total{") && l.includes(`operation="save"`) && l.includes(`outcome="failed"`)
      )
      assert.strictEqual(failedCalls?.split(" ").at(-1), "6")
    }).pipe(
      Effect.provide(
        // a second metrics service over the first one's tracker, observing the same calls
        Layer.fresh(ResilienceMetrics.layer).pipe(
          Layer.provideMerge(withChaos({
            rules: [
              { operations: ["save"], fault: storageDown, everyNth: 2 },
              { operations: ["crash"], fault: Chaos.die(), everyNth: 2 }
            ]
          }))
        )
      ),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})
