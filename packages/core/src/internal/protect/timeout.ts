/**
 * The timeout stage: every attempt is bounded by `timeout`, or, for a retry after an error whose policy has a
 * timeout of its own, by that one. It is the innermost stage, so a timed-out attempt is a failure the breaker
 * counts and the policies retry.
 */
import { Duration, Effect } from "effect"
import { TimeoutError } from "../../CommonErrors.js"
import type * as Stage from "./stage.js"

/**
 * The option the stage reads.
 */
export interface Options {
  /**
   * Limits every attempt; a retry after an error whose policy has its own `timeout` uses that one instead. Policy
   * timeouts only apply to calls that set `timeout`, since only those declare `TimeoutError`.
   */
  readonly timeout?: Duration.Input | undefined
}

/** Whether the options surely set no timeout. */
type NoTimeout<O> = "timeout" extends keyof O ? ([O[keyof O & "timeout"]] extends [undefined] ? true : false) : true

/** The stage's types: `TimeoutError` joins the error type wherever a timeout may be set. */
export interface Types extends Stage.Types {
  readonly Options: Options
  readonly Success: this["In"]
  readonly Error: this["In"] | (NoTimeout<this["O"]> extends true ? never : TimeoutError)
  readonly Services: this["In"]
}

/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "timeout",
  make: (options) => {
    const operation = options.operation
    const base = (options as Options).timeout === undefined
      ? undefined
      : Duration.fromInputUnsafe((options as Options).timeout!)
    if (base === undefined) return undefined
    const bounded = <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.Duration) =>
      Effect.timeoutOrElse(self, {
        duration,
        orElse: () => Effect.fail(new TimeoutError({ operation, timeoutMillis: Duration.toMillis(duration) }))
      })
    return {
      wrap: (inner) => ({
        ...inner,
        attempt: (retry) => bounded(inner.attempt(retry), retry?.policy.timeout ?? base)
      })
    }
  }
}
