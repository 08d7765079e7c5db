/**
 * Error logging on effect's `Logger`: coloured human-readable lines in a terminal, JSON lines when
 * `LOG_FORMAT=json`, each error line annotated with the module name, error tag, code, severity, attempt and the
 * error's own fields, where `Redacted` values print as `<redacted>`.
 *
 * @since 0.1.0
 */
import { Cause, Config, Effect, Layer, Logger } from "effect"
import type { Severity as LogLevel } from "effect/LogLevel"
import * as ErrorFamily from "./ErrorFamily.js"

/**
 * The annotations an error line carries: `errorTag`, and for declared families `errorCode`, `kind` and
 * `severity`.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors, ErrorLogger } from "@effect-resilience/core"
 *
 * ErrorLogger.annotationsOf(new CommonErrors.NotFoundError({ resource: "item" }))
 * // { errorTag: "NotFoundError", errorCode: "resilience.E0002", kind: "business", severity: "low" }
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const annotationsOf = (error: unknown): Record<string, unknown> => {
  const errorTag = ErrorFamily.tagOf(error) ?? (error instanceof globalThis.Error ? error.name : typeof error)
  return ErrorFamily.isClassified(error)
    ? { errorTag, errorCode: error.code, kind: error.kind, severity: error.severity }
    : { errorTag }
}

const notFields = new Set(["_tag", "detail", "cause", "stack", "message", "name"])

/**
 * The error's own fields (its tag, detail, cause and stack left out), as an error line shows them under
 * `errorFields`. Values are kept as they are, so `Redacted` fields print as `<redacted>`.
 *
 * **Example**
 *
 * ```ts
 * import { Redacted } from "effect"
 * import { CommonErrors, ErrorLogger } from "@effect-resilience/core"
 *
 * ErrorLogger.fieldsOf(new CommonErrors.NetworkError({ target: "bank", detail: "ECONNREFUSED" }))
 * // { target: "bank" }
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const fieldsOf = (error: unknown): Record<string, unknown> | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  let fields: Record<string, unknown> | undefined
  for (const key of Object.keys(error)) {
    if (notFields.has(key)) continue
    ;(fields ??= {})[key] = (error as Record<string, unknown>)[key]
  }
  return fields
}

/**
 * Extra context of one error line.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogContext {
  /** Attempt number, starting at 1 for the first try. */
  readonly attempt?: number | undefined
  /** Name of the operation that failed. */
  readonly operation?: string | undefined
  /** Further annotations. Wrap secrets in `Redacted`: they print as `<redacted>`. */
  readonly annotations?: Record<string, unknown> | undefined
  /** Attach the error's full cause (stack and internal detail) to the line. */
  readonly withCause?: boolean | undefined
}

/**
 * A logger for one module of an application.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorLogger {
  readonly module: string
  /** Logs an error at `level`, with the error's annotations, its fields (`errorFields`) and the module name. */
  readonly log: (level: LogLevel, message: string, error: unknown, context?: LogContext) => Effect.Effect<void>
}

/**
 * Makes the error logger of a module. Lines go through effect's logging, so they reach whatever `Logger` is
 * installed (for example the one {@link layer} installs) and carry the fiber's other annotations and spans.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, ErrorLogger } from "@effect-resilience/core"
 *
 * const log = ErrorLogger.make("payments")
 * const program = Effect.fail(new CommonErrors.NetworkError({ target: "bank" })).pipe(
 *   Effect.tapError((error) => log.log("Warn", "charge failed", error, { attempt: 1, operation: "charge" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (module: string): ErrorLogger => ({
  module,
  log: (level, message, error, context) => {
    const annotations: Record<string, unknown> = { ...context?.annotations, module, ...annotationsOf(error) }
    if (context?.operation !== undefined) annotations.operation = context.operation
    if (context?.attempt !== undefined) annotations.attempt = context.attempt
    const fields = fieldsOf(error)
    if (fields !== undefined) annotations.errorFields = fields
    const line = context?.withCause === true
      ? Effect.logWithLevel(level)(message, Cause.fail(error))
      : Effect.logWithLevel(level)(message)
    return Effect.annotateLogs(line, annotations)
  }
})

/**
 * Output format of the logger {@link layer} installs.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "pretty" | "json"

/**
 * The `LOG_FORMAT` setting: `pretty` (the default) or `json`. Any other value is a `ConfigError`.
 *
 * @since 0.1.0
 * @category config
 */
export const formatConfig: Config.Config<Format> = Config.Literals(["pretty", "json"], "LOG_FORMAT").pipe(
  Config.withDefault<Format>("pretty")
)

/**
 * The effect `Logger` for a format: `consoleJson` (one JSON object a line; `Redacted` values print as
 * `<redacted>`) or `consolePretty` (coloured when the output is a terminal).
 *
 * **Example**
 *
 * ```ts
 * import { Logger } from "effect"
 * import { ErrorLogger } from "@effect-resilience/core"
 *
 * const JsonLogs = Logger.layer([ErrorLogger.loggerFor("json")])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const loggerFor = (format: Format): Logger.Logger<unknown, void> =>
  format === "json" ? Logger.consoleJson : Logger.consolePretty({ colors: "auto" })

/**
 * Installs the error logger's output, replacing the default logger. Without a `format` it reads `LOG_FORMAT`
 * through effect's `Config` (so a `ConfigProvider` can set it), and the layer fails with a `ConfigError` on a
 * value other than `pretty` or `json`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorLogger } from "@effect-resilience/core"
 *
 * const program = Effect.logWarning("disk almost full").pipe(Effect.provide(ErrorLogger.layer({ format: "json" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: { readonly format?: Format | undefined }): Layer.Layer<never, Config.ConfigError> =>
  options?.format !== undefined
    ? Logger.layer([loggerFor(options.format)])
    : Layer.unwrap(Effect.map(formatConfig, (format) => Logger.layer([loggerFor(format)])))
