// Durations in options: what every module's options accept (milliseconds as a number, a string such as
// "500 millis", or a `Duration`), checked for being finite and positive, with one message naming what was given.
import { Duration } from "effect"
import { guarded, show } from "./unknownKeys.js"

/**
 * The milliseconds of a finite, positive duration input (any `Duration.Input`: a number of milliseconds, a bigint
 * of nanoseconds, a string, a `Duration`, a `[seconds, nanos]` pair, an object of units); `undefined` for
 * anything else.
 */
export const positiveMillis = (input: unknown): number | undefined => {
  if (input === null || input === undefined) return undefined
  let duration
  try {
    duration = Duration.fromInput(input as Duration.Input)
  } catch {
    return undefined
  }
  if (duration._tag !== "Some" || !Duration.isFinite(duration.value)) return undefined
  const millis = Duration.toMillis(duration.value)
  return millis > 0 ? millis : undefined
}

/** A schema of a finite, positive duration input, whose message shows `example` and the value given. */
export const positiveDuration = (example: string) =>
  guarded(
    (u): u is Duration.Input => positiveMillis(u) !== undefined,
    (u) => `Expected a positive duration such as "${example}", got ${typeof u === "bigint" ? `${u}n` : show(u)}`
  )
