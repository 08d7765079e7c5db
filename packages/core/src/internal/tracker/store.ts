import * as ErrorFamily from "../../ErrorFamily.js"
import type * as CircuitBreaker from "../../CircuitBreaker.js"
import type { Occurrence, Recovery, Summary } from "../../ErrorTracker.js"
import { isInjected } from "../chaosMarks.js"
import type { Observer } from "../observation.js"
import { RateWindow } from "../rateWindow.js"
import { AnnotationMemo } from "./exportable.js"
import { type Classification, History } from "./history.js"

/** The figures of one tag and code. */
export interface TagEntry extends Classification {
  count: number
  lastSeen: number
  readonly rate: RateWindow
}

/** What {@link Store} is made with (decoded, with defaults applied). */
export interface StoreConfig {
  readonly historySize: number
  readonly windowMillis: number
  readonly buckets: number
  readonly startedAt: number
}

/** Where a pending occurrence is: still queued (with an outcome that came early), or counted (and recorded). */
interface Pending {
  queued: boolean
  outcome: "succeeded" | "failed" | undefined
  /** Its place in the history once counted, and that event's sequence number (to tell it was not overwritten). */
  index: number
  sequence: number
}

/** One minute in six 10-second buckets, whatever the window's resolution. */
const lastMinuteBuckets = 6
/** Breaker state changes kept for the summary. */
export const recentTransitions = 50

/**
 * The tracker's figures: entries per tag and code, exact totals, rate windows, recovery counts and the
 * pending/resolve protocol, the history, the recent breaker transitions, and the counters of the queue and the
 * subscribers; {@link Store.summarize} reads them all at one instant. Plain synchronous state, touched by the
 * tracker's fiber or by a caller (JavaScript runs one at a time), with no fiber or queue of its own.
 */
export class Store {
  readonly startedAt: number
  readonly windowMillis: number
  readonly history: History
  /** Every entry, in the order they appeared. */
  readonly entries: Array<TagEntry> = []
  total = 0
  readonly bySeverity = { low: 0, medium: 0, high: 0, critical: 0 }
  readonly recovery = { pending: 0, succeeded: 0, failed: 0, unobserved: 0 }
  /** Occurrences counted without reaching history and subscribers (shed by a full queue). */
  dropped = 0
  /** Kept by the subscriber fan-out. */
  readonly subscribers = { delivered: 0, dropped: 0, failed: 0 }
  transitionCount = 0
  /** Give-ups whose retry was not made, by reason (occurrences marked `suppressed`). */
  readonly retriesSuppressed = { budget: 0, pushback: 0 }
  readonly transitions: Array<CircuitBreaker.Transition> = []

  private readonly buckets: number
  private readonly bucketMillis: number
  private readonly severityRates: Record<ErrorFamily.Severity, RateWindow>
  private readonly totalRate: RateWindow
  private readonly lastMinute: RateWindow
  // the entry a tag was first seen with, and every entry by tag and code: a tag seen with a second code (an
  // unclassified error with a family's tag) gets its own entry
  private readonly byTag = new Map<string, TagEntry>()
  private readonly byTagCode = new Map<string, TagEntry>()
  private readonly entryListeners = new Set<(entry: TagEntry) => void>()
  private readonly pendings = new WeakMap<Occurrence, Pending>()
  // errors counted, so that the reporter does not count again an error a producer recorded
  private readonly counted = new WeakSet<object>()
  private readonly annotations = new AnnotationMemo()

  constructor(config: StoreConfig) {
    this.startedAt = config.startedAt
    this.windowMillis = config.windowMillis
    this.buckets = config.buckets
    this.bucketMillis = config.windowMillis / config.buckets
    const window = () => new RateWindow(this.buckets, this.bucketMillis)
    this.severityRates = { low: window(), medium: window(), high: window(), critical: window() }
    this.totalRate = window()
    this.lastMinute = new RateWindow(lastMinuteBuckets, 10_000)
    this.history = new History(config.historySize)
  }

  /** The entry of a tag and code, made on first sight. */
  entryOf(info: ErrorFamily.Info): TagEntry {
    const entry = this.byTag.get(info.tag)
    if (entry !== undefined && entry.code === info.code) return entry
    const key = `${info.tag}\u0000${info.code}`
    const existing = this.byTagCode.get(key)
    if (existing !== undefined) return existing
    const created: TagEntry = {
      tag: info.tag,
      code: info.code,
      kind: info.kind,
      severity: info.severity,
      count: 0,
      lastSeen: 0,
      rate: new RateWindow(this.buckets, this.bucketMillis)
    }
    this.byTagCode.set(key, created)
    if (entry === undefined) this.byTag.set(info.tag, created)
    this.entries.push(created)
    for (const listener of this.entryListeners) listener(created)
    return created
  }

  /** Calls `listener` with every entry made from now on; returns the function that stops it. */
  onEntry(listener: (entry: TagEntry) => void): () => void {
    this.entryListeners.add(listener)
    return () => this.entryListeners.delete(listener)
  }

  /**
   * Notes an occurrence offered with `recovery: "pending"` (only those) before it is counted, so that an outcome
   * given while it is still queued is kept for it.
   */
  expect(occurrence: Occurrence): void {
    this.pendings.set(occurrence, { queued: true, outcome: undefined, index: -1, sequence: -1 })
  }

  /** Whether an error object was counted. */
  hasCounted(error: unknown): boolean {
    return typeof error === "object" && error !== null && this.counted.has(error)
  }

