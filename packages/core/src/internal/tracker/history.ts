import type { ErrorEvent, Recovery, Source } from "../../ErrorTracker.js"
import type { Annotations } from "./exportable.js"

type Suppressed = NonNullable<ErrorEvent["suppressed"]>

/** Why a give-up's retry was not made, in the order the history codes them. */
const suppressedReasons: ReadonlyArray<Suppressed> = ["budget", "pushback"]

/** What an event shares with the other events of its tag and code: its classification. */
export interface Classification {
  readonly tag: string
  readonly code: string
  readonly kind: ErrorEvent["kind"]
  readonly severity: ErrorEvent["severity"]
}

/**
 * The history: a ring of the last `capacity` events, oldest overwritten first.
 *
 * It keeps the parts an event is built from (references to values that already exist, and numbers) rather than
 * one new object per event. An event object that lives for the next `capacity` errors survives the young
 * generation, and V8 answers a steady stream of such survivors by growing the young generation to its maximum
 * (tens of MB of RSS); the events are built when the history is read.
 *
 * Each slot also holds a sequence number, so that a recovery given later for an event (see {@link setRecovery})
 * reaches it only while it has not been overwritten.
 */
export class History {
  private readonly timestamps: Float64Array
  private readonly sequences: Float64Array
  private readonly entries: Array<Classification>
  private readonly messages: Array<string>
  private readonly annotations: Array<Annotations>
  private readonly recoveries: Array<Recovery>
  private readonly sources: Array<Source>
  private readonly operations: Array<string | undefined>
  private readonly attempts: Array<number | undefined>
  private readonly gaveUps: Uint8Array
  /** 0: not suppressed, else the index + 1 of its reason in {@link suppressedReasons}. */
  private readonly suppressions: Uint8Array
  /** 1: the error was injected by a `Chaos` layer. */
  private readonly chaos: Uint8Array
  private next = 0
  private count = 0
  private sequence = 0

  constructor(readonly capacity: number) {
    this.timestamps = new Float64Array(capacity)
    this.sequences = new Float64Array(capacity)
    this.entries = new Array(capacity)
    this.messages = new Array(capacity)
    this.annotations = new Array(capacity)
    this.recoveries = new Array(capacity)
    this.sources = new Array(capacity)
    this.operations = new Array(capacity)
    this.attempts = new Array(capacity)
    this.gaveUps = new Uint8Array(capacity)
    this.suppressions = new Uint8Array(capacity)
    this.chaos = new Uint8Array(capacity)
  }

  /** How many events it holds. */
  get size(): number {
    return this.count
  }

  /** Adds an event, overwriting the oldest when full; returns its slot (whose sequence is {@link lastSequence}). */
  push(
    timestamp: number,
    entry: Classification,
    message: string,
    annotations: Annotations,
    recovery: Recovery,
    source: Source,
    operation: string | undefined,
    attempt: number | undefined,
    gaveUp: boolean,
    suppressed?: Suppressed | undefined,
    chaos = false
  ): number {
    const index = this.next
    this.timestamps[index] = timestamp
    this.sequences[index] = ++this.sequence
    this.entries[index] = entry
    this.messages[index] = message
    this.annotations[index] = annotations
    this.recoveries[index] = recovery
    this.sources[index] = source
    this.operations[index] = operation
    this.attempts[index] = attempt
    this.gaveUps[index] = gaveUp ? 1 : 0
    this.suppressions[index] = suppressed === undefined ? 0 : suppressedReasons.indexOf(suppressed) + 1
    this.chaos[index] = chaos ? 1 : 0
    this.next = (index + 1) % this.capacity
    if (this.count < this.capacity) this.count++
    return index
  }

  /** The sequence number of the last event pushed. */
  get lastSequence(): number {
    return this.sequence
  }

  /** Replaces the recovery of the event pushed at `index` with `sequence`, unless a newer one took its slot. */
  setRecovery(index: number, sequence: number, recovery: Recovery): void {
    if (index >= 0 && this.sequences[index] === sequence) this.recoveries[index] = recovery
  }

  /** The event in a slot, built now. */
  eventAt(index: number): ErrorEvent {
    const entry = this.entries[index]!
    const event: { -readonly [K in keyof ErrorEvent]: ErrorEvent[K] } = {
      timestamp: this.timestamps[index]!,
      tag: entry.tag,
      code: entry.code,
      kind: entry.kind,
      severity: entry.severity,
      message: this.messages[index]!,
      annotations: this.annotations[index]!,
      recovery: this.recoveries[index]!,
      source: this.sources[index]!
    }
    const operation = this.operations[index]
    const attempt = this.attempts[index]
    if (operation !== undefined) event.operation = operation
    if (attempt !== undefined) event.attempt = attempt
    // only when true, so that the JSON of every other event is what it was before the field existed
    if (this.gaveUps[index] === 1) event.gaveUp = true
    const suppression = this.suppressions[index]!
    if (suppression !== 0) event.suppressed = suppressedReasons[suppression - 1]!
    if (this.chaos[index] === 1) event.chaos = true
    return event
  }

  /** Every event held, oldest first. */
  toArray(): Array<ErrorEvent> {
    const events: Array<ErrorEvent> = []
    const start = (this.next - this.count + this.capacity) % this.capacity
    for (let i = 0; i < this.count; i++) events.push(this.eventAt((start + i) % this.capacity))
    return events
  }
}
