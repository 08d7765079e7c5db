/**
 * The one error for invalid options, whichever part of the library they are for (policies, breakers, the error
 * tracker, `ErrorLayer` itself, the HTTP edge): every problem found, each as a path and a message, and nothing
 * built from options that have one.
 *
 * **Details**
 *
 * Paths are rooted at the options object the user passed: `ErrorLayer.layer({ breakers: { breakers: { storage:
 * { openDuraton: "5 seconds" } } } })` fails with the path `["breakers", "breakers", "storage", "openDuraton"]`, and
 * the same breaker options given to `BreakerRegistry.layer` with `["breakers", "storage", "openDuraton"]`. So the
 * path says where to look in the caller's own code or config file, whatever layer read it.
 *
 * **Gotchas**
 *
 * - `Config.ConfigError` (effect's, for values read from the environment, such as `LOG_FORMAT`) is a different
 *   error; `ErrorLayer`'s error type lists both.
 *
 * @since 0.2.0
 */
import type { SchemaIssue } from "effect"
import { Schema } from "effect"
import { schemaIssues } from "./internal/unknownKeys.js"

/**
 * One problem: where (`path`, keys and array indexes from the options root) and why.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Issue = Schema.Struct({
  path: Schema.Array(Schema.Union([Schema.String, Schema.Number])),
  message: Schema.String
})

/**
 * @since 0.2.0
 * @category models
 */
export type Issue = typeof Issue.Type

/**
 * Invalid options: every issue found, at once.
 *
 * **Example**
 *
 * ```ts
 * import { ConfigError } from "@effect-resilience/core"
 *
 * const error = new ConfigError.ConfigError({
 *   issues: [{ path: ["breakers", "storage", "halfOpenProbes"], message: "Expected an integer of at least 1, got 0" }]
 * })
 * error.message // 'Invalid options: breakers.storage.halfOpenProbes: Expected an integer of at least 1, got 0'
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  issues: Schema.Array(Issue)
}) {
  override get message(): string {
    return `Invalid options: ${this.issues.map(format).join("; ")}`
  }
}

/**
 * Whether a value is a {@link ConfigError}.
 *
 * **Example**
 *
 * ```ts
 * import { ConfigError } from "@effect-resilience/core"
 *
 * ConfigError.isConfigError(new ConfigError.ConfigError({ issues: [] })) // true
 * ```
 *
 * @since 0.2.0
 * @category guards
 */
export const isConfigError = (u: unknown): u is ConfigError => u instanceof ConfigError

/**
 * One issue as a message shows it: `a.b.0.c: message`, or the message alone for the root.
 *
 * **Example**
 *
 * ```ts
 * import { ConfigError } from "@effect-resilience/core"
 *
 * ConfigError.format({ path: ["policies", "StorageError", "maxAttempts"], message: "Expected a positive integer" })
 * // "policies.StorageError.maxAttempts: Expected a positive integer"
 * ```
 *
 * @since 0.2.0
 * @category formatting
 */
export const format = (issue: Issue): string =>
  issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`

/**
 * The issues of a Schema decoding failure, under `path` (an excess property, decoded with
 * `onExcessProperty: "error"`, reads `Unknown key "<key>", did you mean "<name>"?`).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { ConfigError } from "@effect-resilience/core"
 *
 * const Options = Schema.Struct({ size: Schema.optional(Schema.Int) })
 * const result = Schema.decodeUnknownExit(Options)({ szie: 3 }, { onExcessProperty: "error" })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromSchemaIssue = (issue: SchemaIssue.Issue, path: ReadonlyArray<string | number> = []): Array<Issue> =>
  schemaIssues(issue).map((i) => ({ path: [...path, ...i.path], message: i.message }))

/**
 * The same error with every path under `prefix`: how a layer that reads a section of its own options (the
 * `breakers` of `ErrorLayer`) roots the section's issues at its own options.
 *
 * **Example**
 *
 * ```ts
 * import { ConfigError } from "@effect-resilience/core"
 *
 * const inner = new ConfigError.ConfigError({ issues: [{ path: ["historySize"], message: "Expected a positive integer" }] })
 * ConfigError.under(inner, ["tracker"]).issues[0]?.path // ["tracker", "historySize"]
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const under = (error: ConfigError, prefix: ReadonlyArray<string | number>): ConfigError =>
  prefix.length === 0 ? error : new ConfigError({
    issues: error.issues.map((issue) => ({ path: [...prefix, ...issue.path], message: issue.message }))
  })
