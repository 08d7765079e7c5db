import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { AdaptiveLimit, Bulkhead, CommonErrors } from "../src/index.js"
import { Pool } from "../src/internal/bulkhead/pool.js"
import { prng } from "./utils.js"

// Many fibers through one bulkhead, with random arrivals, call durations, queue timeouts and interruptions, all on
// a 10 ms grid so that arrivals, ends, timeouts and interruptions often fall in the same instant (the races a
// place handed over must survive). Every scenario is a seed: a failure names the seed that reproduces it.

const calls = 200
const grid = 10

interface Plan {
  readonly arrival: number
  readonly duration: number
  readonly interruptAt: number | undefined
  readonly drop: boolean
}

interface Scenario {
  readonly seed: number
  readonly order: "fifo" | "lifo"
  readonly options: Bulkhead.Options
  readonly fixedLimit: number | undefined
  readonly plans: ReadonlyArray<Plan>
}

const scenario = (seed: number, order: "fifo" | "lifo", adaptive: boolean): Scenario => {
  const random = prng(seed)
  const int = (n: number) => Math.floor(random() * n)
  const fixedLimit = 1 + int(6)
  const queue = int(9)
  const queueTimeout = random() < 0.5 ? undefined : grid * (2 + int(20))
  const limit = adaptive
    ? AdaptiveLimit.aimd({ initial: 1 + int(6), min: 1, max: 8, backoffRatio: 0.5 })
    : fixedLimit
  const plans = Array.from({ length: calls }, (): Plan => {
    // about as many calls at once, on average, as the limit: sometimes the queue is empty, sometimes it overflows
    const arrival = grid * int(300)
    const duration = grid * int(16)
    const interruptAt = random() < 0.3 ? arrival + grid * int(25) : undefined
    return { arrival, duration, interruptAt, drop: adaptive && random() < 0.3 }
  })
  return {
    seed,
    order,
    options: { limit, queue, order, ...(queueTimeout === undefined ? {} : { queueTimeout: `${queueTimeout} millis` }) },
    fixedLimit: adaptive ? undefined : fixedLimit,
    plans
  }
}

// The exact admission rule, seen at the pool: a place is taken (at once or handed to a waiter) only while fewer
// than `limit` are in flight. Recorded, not thrown, so that the run goes on and the test reports it.
const admissions: Array<string> = []
const watchPool = () => {
  const tryAcquire = Pool.prototype.tryAcquire
  const handOver = Pool.prototype.handOver
  Pool.prototype.tryAcquire = function(this: Pool) {
    const before = this.inFlight
    const taken = tryAcquire.call(this)
    if (taken && !(before < this.limit)) admissions.push(`took a place with ${before} in flight of ${this.limit}`)
    return taken
  }
  Pool.prototype.handOver = function(this: Pool) {
    const before = this.inFlight
    handOver.call(this)
    if (this.inFlight > before && this.inFlight > this.limit) {
      admissions.push(`handed places over up to ${this.inFlight} in flight of ${this.limit}`)
    }
  }
  return () => {
    Pool.prototype.tryAcquire = tryAcquire
    Pool.prototype.handOver = handOver
  }
}

const drain = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

