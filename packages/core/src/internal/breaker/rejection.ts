// The failures of rejected calls, kept cheap: built without a stack trace, and shared between the calls rejected with
// the same status and `retryAfter` (to the millisecond), so a rejection costs about what `Effect.fail` of a ready
// value does.
import { Effect } from "effect"
// (a cycle with the public module that builds breakers: its class is only read when a call is rejected)
import { BreakerOpenError } from "../../CircuitBreaker.js"
import { stackless } from "../stackless.js"

/** The statuses that reject calls. */
export type RejectingStatus = "open" | "half_open" | "forced_open"


/**
 * The rejections of the breaker `name`: `reject(status, retryAfterMillis)` is a failed effect, the same one as the
 * last rejection with that status while `retryAfterMillis` rounds up to the same millisecond.
 */
export const make = (name: string) => {
  const last = new Map<RejectingStatus, readonly [BreakerOpenError, Effect.Effect<never, BreakerOpenError>]>()
  return (status: RejectingStatus, retryAfterMillis: number): Effect.Effect<never, BreakerOpenError> => {
    const millis = Math.max(0, Math.ceil(retryAfterMillis))
    const cached = last.get(status)
    if (cached !== undefined && cached[0].retryAfterMillis === millis) return cached[1]
    const error = stackless(() =>
      new BreakerOpenError({ breaker: name, status, retryAfterMillis: millis }, { disableChecks: true })
    )
    const failed = Effect.fail(error)
    last.set(status, [error, failed])
    return failed
  }
}
