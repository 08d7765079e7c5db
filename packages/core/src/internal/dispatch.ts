import { Cause, Duration, Effect, Pull, Schedule } from "effect"
import * as ErrorFamily from "../ErrorFamily.js"
import type * as ErrorLogger from "../ErrorLogger.js"
import type * as Policy from "../Policy.js"

/** What the policy schedule decided for one failure. */
export interface RetryDecision {
  /** The error's tag, or `"<untagged>"`. */
  readonly tag: string
  /** How many failures of this tag the run has seen, this one included. */
  readonly attempt: number
  /** How many failures of any tag the run has seen, this one included: the number of the attempt that failed. */
  readonly total: number
  /** The policy that decided. */
  readonly policy: Policy.Policy<any>
}

type Step = (now: number, input: unknown) => Pull.Pull<[unknown, Duration.Duration], never, unknown>

interface TagState {
  readonly step: Step
  attempts: number
}

const untagged = "<untagged>"

/**
 * The step function of the policy schedule for one run (one `Effect.retry` or `protect` execution): each error is
 * handed to the schedule of its own policy, whose state (attempt count, backoff) is kept per tag and created on
 * that tag's first failure, so a run that never fails allocates nothing here.
 */
export const makeDispatcher = (policyFor: (error: unknown) => Policy.Policy<any>) => {
  let states: Map<string, TagState> | undefined
  let total = 0
  return (now: number, error: unknown): Pull.Pull<[RetryDecision, Duration.Duration], never, RetryDecision> => {
    const policy = policyFor(error)
    const failures = ++total
    const tag = ErrorFamily.tagOf(error) ?? untagged
    const state = states?.get(tag)
    const run = (s: TagState) => {
      const decision: RetryDecision = { tag, attempt: ++s.attempts, total: failures, policy }
      return Pull.catchDone(
        Effect.map(s.step(now, error), ([, delay]): [RetryDecision, Duration.Duration] => [decision, delay]),
        () => Cause.done(decision)
      )
    }
    if (state !== undefined) return run(state)
    return Effect.flatMap(Schedule.toStep(policy.schedule), (step) => {
      const created: TagState = { step, attempts: 0 }
      ;(states ??= new Map()).set(tag, created)
      return run(created)
    })
  }
}

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
 * The line logged for a failure that will be retried, at its policy's level: `<subject> failed on attempt N,
 * retrying in D` (D rounded by {@link formatDelay}), annotated with the run's attempt, the tag's attempt and the delay.
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
      annotations: { tagAttempt: decision.attempt, retryInMillis: Duration.toMillis(delay) }
    }
  )
