/**
 * A congested dependency under TestClock, and closed-loop clients calling it through a bulkhead: the setting in
 * which a concurrency limit decides goodput.
 *
 * - The dependency has `servers` servers, each taking `serviceMillis` per request, behind one FIFO queue, so its
 *   latency grows with its concurrency past `servers` (the knee).
 * - A request its client gave up on is still served: nothing cancels it. That wasted work is what collapses
 *   goodput when too many calls are let in (every request then waits behind abandoned ones and times out too).
 * - `clients` fibers call in a loop through a `Bulkhead` (queue 0), each call with a client timeout inside the
 *   bulkhead (`Effect.timeout`, so a timeout is a drop for an adaptive limit); a refused client waits
 *   `thinkMillis` before it calls again, the others call again at once.
 *
 * Virtual time is driven with `TestClock.adjust` in steps of `stepMillis` for `durationMillis`; the figures count
 * from `warmUpMillis` after its start on. Run it inside `it.effect` (TestClock).
 */
import { Cause, Clock, Deferred, Effect, Exit, Fiber, Queue } from "effect"
import { TestClock } from "effect/testing"
import { type AdaptiveLimit, Bulkhead } from "@effect-resilience/core"

/** A simulation's settings; every one but `limit` has a default. */
export interface Options {
  /** The bulkhead's limit: fixed, or adaptive. */
  readonly limit: number | AdaptiveLimit.AdaptiveLimit
  /** The dependency's servers (8): the concurrency it serves without queueing. */
  readonly servers?: number | undefined
  /** The time a server takes per request, in milliseconds (10). */
  readonly serviceMillis?: number | undefined
  /** The closed-loop clients (200). */
  readonly clients?: number | undefined
  /** The client timeout, inside the bulkhead, in milliseconds (100). */
  readonly timeoutMillis?: number | undefined
  /** How long a refused client waits before it calls again, in milliseconds (20). */
  readonly thinkMillis?: number | undefined
  /** The virtual time simulated, in milliseconds (10 000). */
  readonly durationMillis?: number | undefined
  /** The virtual time before the figures count, in milliseconds (3 000). */
  readonly warmUpMillis?: number | undefined
  /** The steps `TestClock.adjust` advances by, in milliseconds (10). */
  readonly stepMillis?: number | undefined
  /** How often the bulkhead's limit is read for `meanLimit`, in milliseconds (10). */
  readonly sampleEveryMillis?: number | undefined
}

/** What a simulation measured, after the warm-up. */
export interface Figures {
  /** Successful calls per virtual second. */
  readonly goodput: number
  /** The bulkhead's limit at the end. */
  readonly finalLimit: number
  /** The bulkhead's limit averaged over time. */
  readonly meanLimit: number
  /** The lowest and highest limit seen. */
  readonly limitRange: readonly [number, number]
  /** The mean latency of the successful calls, in milliseconds. */
  readonly meanLatencyMs: number
  /** Calls that timed out. */
  readonly timeouts: number
  /** Calls the bulkhead refused. */
  readonly rejections: number
  /** Requests the dependency served whose client had given up: wasted work. */
  readonly wasted: number
}

/** Runs one simulation (under TestClock) and returns what it measured. */
export const simulate = (options: Options): Effect.Effect<Figures> =>
  Effect.gen(function*() {
    const servers = options.servers ?? 8
    const serviceMillis = options.serviceMillis ?? 10
    const clients = options.clients ?? 200
    const timeoutMillis = options.timeoutMillis ?? 100
    const thinkMillis = options.thinkMillis ?? 20
    const durationMillis = options.durationMillis ?? 10_000
    const warmUpMillis = options.warmUpMillis ?? 3_000
    const stepMillis = options.stepMillis ?? 10
    const sampleEveryMillis = options.sampleEveryMillis ?? 10

    const bulkhead = yield* Effect.orDie(Bulkhead.make("congested", { limit: options.limit, queue: 0 }))
    // from the simulation's own start: a test may run several, one after the other on one TestClock
    const origin = yield* Clock.currentTimeMillis
    const counting = (now: number) => now - origin >= warmUpMillis
    let successes = 0
    let latencySum = 0
    let timeouts = 0
    let rejections = 0
    let wasted = 0

    // the dependency: one FIFO queue, `servers` workers; a request is served whether or not its client still waits
    interface Request {
      readonly done: Deferred.Deferred<void>
      abandoned: boolean
    }
    const requests = yield* Queue.unbounded<Request>()
    const server = Effect.forever(
      Effect.flatMap(Queue.take(requests), (request) =>
        Effect.flatMap(Effect.sleep(serviceMillis), () =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (request.abandoned && counting(now)) wasted++
            return Deferred.succeed(request.done, undefined)
          })))
    )
    const call = Effect.suspend(() => {
      const request: Request = { done: Deferred.makeUnsafe<void>(), abandoned: false }
      return Effect.andThen(
        Queue.offer(requests, request),
        Deferred.await(request.done).pipe(Effect.onInterrupt(() => Effect.sync(() => request.abandoned = true)))
      )
    }).pipe(Effect.timeout(timeoutMillis))

    const think = Effect.sleep(thinkMillis)
    const client = Effect.forever(
      Effect.flatMap(Clock.currentTimeMillis, (start) =>
        Effect.flatMap(Effect.exit(bulkhead.execute(call)), (exit) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (Exit.isSuccess(exit)) {
              if (counting(now)) {
                successes++
                latencySum += now - start
              }
              return Effect.void
            }
            const error = Cause.findErrorOption(exit.cause)
            const tag = error._tag === "Some" ? (error.value as { readonly _tag?: string })._tag : undefined
            if (tag === "BulkheadFullError") {
              if (counting(now)) rejections++
              return think
            }
            if (tag === "TimeoutError" && counting(now)) timeouts++
            return Effect.void
          })))
    )

    let limitSum = 0
    let limitSamples = 0
    let lowest = Infinity
    let highest = -Infinity
    const sampler = Effect.forever(
      Effect.flatMap(Effect.sleep(sampleEveryMillis), () =>
        Effect.flatMap(bulkhead.state, (state) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => {
              if (!counting(now)) return
              limitSum += state.limit
              limitSamples++
              if (state.limit < lowest) lowest = state.limit
              if (state.limit > highest) highest = state.limit
            }))))
    )

    const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
    for (let i = 0; i < servers; i++) fibers.push(yield* Effect.forkChild(server))
    fibers.push(yield* Effect.forkChild(sampler))
    for (let i = 0; i < clients; i++) fibers.push(yield* Effect.forkChild(client))
    for (let elapsed = 0; elapsed < durationMillis; elapsed += stepMillis) yield* TestClock.adjust(stepMillis)
    yield* Fiber.interruptAll(fibers)

    const state = yield* bulkhead.state
    const seconds = (durationMillis - warmUpMillis) / 1000
    return {
      goodput: successes / seconds,
      finalLimit: state.limit,
      meanLimit: limitSamples === 0 ? state.limit : limitSum / limitSamples,
      limitRange: [lowest, highest] as const,
      meanLatencyMs: successes === 0 ? 0 : latencySum / successes,
      timeouts,
      rejections,
      wasted
    }
  })
