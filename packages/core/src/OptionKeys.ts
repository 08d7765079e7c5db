/**
 * Unknown option keys: how every options object of effect-resilience names a key it does not know (a misspelt
 * `openDuraton` read from a config file), with the nearest known name, so that a typo is refused instead of being
 * ignored. Exported so that the http package, and programs validating options of their own, give the same
 * message: `Unknown key "openDuraton", did you mean "openDuration"?`.
 *
 * @since 0.1.0
 */

/**
 * The edit distance of two strings: insertions, deletions, substitutions and swaps of adjacent characters (a
 * swap counts as one edit, so `defualt` is one edit from `default`).
 *
 * **Example**
 *
 * ```ts
 * import { OptionKeys } from "@effect-resilience/core"
 *
 * OptionKeys.editDistance("openDuraton", "openDuration") // 1
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const editDistance = (a: string, b: string): number => {
  if (a === b) return 0
  if (a.length === 0) return b.length
  if (b.length === 0) return a.length
  // rows i - 2, i - 1 and i of the distance matrix
  let before: Array<number> = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let distance = Math.min(current[j - 1]! + 1, previous[j]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, before[j - 2]! + 1)
      }
      current[j] = distance
    }
    before = previous
    previous = current
  }
  return previous[b.length]!
}

/**
 * The known name nearest to `name`, compared without case, when it is close: at most one edit per three
 * characters of `name` (at least one, at most three). `undefined` when no known name is that close.
 *
 * **Example**
 *
 * ```ts
 * import { OptionKeys } from "@effect-resilience/core"
 *
 * OptionKeys.suggest("polices", ["errors", "policies"]) // "policies"
 * OptionKeys.suggest("timeout", ["errors", "policies"]) // undefined
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const suggest = (name: string, known: Iterable<string>): string | undefined => {
  const lower = name.toLowerCase()
  const budget = Math.min(3, Math.max(1, Math.floor(name.length / 3)))
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    if (candidate === name) continue
    const distance = editDistance(lower, candidate.toLowerCase())
    if (distance <= budget && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/**
 * The message for an unknown key: `Unknown key "<key>"`, then `, did you mean "<name>"?` when a known name is
 * near, else the known names. The path to the key belongs to the issue that carries the message.
 *
 * **Example**
 *
 * ```ts
 * import { OptionKeys } from "@effect-resilience/core"
 *
 * OptionKeys.unknownKeyMessage("openDuraton", ["trip", "openDuration"])
 * // 'Unknown key "openDuraton", did you mean "openDuration"?'
 * OptionKeys.unknownKeyMessage("colour", ["trip", "openDuration"])
 * // 'Unknown key "colour", expected one of "trip", "openDuration"'
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const unknownKeyMessage = (key: string, known: ReadonlyArray<string>): string => {
  const near = suggest(key, known)
  if (near !== undefined) return `Unknown key ${JSON.stringify(key)}, did you mean ${JSON.stringify(near)}?`
  return known.length === 0
    ? `Unknown key ${JSON.stringify(key)}, expected no keys`
    : `Unknown key ${JSON.stringify(key)}, expected one of ${known.map((k) => JSON.stringify(k)).join(", ")}`
}
