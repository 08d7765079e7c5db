// Unknown option keys: a misspelt key (`validationStatuss`) is an issue naming its path and the nearest known
// name, instead of being ignored. The message has the same shape as core's options checks:
// `Unknown key "<key>", did you mean "<name>"?`, or the known names when none is near (core's OptionKeys, so both
// packages say the same); the issue's path, dotted as the edge's config issues are, says where.
import { OptionKeys } from "@effect-resilience/core"

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
    issues.push({ path, message: OptionKeys.unknownKeyMessage(key, known) })
  }
  return issues
}
