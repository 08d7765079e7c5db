import { Cause, type Duration, Effect, Pull, Schedule } from "effect"
import * as ErrorFamily from "../ErrorFamily.js"
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

/**
 * One step of a run's policies: the decision and the delay before the retry, or done with the decision that
 * gave up.
 */
export type PolicyStep = (
  now: number,
  error: unknown
) => Pull.Pull<[RetryDecision, Duration.Duration], never, RetryDecision>

type Step = (now: number, input: unknown) => Pull.Pull<[unknown, Duration.Duration], never, unknown>

interface TagState {
  readonly step: Step
  attempts: number
}

const untagged = "<untagged>"

/**
 * The policies of one run (one `Effect.retry(PolicyService.retry)` or `protect` execution), stepped failure by
 * failure: each error is handed to the schedule of its own policy, whose state (attempt count, backoff) is kept
 * per tag and created on that tag's first failure, so a run that never fails allocates nothing here.
 */
export const makePolicyRun = (policyFor: (error: unknown) => Policy.Policy<any>): PolicyStep => {
  let states: Map<string, TagState> | undefined
  let total = 0
  return (now, error) => {
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
