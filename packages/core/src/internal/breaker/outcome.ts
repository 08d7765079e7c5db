// What the exit of a call means to a breaker.
import { Cause, Exit } from "effect"

/** A call's outcome as a breaker counts it. */
export type Outcome = "success" | "failure" | "ignored"

/**
 * The classification of exits by a breaker's `counts` predicate.
 *
 * A failure counts when any of its reasons does: a defect always, a typed error when `counts` says so (a predicate
 * that throws cannot say the failure is harmless, so it counts), so neither a defect nor an outage can hide behind
 * an error the breaker ignores (a business error failing alongside it). Interruptions count as neither, and so does
 * a cause of interruptions and ignored errors only: whether the call interrupted itself or was interrupted from
 * outside (a timeout or a race around the breaker, a caller going away), it says nothing about the dependency.
 */
export const classifier = (counts: (error: unknown) => boolean) => {
  const counted = (error: unknown): boolean => {
    try {
      return counts(error)
    } catch {
      return true
    }
  }
  const ofCause = (cause: Cause.Cause<unknown>): Outcome => {
    const reasons = cause.reasons
    if (reasons.length === 0) return "failure"
    for (let i = 0; i < reasons.length; i++) {
      const reason = reasons[i]!
      if (Cause.isDieReason(reason)) return "failure"
      if (Cause.isFailReason(reason) && counted(reason.error)) return "failure"
    }
    return "ignored"
  }
  return (exit: Exit.Exit<unknown, unknown>): Outcome => Exit.isSuccess(exit) ? "success" : ofCause(exit.cause)
}
