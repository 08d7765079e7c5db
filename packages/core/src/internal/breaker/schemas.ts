// Schema building blocks for options that hold values rather than data (trip rules, schedules, predicates): such a
// value is checked by a guard and filters, and decodes to itself.
import { Schema } from "effect"

/**
 * A value `is` accepts, decoded as itself; any other fails with `message(value)` (which can show what it got, as
 * a type annotation cannot). Filters checked after it see a value of type `T`.
 */
export const guarded = <T>(is: (u: unknown) => u is T, message: (u: unknown) => string) =>
  Schema.Unknown.check(Schema.makeFilter((u) => is(u) ? undefined : message(u), undefined, true)).pipe(
    Schema.refine(is)
  )

const isCount = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u) && u >= 1

/** An integer of at least 1. */
export const Count = guarded(isCount, (u) => `Expected an integer of at least 1, got ${String(u)}`)
