/**
 * The benchmark scenarios: every contender and floor of every scenario, built once, each as a batch of calls
 * with the work it must have done, so the suite (and a unit test, on small batches) can check that a contender
 * really did what its figure claims before it is timed.
 *
 * All cases run the same trivial async operation, `() => Promise.resolve(1)`, which counts its calls. Effect
 * cases run it as `Effect.promise(op)` in a fiber; a batch runs its calls one after another in one fiber (or one
 * async function), so starting the fiber is not part of a call's cost. The admission scenarios (`admission.ts`:
 * `bulkhead.success`, `ratelimit.acquire`) run a synchronous counting effect instead, so that their figures are
 * the limiter's or bulkhead's own cost; so does `budget.check` (`budget.ts`), the retry budget's.
 */
import {
  BreakerRegistry,
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  PolicyService,
  protect,
  retry,
  TripRule
} from "@effect-resilience/core"
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ConstantBackoff,
  handleAll,
  retry as cockatielRetry,
  wrap
} from "cockatiel"
import { Effect, Exit, Fiber, Layer, Logger, ManagedRuntime, Schedule, Scope } from "effect"
import { CircuitBreaker as EffectBreaker } from "effect/persistence"
import OpossumBreaker from "opossum"
import * as Admission from "./admission.js"
import * as Budget from "./budget.js"
import * as ChaosBench from "./chaos.js"

/** Contender ids, as written to `bench/results.json`. */
export type Contender =
  | "floor-promise"
  | "floor-effect"
  | "effect-resilience"
  | "cockatiel"
  | "opossum"
  | "effect-circuit-breaker"
  | "effect-retry"
  | "effect-sync-step"
  | "effect-resilience-local"
  | "effect-circuit-breaker-redis"
  | "semaphore"
  | "effect-resilience-execute"
  | "effect-rate-limiter"
  | "effect-rate-limiter-redis"
  | "no-budget"
  | "no-hedge"
  | "effect-resilience-fixed"
  | "protect-baseline"

/** Which floor a contender is compared with: promise libraries with `await op()`, effect ones with the fiber. */
export const floorOf = (contender: Contender): "floor-promise" | "floor-effect" =>
  contender === "cockatiel" || contender === "opossum" || contender === "floor-promise"
    ? "floor-promise"
    : "floor-effect"

/** One contender in one scenario: a batch of `calls` calls, and what the batch must have done. */
export interface Case {
  readonly contender: Contender
  /** Runs one batch; resolves with the number of calls that ended as the scenario expects. */
  readonly run: () => Promise<number>
  /** How many times the batch must run the operation (a rejected call never runs it; a retried one, again). */
  readonly opCalls: number
  /** Work done before each batch, outside the timed part. */
  readonly prepare?: (() => void) | undefined
  /** A count the contender keeps itself, which one batch must move by exactly its calls. */
  readonly counted?: (() => Promise<number>) | undefined
  /** Starts a meter around one measured loop (outside the timed part); the function it gives stops it. */
  readonly meter?: (() => Promise<() => Promise<void>>) | undefined
  /** A check after each checked batch (that no place or permit is still held, say); throws when it fails. */
  readonly after?: (() => Promise<void>) | undefined
}

export interface Scenario {
  readonly id: string
  readonly description: string
  /** Calls per batch: a figure is a batch's median time divided by this. */
  readonly calls: number
  /** More names `BENCH_ONLY` selects the scenario by (besides its id). */
  readonly tags?: ReadonlyArray<string> | undefined
  readonly cases: ReadonlyArray<Case>
}

export interface Sizes {
  /** Calls per batch in the sequential scenarios. */
  readonly batch: number
  /** Fibers (or promise chains) in `breaker.concurrent`, and calls each. */
  readonly fibers: number
  readonly perFiber: number
}

export const defaultSizes: Sizes = { batch: 1000, fibers: 1000, perFiber: 100 }

export interface Scenarios {
  readonly scenarios: ReadonlyArray<Scenario>
  /** Runs one batch of a case and checks it did exactly what it must; throws otherwise. */
  readonly verify: (scenario: Scenario, kase: Case) => Promise<void>
  /** Fields of a case's row beyond the timings (a figure measured alongside, a note). */
  readonly fields?: ((scenario: string, contender: Contender) => { readonly [field: string]: unknown }) | undefined
  readonly dispose: () => Promise<void>
}