const runScenario = (s: Scenario) =>
  Effect.gen(function*() {
    admissions.length = 0
    const restore = watchPool()
    yield* Effect.addFinalizer(() => Effect.sync(restore))
    const bulkhead = yield* Bulkhead.make(`property-${s.seed}`, s.options)
    const stateNow = () => Effect.runSync(bulkhead.state)
    const queueCapacity = s.options.queue ?? 0

    const violations: Array<string> = []
    let running = 0
    let started = 0
    const bodyStarted = new Array<boolean>(calls).fill(false)
    // arrival order of the calls that had to queue, and the order queued calls started in
    let arrivals = 0
    const queuedArrival = new Map<number, number>()
    const queuedStarts: Array<number> = []

    const body = (i: number, plan: Plan) =>
      Effect.gen(function*() {
        running++
        started++
        bodyStarted[i] = true
        const state = stateNow()
        if (running > state.inFlight) violations.push(`call ${i}: ${running} running, ${state.inFlight} in flight`)
        if (s.fixedLimit !== undefined && running > s.fixedLimit) {
          violations.push(`call ${i}: ${running} running over the limit ${s.fixedLimit}`)
        }
        if (queuedArrival.has(i)) queuedStarts.push(queuedArrival.get(i)!)
        yield* Effect.sleep(plan.duration)
        if (plan.drop) return yield* Effect.fail(new CommonErrors.TimeoutError({ operation: "dep", timeoutMillis: 1 }))
      }).pipe(Effect.ensuring(Effect.sync(() => running--)))

    // The adversary: as a call ends, its place just handed to the next waiter whose fiber has not run yet, it
    // sometimes interrupts a waiting call (the oldest, often the one just given the place, or any): the race of a
    // place handed to a waiter that gives up in the same instant.
    const adversary = prng(s.seed ^ 0x5bd1e995)
    const waiting = new Set<number>()
    const interruptAWaiter = Effect.sync(() => {
      if (waiting.size === 0 || adversary() >= 0.3) return
      const candidates = [...waiting]
      const victim = adversary() < 0.5 ? candidates[0]! : candidates[Math.floor(adversary() * candidates.length)]!
      fibers[victim]!.interruptUnsafe()
    })
    const fibers: ReadonlyArray<Fiber.Fiber<void, unknown>> = yield* Effect.forEach(s.plans, (plan, i) =>
      Effect.forkChild(Effect.gen(function*() {
        yield* Effect.sleep(plan.arrival)
        return yield* Effect.suspend(() => {
          // whether this call queues: tryAcquire fails when the places are taken or someone waits
          const state = stateNow()
          if (state.inFlight >= state.limit || state.queued > 0) {
            queuedArrival.set(i, arrivals)
            waiting.add(i)
          }
          arrivals++
          return bulkhead.execute(Effect.andThen(Effect.sync(() => waiting.delete(i)), body(i, plan))).pipe(
            Effect.onExit(() => Effect.andThen(Effect.sync(() => waiting.delete(i)), interruptAWaiter))
          )
        })
      })))
    const interrupters = yield* Effect.forEach(
      s.plans.flatMap((plan, i) => plan.interruptAt === undefined ? [] : [[plan.interruptAt, i] as const]),
      ([at, i]) => Effect.forkChild(Effect.andThen(Effect.sleep(at), Fiber.interrupt(fibers[i]!)))
    )

    // drive the clock on the grid; at every step, once the fibers have settled, check the figures
    const pending = () => [...fibers, ...interrupters].some((f) => f.pollUnsafe() === undefined)
    for (let step = 0; pending(); step++) {
      if (step > 1000) return yield* Effect.die(`seed ${s.seed}: calls still running after ${step} steps`)
      yield* TestClock.adjust(grid)
      yield* drain
      const state = stateNow()
      if (state.queued > queueCapacity) violations.push(`step ${step}: ${state.queued} queued of ${queueCapacity}`)
      if (s.fixedLimit !== undefined && state.inFlight > s.fixedLimit) {
        violations.push(`step ${step}: ${state.inFlight} in flight over ${s.fixedLimit}`)
      }
      // every place in flight belongs to a call that runs
      if (state.inFlight !== running) violations.push(`step ${step}: ${state.inFlight} in flight, ${running} running`)
      // no one waits while a place is free
      if (state.queued > 0 && state.inFlight < state.limit) {
        violations.push(`step ${step}: ${state.queued} waiting with ${state.inFlight} in flight of ${state.limit}`)
      }
    }

    // what each call came to
    const rejected = { full: 0, queue_timeout: 0, evicted: 0 }
    let interruptedBefore = 0
    let admitted = 0
    for (const [i, fiber] of fibers.entries()) {
      const exit = fiber.pollUnsafe()!
      if (bodyStarted[i]) {
        admitted++
        continue
      }
      if (Exit.isSuccess(exit)) {
        violations.push(`call ${i} succeeded without running`)
        continue
      }
      if (Cause.hasInterruptsOnly(exit.cause)) {
        interruptedBefore++
        continue
      }
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some" && error.value instanceof Bulkhead.BulkheadFullError) rejected[error.value.reason]++
      else violations.push(`call ${i} ended with ${Cause.pretty(exit.cause)}`)
    }

    assert.deepStrictEqual(violations, [], `seed ${s.seed}`)
    assert.deepStrictEqual(admissions, [], `seed ${s.seed}: admissions over the limit`)
    // no leak: nothing in flight, nothing queued, no call body left running
    const state = stateNow()
    assert.deepStrictEqual([state.inFlight, state.queued, running], [0, 0, 0], `seed ${s.seed}`)
    // every call was admitted, refused or interrupted before it was admitted
    assert.strictEqual(admitted + rejected.full + rejected.queue_timeout + rejected.evicted + interruptedBefore, calls)
    assert.strictEqual(admitted, started)
    // the bulkhead's counts are the calls' (a call admitted and interrupted before its first step counts as
    // admitted by the bulkhead, so `admitted` may exceed the bodies that ran by those)
    assert.deepStrictEqual(state.rejected, rejected, `seed ${s.seed}: refusals by reason`)
    assert.isAtLeast(state.admitted, admitted)
    assert.isAtMost(state.admitted, admitted + interruptedBefore)
    if (s.order === "fifo") {
      // queued calls start in the order they arrived
      const sorted = [...queuedStarts].sort((a, b) => a - b)
      assert.deepStrictEqual(queuedStarts, sorted, `seed ${s.seed}: FIFO order`)
    }
    // the bulkhead still works: a call now runs at once
    assert.strictEqual(yield* bulkhead.execute(Effect.succeed("after")), "after")
  }).pipe(Effect.scoped)

