import { Redacted } from "effect"

/** Log annotations as an event exports them: JSON values only. */
export type Annotations = Readonly<Record<string, string | number | boolean>>

/** Longer strings are cut to this many characters. */
export const maxAnnotationLength = 1024

/**
 * A log annotation's value as it may leave the process: strings (cut to {@link maxAnnotationLength}), numbers and
 * booleans as they are, bigints as strings, `Redacted` values as `"<redacted>"`, other objects as their JSON;
 * `undefined` (the key is left out) for what has no such form (`null`, functions, symbols, cycles).
 */
export const exportable = (value: unknown): string | number | boolean | undefined => {
  if (typeof value === "string") return value.length > maxAnnotationLength ? value.slice(0, maxAnnotationLength) : value
  if (typeof value === "number" || typeof value === "boolean") return value
  if (typeof value === "bigint") return value.toString()
  if (value === null || value === undefined || typeof value === "function" || typeof value === "symbol") return undefined
  if (Redacted.isRedacted(value)) return "<redacted>"
  try {
    return exportable(JSON.stringify(value))
  } catch {
    return undefined
  }
}

/** The annotations of an event without any. */
export const noAnnotations: Annotations = {}

/** Every annotation that has an exportable value (see {@link exportable}). */
export const exportAnnotations = (annotations: Readonly<Record<string, unknown>>): Annotations => {
  const out: Record<string, string | number | boolean> = {}
  for (const key of Object.keys(annotations)) {
    const value = exportable(annotations[key])
    if (value !== undefined) out[key] = value
  }
  return out
}

/**
 * {@link exportAnnotations} remembering its last answer: the annotations of consecutive events are often the same
 * object (one fiber, one run), so they are exported once and the events share the result.
 */
export class AnnotationMemo {
  private input: Readonly<Record<string, unknown>> | undefined = undefined
  private output: Annotations = noAnnotations

  of(annotations: Readonly<Record<string, unknown>> | undefined): Annotations {
    if (annotations === undefined) return noAnnotations
    if (annotations !== this.input) {
      this.input = annotations
      this.output = exportAnnotations(annotations)
    }
    return this.output
  }
}
