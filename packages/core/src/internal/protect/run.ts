/**
 * What one `protect` call site and one failed run of it emit through the seam (`internal/observation.ts`):
 * failures as they occur, the outcome of a failure whose retry or fallback was pending, and the call's outcome.
 */
import type { Fiber } from "effect"
import { Cause, Clock, References } from "effect"
import type * as ErrorLogger from "../../ErrorLogger.js"
import { monotonicMillis } from "../breaker/store.js"
import { isInjected } from "../chaosMarks.js"
import type { Call, Failure, Observer, Timings } from "../observation.js"
import type { Pipeline } from "./stage.js"

type CallOutcome = Call["outcome"]

/** One `protect` call site: its operation, its logger, and its call events, built once and emitted as they are. */
export interface Site {
  readonly operation: string
  readonly logger: ErrorLogger.ErrorLogger
  readonly calls: { readonly [K in CallOutcome]: Call }
}

/** The site of a `protect` call. */
export const makeSite = (operation: string, logger: ErrorLogger.ErrorLogger): Site => {
  const call = (outcome: CallOutcome): Call => ({ _tag: "Call", operation, outcome })
  return {
    operation,
    logger,
    calls: {
      succeeded: call("succeeded"),
      succeeded_after_retry: call("succeeded_after_retry"),
      failed: call("failed"),
      failed_after_retry: call("failed_after_retry"),
      rejected: call("rejected")
    }
  }
}

/**
 * One run of a call site that failed, made at its first failure (a run that succeeds makes none): the outermost
 * pipeline, the observer, and the failure whose retry or fallback is pending, resolved when that ends.
 */
export class Run {
  /** The failure whose retry or fallback is running, if one is. */
  private pending: Failure | undefined = undefined
  private readonly annotations: Readonly<Record<string, unknown>> | undefined
  /** Why the run gave up although its policy asked for a retry, once the retry stage knows. */
  suppressed: "budget" | "pushback" | undefined = undefined

  /** `start` is the call's start (`Clock` monotonic milliseconds) when `timings` want its duration. */
  constructor(
    readonly site: Site,
    readonly pipeline: Pipeline,
    readonly observer: Observer,
    readonly fiber: Fiber.Fiber<unknown, unknown>,
    private readonly start?: number | undefined,
    private readonly timings?: Timings | undefined
  ) {
    this.annotations = observer.active ? fiber.getRef(References.CurrentLogAnnotations) : undefined
  }

  /** The clock's time, in milliseconds. */
  now(): number {
    return this.fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
  }

  /**
   * Emits a failure: `"pending"` when a retry or fallback follows (then resolved by {@link settle}), `"none"` when
   * nothing does; `gaveUp` when no retry follows it; `chaos` when the chaos stage injected it.
   */
  failed(error: unknown, at: number, attempt: number, recovery: "pending" | "none", gaveUp: boolean): void {
    if (!this.observer.active) return
    const failure: Failure = {
      _tag: "Failure",
      error,
      timestamp: at,
      operation: this.site.operation,
      attempt,
      recovery,
      source: "protect",
      annotations: this.annotations,
      gaveUp,
      suppressed: gaveUp ? this.suppressed : undefined,
      // a failure the chaos stage injected is a rehearsal (one lookup, on the failure path only)
      chaos: isInjected(error) || undefined
    }
    this.observer.emit(failure)
    if (recovery === "pending") this.pending = failure
  }

  /** The pending failure's retry or fallback ended. */
  settle(outcome: "succeeded" | "failed"): void {
    const pending = this.pending
    if (pending === undefined) return
    this.pending = undefined
    this.observer.emit({ _tag: "Resolved", failure: pending, outcome })
  }

  /** The call ended with `outcome`. */
  call(outcome: CallOutcome): void {
    if (this.observer.active) this.observer.emit(this.site.calls[outcome])
    if (this.timings !== undefined && this.start !== undefined && outcome !== "rejected") {
      const now = monotonicMillis(this.fiber.getRef(Clock.Clock))
      this.timings.call(outcome, now - this.start, now)
    }
  }
}

/**
 * The cause a run ends with when it is not a typed error alone: as it is, except that a typed error alongside a
 * defect becomes a defect too, as effect's own typed recovery does (`Effect.retry`, `Effect.catch`): the defect is
 * never dropped, and no error whose tag a fallback handles (which the error type therefore no longer lists) is
 * left in the typed channel.
 */
export const electDefects = (cause: Cause.Cause<unknown>): Cause.Cause<unknown> =>
  !Cause.hasDies(cause) || !Cause.hasFails(cause) ? cause : Cause.fromReasons(cause.reasons.map((reason) =>
    Cause.isFailReason(reason) && !Cause.isDone(reason.error)
      ? Cause.makeDieReason(reason.error).annotate(Cause.reasonAnnotations(reason))
      : reason
  ))