  /** Counts an occurrence in the totals; returns its recovery as of now. */
  private count(occurrence: Occurrence, entry: TagEntry): Recovery {
    const at = occurrence.timestamp
    const error = occurrence.error
    if (typeof error === "object" && error !== null) this.counted.add(error)
    entry.count++
    if (at > entry.lastSeen) entry.lastSeen = at
    entry.rate.add(at)
    this.total++
    this.bySeverity[entry.severity]++
    this.severityRates[entry.severity].add(at)
    this.totalRate.add(at)
    this.lastMinute.add(at)
    if (occurrence.suppressed !== undefined) this.retriesSuppressed[occurrence.suppressed]++
    let outcome = occurrence.recovery ?? "none"
    if (outcome === "pending") {
      const pending = this.pendings.get(occurrence)
      if (pending !== undefined) {
        pending.queued = false
        if (pending.outcome !== undefined) {
          outcome = pending.outcome
          this.pendings.delete(occurrence)
        }
      }
    }
    if (outcome !== "none") this.recovery[outcome]++
    return outcome
  }

  /** Counts an occurrence that skips history and subscribers. */
  countDropped(occurrence: Occurrence): void {
    this.count(occurrence, this.entryOf(ErrorFamily.infoOf(occurrence.error)))
    this.dropped++
  }

  /** Counts an occurrence and adds its event to the history; returns the event's slot there. */
  take(occurrence: Occurrence): number {
    const info = ErrorFamily.infoOf(occurrence.error)
    const entry = this.entryOf(info)
    const outcome = this.count(occurrence, entry)
    const index = this.history.push(
      occurrence.timestamp,
      entry,
      info.message,
      this.annotations.of(occurrence.annotations),
      outcome,
      occurrence.source ?? "manual",
      occurrence.operation,
      occurrence.attempt,
      occurrence.gaveUp === true,
      occurrence.suppressed,
      // said by its producer, else looked up: an error injected into an inner `protect` is a rehearsal wherever
      // it is recorded (an outer retry's schedule, a reporting boundary), a defect of `Chaos.die` too
      occurrence.chaos ?? isInjected(occurrence.error)
    )
    if (outcome === "pending") {
      const pending = this.pendings.get(occurrence)
      if (pending !== undefined) {
        pending.index = index
        pending.sequence = this.history.lastSequence
      }
    }
    return index
  }

  /**
   * The outcome of an occurrence offered with `recovery: "pending"`: moves the recovery count and replaces its
   * event in the history (unless newer ones have overwritten it). Only the first outcome counts; one given while
   * the occurrence is queued is kept until it is counted.
   */
  resolve(occurrence: Occurrence, outcome: "succeeded" | "failed"): void {
    const pending = this.pendings.get(occurrence)
    if (pending === undefined) return
    if (pending.queued) {
      pending.outcome ??= outcome // counted with its outcome when it is taken in
      return
    }
    this.pendings.delete(occurrence)
    this.recovery.pending--
    this.recovery[outcome]++
    this.history.setRecovery(pending.index, pending.sequence, outcome)
  }

  /** Records a breaker's state change. */
  recordTransition(transition: CircuitBreaker.Transition): void {
    this.transitionCount++
    if (this.transitions.length === recentTransitions) this.transitions.shift()
    this.transitions.push(transition)
  }

  /** Every figure at `at` (milliseconds), with `activeSubscribers` subscribers. */
  summarize(at: number, activeSubscribers: number): Summary {
    const entries = this.entries.slice().sort((a, b) => b.count - a.count || a.tag.localeCompare(b.tag))
    const minutes = this.windowMillis / 60_000
    const perMinute = (n: number) => n / minutes
    const severityRate = (s: ErrorFamily.Severity) => perMinute(this.severityRates[s].sum(at))
    const recovery = this.recovery
    return {
      startedAt: this.startedAt,
      at,
      total: this.total,
      bySeverity: { ...this.bySeverity },
      byTag: entries.map((e) => ({
        tag: e.tag,
        code: e.code,
        kind: e.kind,
        severity: e.severity,
        count: e.count,
        lastSeen: e.lastSeen
      })),
      rates: {
        windowSeconds: this.windowMillis / 1000,
        perMinute: perMinute(this.totalRate.sum(at)),
        lastMinute: this.lastMinute.sum(at),
        bySeverity: {
          low: severityRate("low"),
          medium: severityRate("medium"),
          high: severityRate("high"),
          critical: severityRate("critical")
        },
        byTag: entries.map((e) => ({ tag: e.tag, code: e.code, perMinute: perMinute(e.rate.sum(at)) }))
          .filter((r) => r.perMinute > 0)
      },
      recovery: {
        attempted: recovery.pending + recovery.succeeded + recovery.failed + recovery.unobserved,
        ...recovery
      },
      history: { size: this.history.size, capacity: this.history.capacity },
      dropped: this.dropped,
      subscribers: { active: activeSubscribers, ...this.subscribers },
      breakers: { transitions: this.transitionCount, recent: this.transitions.slice() },
      retriesSuppressed: { ...this.retriesSuppressed }
    }
  }
}

/** What the tracker's own layer and `ResilienceMetrics` reach through a tracker value (not public API). */
export interface Internals {
  readonly store: Store
  /** Takes in everything queued, so that the store's figures are exact when read. */
  readonly drain: () => void
  /** The tracker's consumer of the observation seam, which its layer adds. */
  readonly observer: Observer
}

const internalsKey: unique symbol = Symbol("@effect-resilience/core/internal/tracker/internals")

/** Attaches the internals to a tracker value made by `ErrorTracker.make` (a property no public type shows). */
export const attach = <T extends object>(tracker: T, internals: Internals): T =>
  Object.defineProperty(tracker, internalsKey, { value: internals })

/** The internals of a tracker made by `ErrorTracker.make`; `undefined` for any other value (a mock). */
export const internalsOf = (tracker: object): Internals | undefined =>
  (tracker as { readonly [internalsKey]?: Internals })[internalsKey]
