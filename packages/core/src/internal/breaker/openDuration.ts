// How long a breaker stays open: a fixed duration, or a Schedule stepped once per consecutive opening.
import { Duration, Effect, Exit, Schedule } from "effect"

/** The durations of the openings of one breaker. */
export interface OpenDurations {
  /**
   * How long the `opening`th consecutive opening (from 1) of the run `epoch` lasts, in milliseconds. A schedule is
   * stepped afresh for each run, once per opening (its input is the opening's number, its time the wall clock
   * `now`), and the durations of the current run are remembered, so asking again for an opening gives the same
   * duration. When the schedule ends, its last duration is kept.
   */
  readonly millis: (epoch: number, opening: number, now: number) => Effect.Effect<number>
}

type Step = (now: number, input: number) => Effect.Effect<[unknown, Duration.Duration], unknown, unknown>

/** The open durations of `openDuration` (assumed valid: a schedule that gives at least one duration). */
export const make = (openDuration: Schedule.Schedule<unknown, number> | Duration.Duration): OpenDurations => {
  if (Duration.isDuration(openDuration)) {
    const fixed = Effect.succeed(Duration.toMillis(openDuration))
    return { millis: () => fixed }
  }
  let runEpoch = -1
  let delays: Array<number> = []
  let step: Step | undefined
  // steps the schedule until it has given the duration of `opening`
  const stepTo = (s: Step, opening: number, now: number): Effect.Effect<number> =>
    s(now, delays.length + 1).pipe(
      Effect.map(([, duration]) => Math.max(0, Duration.toMillis(duration))),
      // the schedule ended: keep the last duration
      Effect.catchCause(() => Effect.succeed(delays.length === 0 ? 0 : delays[delays.length - 1]!)),
      Effect.flatMap((millis) => {
        delays.push(millis)
        return opening <= delays.length ? Effect.succeed(delays[opening - 1]!) : stepTo(s, opening, now)
      })
    ) as Effect.Effect<number>
  return {
    millis: (epoch, opening, now) =>
      Effect.suspend(() => {
        if (epoch !== runEpoch) {
          runEpoch = epoch
          delays = []
          step = undefined
        }
        if (opening <= delays.length) return Effect.succeed(delays[opening - 1]!)
        if (step !== undefined) return stepTo(step, opening, now)
        return Effect.flatMap(Schedule.toStep(openDuration), (s) => {
          step = s as Step
          return stepTo(step, opening, now)
        })
      })
  }
}

/**
 * The first duration a schedule gives, in milliseconds, stepped on a fresh step (at time 0, input 1); undefined
 * when it gives none. It is the `retryAfter` of an isolated breaker, and a schedule without one is refused.
 */
export const firstMillis = (schedule: Schedule.Schedule<unknown, number>): Effect.Effect<number | undefined> =>
  Effect.flatMap(Schedule.toStep(schedule), (step) => Effect.exit(step(0, 1))).pipe(
    Effect.map((exit) => {
      if (Exit.isFailure(exit)) return undefined
      const millis = Duration.toMillis(exit.value[1])
      return millis >= 0 ? millis : undefined
    })
  ) as Effect.Effect<number | undefined>
