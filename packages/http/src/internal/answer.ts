import { Cause } from "effect"

/** What a cause is answered with: the error its problem is made from. */
export interface Answer {
  /** The first typed failure, or `undefined` for a defect (the problem is then the generic 500). */
  readonly error: unknown
}

const defect: Answer = { error: undefined }

/**
 * The answer to a cause: a defect when it holds one, even beside typed failures (answering the failure would hide
 * the bug); else its first typed failure; `undefined` when it holds only interruptions (nothing to answer).
 */
export const answerOf = (cause: Cause.Cause<unknown>): Answer | undefined => {
  if (cause.reasons.some(Cause.isDieReason)) return defect
  const failure = cause.reasons.find(Cause.isFailReason)
  return failure === undefined ? undefined : { error: failure.error }
}
