import { Cause, Duration, Effect, Pull, Schedule } from "effect"
import * as ErrorFamily from "../ErrorFamily.js"
import type * as Policy from "../Policy.js"
import { hintMillis } from "../Pushback.js"
import type { BudgetInternal } from "./budget/budget.js"

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
  /**
   * On a decision that gave up although the policy asked for a retry: why it was not made (the budget had none
   * left, or the error's retry-after hint exceeded the policy's `maxRetryAfter`).
   */
  readonly suppressed?: "budget" | "pushback" | undefined
  /** The budget that refused, for `suppressed: "budget"`. */
  readonly budget?: string | undefined
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
 *
 * A retry the schedule asks for then passes two checks, in order: the error's retry-after hint (`Pushback`)
 * lengthens a shorter delay, or ends the run when it exceeds the policy's `maxRetryAfter`; and the `budget`, if
 * any, must give one retry (at `budgetNow()`, the Clock's monotonic time), or the run ends. Either end is a done decision marked `suppressed`.
 */
export const makePolicyRun = (
  policyFor: (error: unknown) => Policy.Policy<any>,
  budget?: BudgetInternal | undefined,
  budgetNow?: () => number
): PolicyStep => {
  let states: Map<string, TagState> | undefined
  let total = 0
  return (now, error) => {
    const policy = policyFor(error)
    const failures = ++total
    const tag = ErrorFamily.tagOf(error) ?? untagged
    const state = states?.get(tag)
    const run = (s: TagState) => {
      const decision: RetryDecision = { tag, attempt: ++s.attempts, total: failures, policy }
      return Pull.matchEffect(s.step(now, error), {
        onSuccess: ([, delay]) => {
          const hint = hintMillis(error)
          let wait = delay
          if (hint !== undefined) {
            // Infinity (gRPC's "do not retry") never waits, even under an unbounded maxRetryAfter
            if (!Number.isFinite(hint) || hint > Duration.toMillis(policy.maxRetryAfter)) {
              return Cause.done<RetryDecision>({ ...decision, suppressed: "pushback" })
            }
            if (hint > Duration.toMillis(delay)) wait = Duration.millis(hint)
          }
          if (budget !== undefined && !budget.withdrawUnsafe(budgetNow!())) {
            return Cause.done<RetryDecision>({ ...decision, suppressed: "budget", budget: budget.name })
          }
          return Effect.succeed<[RetryDecision, Duration.Duration]>([decision, wait])
        },
        onFailure: Effect.failCause,
        onDone: () => Cause.done(decision)
      })
    }
    if (state !== undefined) return run(state)
    return Effect.flatMap(Schedule.toStep(policy.schedule), (step) => {
      const created: TagState = { step, attempts: 0 }
      ;(states ??= new Map()).set(tag, created)
      return run(created)
    })
  }
}