const seeds = Array.from({ length: 30 }, (_, i) => 7_000 + i)

describe("Bulkhead under concurrency (property-style, seeded)", () => {
  for (const order of ["fifo", "lifo"] as const) {
    describe(`${order}, fixed limit`, () => {
      for (const seed of seeds) {
        const s = scenario(seed, order, false)
        it.effect(
          `seed ${seed} (limit ${s.options.limit}, queue ${s.options.queue}, timeout ${
            s.options.queueTimeout ?? "none"
          }): in flight within the limit, no leak, every call accounted for`,
          () => runScenario(s)
        )
      }
    })
  }

  describe("adaptive limit (AIMD, drops shrink it, successes grow it)", () => {
    for (const seed of seeds) {
      const order = seed % 2 === 0 ? "fifo" : "lifo"
      const s = scenario(seed + 500, order, true)
      it.effect(`seed ${seed + 500} (${order}): admissions only under the limit of the moment, no leak`, () =>
        Effect.gen(function*() {
          yield* runScenario(s)
        }))
    }

    it.effect("the adaptive scenarios do move the limit both ways", () =>
      Effect.gen(function*() {
        const s = scenario(seeds[0]! + 500, "fifo", true)
        const bulkhead = yield* Bulkhead.make("moves", s.options)
        const limits = new Set<number>()
        const fibers = yield* Effect.forEach(s.plans, (plan) =>
          Effect.forkChild(Effect.exit(Effect.andThen(
            Effect.sleep(plan.arrival),
            bulkhead.execute(Effect.andThen(
              Effect.sleep(plan.duration),
              plan.drop ? Effect.fail(new CommonErrors.TimeoutError({ operation: "dep", timeoutMillis: 1 })) : Effect.void
            ))
          ))))
        while (fibers.some((f) => f.pollUnsafe() === undefined)) {
          yield* TestClock.adjust(grid)
          limits.add(Effect.runSync(bulkhead.state).limit)
        }
        assert.isAtLeast(limits.size, 3)
        assert.include([...limits], 1)
      }))
  })
})