// the error every failing call fails with, built once (a fresh `Error` per call would time stack capture)
const failure = new CommonErrors.StorageError({ operation: "bench" })
const hour = 3_600_000

const silent = Logger.layer([Logger.make(() => {})])

/** Builds every contender of every scenario. */
export const make = async (sizes: Sizes = defaultSizes): Promise<Scenarios> => {
  const { batch, fibers, perFiber } = sizes
  let opCalls = 0
  const op = () => {
    opCalls++
    return Promise.resolve(1)
  }
  // fails twice, then succeeds; `flakyStep` is reset at the start of each batch so every call sees the pattern
  let flakyStep = 0
  const flaky = () => {
    opCalls++
    return ++flakyStep % 3 === 0 ? Promise.resolve(1) : Promise.reject(failure)
  }
  const down = () => {
    opCalls++
    return Promise.reject(failure)
  }
  const call = Effect.promise(op)
  const syncCall = Effect.sync(() => {
    opCalls++
    return 1
  })
  const flakyCall = Effect.tryPromise({ try: flaky, catch: () => failure })
  const downCall = Effect.tryPromise({ try: down, catch: () => failure })
  const failing: Effect.Effect<never, CommonErrors.StorageError> = Effect.suspend(() => Effect.fail(failure))

  // --- batch runners: each returns how many calls ended as expected (success, or failure where that is expected)
  const loop = <A, E, R>(effect: Effect.Effect<A, E, R>, n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* effect
      return n
    })
  const loopFailures = <A, E, R>(effect: Effect.Effect<A, E, R>, n: number) =>
    Effect.gen(function*() {
      let failed = 0
      for (let i = 0; i < n; i++) if (Exit.isFailure(yield* Effect.exit(effect))) failed++
      return failed
    })
  // `step()` made and run before each of `batch` failures, as a program writes `yield* ErrorTracker.record(error)`
  // next to one: no combinator between them
  const beforeEachFailure = (step: () => Effect.Effect<void>) =>
    Effect.gen(function*() {
      let failed = 0
      for (let i = 0; i < batch; i++) {
        yield* step()
        if (Exit.isFailure(yield* Effect.exit(failing))) failed++
      }
      return failed
    })
  const promiseLoop = async (f: () => Promise<unknown>, n: number) => {
    for (let i = 0; i < n; i++) await f()
    return n
  }
  const promiseLoopFailures = async (f: () => Promise<unknown>, n: number) => {
    let failed = 0
    for (let i = 0; i < n; i++) {
      try {
        await f()
      } catch {
        failed++
      }
    }
    return failed
  }
  const concurrent = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.map(
      Effect.forEach(Array.from({ length: fibers }), () => loop(effect, perFiber), { concurrency: "unbounded" }),
      (counts) => counts.reduce((a, b) => a + b, 0)
    )
  const concurrentPromises = async (f: () => Promise<unknown>) =>
    (await Promise.all(Array.from({ length: fibers }, () => promiseLoop(f, perFiber)))).reduce((a, b) => a + b, 0)

  // --- our runtimes, one per context a scenario needs; effect's breaker and the floors of other libraries run on
  // the default runtime
  const policies = { StorageError: { maxAttempts: 3, baseDelay: 0 } }
  const breakers: BreakerRegistry.Options = {
    default: { trip: TripRule.consecutive(5), openDuration: hour },
    breakers: {
      open: { trip: TripRule.consecutive(1), openDuration: hour },
      // never trips: layer.failure measures failures that exhaust their policy, not rejections
      failing: { trip: TripRule.consecutive(Number.MAX_SAFE_INTEGER), openDuration: hour }
    }
  }
  const policyRuntime = ManagedRuntime.make(Layer.merge(PolicyService.layer({ policies }), silent))
  const protectRuntime = ManagedRuntime.make(Layer.mergeAll(
    PolicyService.layer({ policies }),
    BreakerRegistry.layer(breakers).pipe(Layer.provideMerge(ErrorTracker.layer())),
    silent
  ))
  const layerRuntime = ManagedRuntime.make(Layer.merge(ErrorLayer.layer({ logFormat: false, policies, breakers }), silent))
  // a tracker whose fiber is stopped, so that tracker.record times the caller only: the suite drains it between
  // batches, and its queue holds many batches, so nothing is shed
  const trackerRuntime = ManagedRuntime.make(Layer.merge(ErrorTracker.layer({ queueCapacity: 1 << 20 }), silent))
  const registry = await protectRuntime.runPromise(BreakerRegistry.BreakerRegistry.use(Effect.succeed))
  const ours = registry.breaker("closed")
  const oursOpen = registry.breaker("open")
  const tracker = await trackerRuntime.runPromise(ErrorTracker.ErrorTracker.use(Effect.succeed))
  await Effect.runPromise(Fiber.interrupt(tracker.fiber))

  const scope = Effect.runSync(Scope.make())
  const effectBreaker = (failures: number) =>
    Effect.runPromise(
      EffectBreaker.make({ tripPolicy: EffectBreaker.consecutive(failures), openDuration: hour }).pipe(
        Scope.provide(scope),
        Effect.provide(EffectBreaker.layerStoreMemory())
      )
    )
  const effectClosed = await effectBreaker(5)
  const effectOpen = await effectBreaker(1)

  const cockatielBreaker = (failures: number) =>
    circuitBreaker(handleAll, { halfOpenAfter: hour, breaker: new ConsecutiveBreaker(failures) })
  const cockatielClosed = cockatielBreaker(5)
  const cockatielOpen = cockatielBreaker(1)
  // two retries (three attempts); cockatiel waits on a timer before every retry, even a zero-delay one
  const cockatielRetries = cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) })
  const cockatielBoth = wrap(cockatielRetries, cockatielBreaker(5))

  // opossum's per-call timeout is off: it would start a timer per call, and none of the others times out here
  const opossum = <T>(f: () => Promise<T>, options: OpossumBreaker.Options = {}) =>
    new OpossumBreaker(f, { timeout: false, resetTimeout: hour, volumeThreshold: 5, ...options })
  const opossumClosed = opossum(op)
  const opossumOpen = opossum(op)
  opossumOpen.open()

  // open the breakers of the rejection scenario
  await protectRuntime.runPromise(Effect.exit(oursOpen.execute(failing)))
  await Effect.runPromise(Effect.exit(failing.pipe(effectOpen.execute({ key: "open" }))))
  await cockatielOpen.execute(down).catch(() => {})

  const oursCall = ours.execute(call)
  const oursOpenCall = oursOpen.execute(call)
  const effectCall = call.pipe(effectClosed.execute({ key: "closed" }))
  const effectOpenCall = call.pipe(effectOpen.execute({ key: "open" }))
  const rejected = Promise.reject(failure)
  rejected.catch(() => {})

  const inPolicy = <A, E>(effect: Effect.Effect<A, E, PolicyService.PolicyService>) => () =>
    policyRuntime.runPromise(effect)
  const inProtect = <A, E>(effect: Effect.Effect<A, E, ManagedRuntime.ManagedRuntime.Services<typeof protectRuntime>>) => () =>
    protectRuntime.runPromise(effect)
  const inLayer = <A, E>(effect: Effect.Effect<A, E, ErrorLayer.Services>) => () => layerRuntime.runPromise(effect)
  const flakyBatch = <A>(run: () => Promise<A>) => () => {
    flakyStep = 0
    return run()
  }
  // three attempts by hand, the second and third after a failure
  const byHand = <A, E>(attempt: Effect.Effect<A, E>) =>
    Effect.catch(attempt, () => Effect.catch(attempt, () => attempt))
  const promiseByHand = async <A>(attempt: () => Promise<A>) => {
    for (let tries = 1;; tries++) {
      try {
        return await attempt()
      } catch (error) {
        if (tries === 3) throw error
      }
    }
  }
  // processes what the last batches queued, between batches
  const drain = () => void Effect.runSync(tracker.summary)
  const recorded = async () => (await Effect.runPromise(tracker.summary)).total

  const admission = await Admission.make({ batch, op, syncCall })
  const budget = await Budget.make({ batch, syncCall })
  const chaos = await ChaosBench.make({ batch, syncCall })

  const scenarios: Array<Scenario> = [
    {
      id: "retry.success",
      description: "retry policy, success path",
      calls: batch,
      cases: [
        { contender: "floor-promise", opCalls: batch, run: () => promiseLoop(op, batch) },
        { contender: "floor-effect", opCalls: batch, run: inPolicy(loop(call, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: inPolicy(loop(call.pipe(retry(PolicyService.retry)), batch))
        },
        {
          contender: "effect-retry",
          opCalls: batch,
          run: inPolicy(loop(call.pipe(Effect.retry(PolicyService.retry)), batch))
        },
        { contender: "cockatiel", opCalls: batch, run: () => promiseLoop(() => cockatielRetries.execute(op), batch) }
      ]
    },
    {
      id: "breaker.success",
      description: "circuit breaker, success path",
      calls: batch,
      cases: [
        { contender: "floor-promise", opCalls: batch, run: () => promiseLoop(op, batch) },
        { contender: "floor-effect", opCalls: batch, run: inProtect(loop(call, batch)) },
        { contender: "effect-resilience", opCalls: batch, run: inProtect(loop(oursCall, batch)) },
        { contender: "cockatiel", opCalls: batch, run: () => promiseLoop(() => cockatielClosed.execute(op), batch) },
        { contender: "opossum", opCalls: batch, run: () => promiseLoop(() => opossumClosed.fire(), batch) },
        { contender: "effect-circuit-breaker", opCalls: batch, run: () => Effect.runPromise(loop(effectCall, batch)) }
      ]
    },
    {
      id: "protect.success",
      description: "retry + breaker + tracking through protect (cockatiel: retry wrapping breaker; effect: "
        + "Effect.retry around its breaker), success path",
      calls: batch,
      cases: [
        { contender: "floor-promise", opCalls: batch, run: () => promiseLoop(op, batch) },
        { contender: "floor-effect", opCalls: batch, run: inProtect(loop(call, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: inProtect(loop(call.pipe(protect({ operation: "bench", breaker: "closed" })), batch))
        },
        { contender: "cockatiel", opCalls: batch, run: () => promiseLoop(() => cockatielBoth.execute(op), batch) },
        {
          contender: "effect-circuit-breaker",
          opCalls: batch,
          run: () => Effect.runPromise(loop(effectCall.pipe(Effect.retry(Schedule.recurs(2))), batch))
        }
      ]
    },
    {
      id: "breaker.rejection",
      description: "a call rejected by an open breaker (floors: a failed call)",
      calls: batch,
      cases: [
        { contender: "floor-promise", opCalls: 0, run: () => promiseLoopFailures(() => rejected, batch) },
        { contender: "floor-effect", opCalls: 0, run: inProtect(loopFailures(failing, batch)) },
        { contender: "effect-resilience", opCalls: 0, run: inProtect(loopFailures(oursOpenCall, batch)) },
        {
          contender: "cockatiel",
          opCalls: 0,
          run: () => promiseLoopFailures(() => cockatielOpen.execute(op), batch)
        },
        { contender: "opossum", opCalls: 0, run: () => promiseLoopFailures(() => opossumOpen.fire(), batch) },
        {
          contender: "effect-circuit-breaker",
          opCalls: 0,
          run: () => Effect.runPromise(loopFailures(effectOpenCall, batch))
        }
      ]
    },
    {
      id: "breaker.concurrent",
      description: `${fibers} concurrent fibers × ${perFiber} calls through one breaker`,
      calls: fibers * perFiber,
      cases: [
        { contender: "floor-promise", opCalls: fibers * perFiber, run: () => concurrentPromises(op) },
        { contender: "floor-effect", opCalls: fibers * perFiber, run: inProtect(concurrent(call)) },
        {
          contender: "effect-resilience",
          opCalls: fibers * perFiber,
          run: inProtect(concurrent(oursCall)),
          counted: async () => (await protectRuntime.runPromise(ours.state)).calls.success
        },
        {
          contender: "cockatiel",
          opCalls: fibers * perFiber,
          run: () => concurrentPromises(() => cockatielClosed.execute(op))
        },
        { contender: "opossum", opCalls: fibers * perFiber, run: () => concurrentPromises(() => opossumClosed.fire()) },
        {
          contender: "effect-circuit-breaker",
          opCalls: fibers * perFiber,
          run: () => Effect.runPromise(concurrent(effectCall))
        }
      ]
    },
    {
      id: "retry.recover",
      description: "a call failing twice then succeeding, zero-delay retries (floors: three attempts by hand)",
      calls: batch,
      cases: [
        { contender: "floor-promise", opCalls: 3 * batch, run: flakyBatch(() => promiseLoop(() => promiseByHand(flaky), batch)) },
        { contender: "floor-effect", opCalls: 3 * batch, run: flakyBatch(inPolicy(loop(byHand(flakyCall), batch))) },
        {
          contender: "effect-resilience",
          opCalls: 3 * batch,
          run: flakyBatch(inPolicy(loop(flakyCall.pipe(retry(PolicyService.retry)), batch)))
        },
        {
          contender: "effect-retry",
          opCalls: 3 * batch,
          run: flakyBatch(inPolicy(loop(flakyCall.pipe(Effect.retry(PolicyService.retry)), batch)))
        },
        {
          contender: "cockatiel",
          opCalls: 3 * batch,
          // every retry waits on a zero-delay timer (about a millisecond in Node), so this case is slow to measure
          run: flakyBatch(() => promiseLoop(() => cockatielRetries.execute(flaky), batch))
        }
      ]
    },
    {
      id: "tracker.record",
      description: "recording one error in the tracker, caller side (floor: the failure alone)",
      calls: batch,
      cases: [
        {
          contender: "floor-effect",
          opCalls: 0,
          prepare: drain,
          run: () => trackerRuntime.runPromise(loopFailures(failing, batch))
        },
        {
          contender: "effect-resilience",
          opCalls: 0,
          prepare: drain,
          // as a program writes it: `yield* ErrorTracker.record(error)` next to the failure, no combinator between
          run: () => trackerRuntime.runPromise(beforeEachFailure(() => ErrorTracker.record(failure, { operation: "bench" }))),
          counted: recorded
        },
        {
          // one empty synchronous step in the same place: the unit the tracker's budget is stated in, so that the
          // budget does not depend on the machine
          contender: "effect-sync-step",
          opCalls: 0,
          prepare: drain,
          run: () => trackerRuntime.runPromise(beforeEachFailure(() => Effect.sync(() => {})))
        }
      ]
    },
    {
      id: "layer.success",
      description: "the full ErrorLayer path (policy + breaker + tracker + metrics) through protect, success",
      calls: batch,
      cases: [
        { contender: "floor-effect", opCalls: batch, run: inLayer(loop(call, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: inLayer(loop(call.pipe(protect({ operation: "bench", breaker: true })), batch))
        }
      ]
    },
    {
      id: "layer.failure",
      description: "the full ErrorLayer path on a failure that exhausts its policy (3 attempts, zero delay; "
        + "floor: three failed attempts by hand)",
      calls: batch,
      cases: [
        { contender: "floor-effect", opCalls: 3 * batch, run: inLayer(loopFailures(byHand(downCall), batch)) },
        {
          contender: "effect-resilience",
          opCalls: 3 * batch,
          run: inLayer(loopFailures(downCall.pipe(protect({ operation: "bench", breaker: "failing" })), batch))
        }
      ]
    },
    ...admission.scenarios,
    ...budget.scenarios,
    ...chaos.scenarios
  ]

  const verify = async (scenario: Scenario, kase: Case) => {
    kase.prepare?.()
    const countedBefore = await kase.counted?.()
    const before = opCalls
    const done = await kase.run()
    const ran = opCalls - before
    const counted = countedBefore === undefined ? scenario.calls : (await kase.counted!()) - countedBefore
    if (done !== scenario.calls || ran !== kase.opCalls || counted !== scenario.calls) {
      throw new Error(
        `${scenario.id} ${kase.contender}: ${done} of ${scenario.calls} calls ended as expected, the operation ` +
          `ran ${ran} times instead of ${kase.opCalls}, and the contender counted ${counted} calls`
      )
    }
    await kase.after?.()
  }

  const dispose = async () => {
    opossumClosed.shutdown()
    opossumOpen.shutdown()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await Promise.all([policyRuntime, protectRuntime, layerRuntime, trackerRuntime].map((r) => r.dispose()))
    await budget.dispose()
    await chaos.dispose()
  }

  const fields = (scenario: string, contender: Contender) => ({
    ...admission.fields(scenario, contender),
    ...budget.fields(scenario, contender),
    ...chaos.fields(scenario, contender)
  })

  return { scenarios, verify, fields, dispose }
}
