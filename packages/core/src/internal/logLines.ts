import { Duration, Effect } from "effect"
import type * as ErrorLogger from "../ErrorLogger.js"
import { isInjected } from "./chaosMarks.js"
import type { RetryDecision } from "./policyRun.js"

// Every line the retry machinery logs, with its annotation keys: `protect` and the policy schedule only call
// these, so the texts a user greps for live in this one file.

/** The module `protect`'s lines carry unless its `module` option names another. */
export const protectModule = "effect-resilience/protect"

/** The module of the policy schedule's lines (`Effect.retry(PolicyService.retry)`). */
export const retryModule = "effect-resilience/retry"

/**
 * A retry delay as a log line shows it, rounded (a jittered delay is a fraction of a millisecond off, and
 * `Duration.format` would print its nanoseconds): whole milliseconds under a second (`11ms`, `<1ms` for a positive
 * delay that rounds to zero), tenths of a second under a minute (`1.2s`), then whole seconds (`1m 31s`, `2h`).
 */
export const formatDelay = (delay: Duration.Duration): string => {
  if (!Duration.isFinite(delay)) return Duration.format(delay)
  const millis = Math.max(0, Duration.toMillis(delay))
  const rounded = Math.round(millis)
  if (rounded < 1000) return rounded === 0 && millis > 0 ? "<1ms" : `${rounded}ms`
  const tenths = Math.round(millis / 100)
  if (tenths < 600) return `${tenths / 10}s`
  return Duration.format(Duration.seconds(Math.round(millis / 1000)))
}

/**
 * The annotation of a line about an error a `Chaos` layer injected: `chaos` with the kind of its fault, as on the
 * injection's own line (`"fail"`: the retry and give-up lines are about typed failures); `undefined` for any
 * other error.
 */
const chaosOf = (error: unknown): { readonly chaos: "fail" } | undefined =>
  isInjected(error) ? { chaos: "fail" } : undefined

/**
 * The line logged for a failure that will be retried, at its policy's level: `<subject> failed on attempt N,
 * retrying in D` (the operation, or the error's tag for the policy schedule; D rounded by {@link formatDelay}),
 * annotated with the run's attempt (`attempt`), the tag's attempt (`tagAttempt`) and the delay (`retryInMillis`),
 * and with `chaos` (`"fail"`) when a `Chaos` layer injected the error.
 */
export const logRetry = (
  logger: ErrorLogger.ErrorLogger,
  error: unknown,
  decision: RetryDecision,
  delay: Duration.Duration,
  operation?: string
): Effect.Effect<void> =>
  logger.log(
    decision.policy.logLevel,
    `${operation ?? decision.tag} failed on attempt ${decision.total}, retrying in ${formatDelay(delay)}`,
    error,
    {
      operation,
      attempt: decision.total,
      annotations: {
        tagAttempt: decision.attempt,
        retryInMillis: Duration.toMillis(delay),
        ...chaosOf(error)
      }
    }
  )

/**
 * The line logged when `protect` gives up on a failure, at its policy's level, with the full cause:
 * `<operation> failed on attempt N, giving up`, annotated with `chaos` (`"fail"`) when a `Chaos` layer injected the
 * error.
 */
export const logGiveUp = (
  logger: ErrorLogger.ErrorLogger,
  error: unknown,
  decision: RetryDecision,
  operation: string
): Effect.Effect<void> =>
  decision.suppressed === undefined
    ? logger.log(decision.policy.logLevel, `${operation} failed on attempt ${decision.total}, giving up`, error, {
      operation,
      attempt: decision.total,
      withCause: true,
      annotations: chaosOf(error)
    })
    : logSuppressed(logger, error, decision, operation)

/**
 * The line logged when a retry the policy asked for is not made, at the policy's level, with the full cause:
 * `<subject> failed on attempt N, retry suppressed: retry budget "<name>" exhausted` (or `: retry-after hint
 * exceeds maxRetryAfter (D)`), annotated with `retrySuppressed` (`"budget"` or `"pushback"`), for a budget with
 * `budget`, and with `chaos` (`"fail"`) when a `Chaos` layer injected the error.
 */
export const logSuppressed = (
  logger: ErrorLogger.ErrorLogger,
  error: unknown,
  decision: RetryDecision,
  operation?: string
): Effect.Effect<void> =>
  logger.log(
    decision.policy.logLevel,
    `${operation ?? decision.tag} failed on attempt ${decision.total}, retry suppressed: ${
      decision.suppressed === "budget"
        ? `retry budget ${JSON.stringify(decision.budget)} exhausted`
        : `retry-after hint exceeds maxRetryAfter (${formatDelay(decision.policy.maxRetryAfter)})`
    }`,
    error,
    {
      operation,
      attempt: decision.total,
      withCause: true,
      annotations: decision.budget === undefined
        ? { retrySuppressed: decision.suppressed, ...chaosOf(error) }
        : { retrySuppressed: decision.suppressed, budget: decision.budget, ...chaosOf(error) }
    }
  )

/** The line logged when the cleanup of an unrecoverable error's policy fails: `cleanup after <operation> failed`. */
export const logCleanupFailed = (operation: string, cause: unknown): Effect.Effect<void> =>
  Effect.logError(`cleanup after ${operation} failed`, cause)
