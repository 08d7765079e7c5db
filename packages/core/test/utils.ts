import { Clock, Effect, Fiber, Layer, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import { ErrorTracker, protect } from "../src/index.js"

/** A log record as the tests read it. */
export interface Line {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
  readonly cause: string | undefined
}

/** A logger layer that records structured lines into `lines`, at every level. */
export const captureLogs = (lines: Array<Line>) =>
  Layer.mergeAll(
    Logger.layer([
      Logger.map(Logger.formatStructured, (r) => {
        lines.push({ level: r.level, message: r.message, annotations: r.annotations, cause: r.cause })
      })
    ]),
    Layer.succeed(References.MinimumLogLevel, "All")
  )

/**
 * An operation that fails with the errors of `script` in turn (one per call), then succeeds with the number of
 * calls. `times` records the `Clock` time of every call.
 */
export const scripted = <E>(script: ReadonlyArray<E>) => {
  const times: Array<number> = []
  let calls = 0
  const effect: Effect.Effect<number, E> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    times.push(now)
    const error = script[calls++]
    return error === undefined ? Effect.succeed(calls) : Effect.fail(error)
  })
  return { effect, times, calls: () => calls }
}

/** `n` copies of a value. */
export const repeat = <A>(n: number, f: (i: number) => A): Array<A> => Array.from({ length: n }, (_, i) => f(i))

/**
 * How many attempts a protected call failing with `error` every time makes under the policies in force (an hour of
 * TestClock time is enough for any of the tests' policies).
 */
export const attemptsOf = (error: unknown, operation = "items.save") =>
  Effect.gen(function*() {
    const op = scripted(repeat(20, () => error))
    const fiber = yield* Effect.forkChild(Effect.exit(op.effect.pipe(protect({ operation }))))
    yield* TestClock.adjust("1 hour")
    yield* Fiber.join(fiber)
    return op.calls()
  })

/** A small seeded generator of numbers in [0, 1), so every run of a seed makes the same calls. */
export const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** Lets every other fiber run for a while (200 yields). */
export const drain: Effect.Effect<void> = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

/**
 * `k` steps of nothing (2 fiber operations each): moves where a fiber's scheduler slice (2048 operations by
 * default) ends, so that a test can make it yield at each point of what follows in turn.
 */
export const pad = (k: number): Effect.Effect<void> => {
  let e: Effect.Effect<void> = Effect.void
  for (let i = 0; i < k; i++) e = Effect.andThen(e, Effect.void)
  return e
}

/** The tracker's history once it holds `n` events (the tracker records on a fiber of its own). */
export const historyOf = (n: number) =>
  Effect.gen(function*() {
    const tracker = yield* ErrorTracker.ErrorTracker
    for (let i = 0; i < 1_000; i++) {
      const history = yield* tracker.history
      if (history.length >= n) return history
      yield* Effect.yieldNow
    }
    return yield* tracker.history
  })
