// Unknown option keys: a misspelt key (`validationStatuss`) is an issue naming its path and the nearest known
// name, instead of being ignored. The message has the same shape as core's options checks:
// `Unknown key "<key>", did you mean "<name>"?`, or the known names when none is near; the issue's path says where.

/**
 * The edit distance between two strings: insertions, deletions, substitutions and swaps of adjacent characters
 * (as core's options checks count it, so both packages suggest the same names).
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
 * The known name nearest to `key`, compared without case, when it is close: at most one edit per three
 * characters of `key` (at least one, at most three); `undefined` when no known name is that close.
 */
export const suggest = (key: string, known: ReadonlyArray<string>): string | undefined => {
  const lower = key.toLowerCase()
  const budget = Math.min(3, Math.max(1, Math.floor(key.length / 3)))
  let best: string | undefined
  let bestDistance = Infinity
  for (const name of known) {
    if (name === key) continue
    const distance = editDistance(lower, name.toLowerCase())
    if (distance <= budget && distance < bestDistance) {
      best = name
      bestDistance = distance
    }
  }
  return best
}

/** `Unknown key "<key>"`, then `, did you mean "<name>"?` when a known name is near, else the known names. */
export const unknownKeyMessage = (key: string, known: ReadonlyArray<string>): string => {
  const near = suggest(key, known)
  if (near !== undefined) return `Unknown key ${JSON.stringify(key)}, did you mean ${JSON.stringify(near)}?`
  return known.length === 0
    ? `Unknown key ${JSON.stringify(key)}, expected no keys`
    : `Unknown key ${JSON.stringify(key)}, expected one of ${known.map((k) => JSON.stringify(k)).join(", ")}`
}

/** One issue per own enumerable key of `value` that is not in `known`; `prefix` is the path of `value`. */
export const unknownKeys = (
  value: object,
  known: ReadonlyArray<string>,
  prefix = ""
): Array<{ readonly path: string; readonly message: string }> => {
  const issues: Array<{ readonly path: string; readonly message: string }> = []
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue
    const path = prefix === "" ? key : `${prefix}.${key}`
    issues.push({ path, message: unknownKeyMessage(key, known) })
  }
  return issues
}
