/**
 * Error logging on effect's `Logger`: error lines annotated with one set of keys, and the output format of the
 * process's log (coloured human-readable lines in a terminal, JSON lines when `LOG_FORMAT=json`).
 *
 * **Details**
 *
 * Every line of effect-resilience about an error (a retry, a give-up, a request answered with a problem, a
 * subscriber that failed) uses the same annotation keys, built here by {@link annotationsOf}:
 *
 * | key | value |
 * | --- | --- |
 * | `errorTag`, `errorCode`, `kind`, `severity` | what the error is, as `ErrorFamily.infoOf` derives it |
 * | `module` | the module that logged the line ({@link make}) |
 * | `operation`, `attempt` | the failed operation and its attempt number (from 1), when known |
 * | `requestId` | the request's id, on every line logged inside a request the HTTP edge serves |
 * | `errorFields` | the error's own fields ({@link fieldsOf}), on lines written by {@link make} |
 *
 * **Gotchas**
 *
 * - An error that is not from a declared family is annotated as `ErrorFamily.infoOf` describes it: its own
 *   `_tag` when it has one, else `UnknownError` (a `TypeError` reads `errorTag: "UnknownError"`; its class and
 *   message are in the cause when the line is logged `withCause`), with `resilience.E0000`, `unrecoverable`,
 *   `high`. effect's `Cause.TimeoutError` reads as the common `TimeoutError` (`resilience.E0006`).
 * - {@link layer} replaces the default logger of the program it is provided to, and `ErrorLayer.layer()`
 *   provides it unless given `logFormat: false`: pass that to keep a logger of your own.
 * - Lines keep `Redacted` values as they are: the loggers {@link loggerFor} gives print them as `<redacted>`; a
 *   logger of your own must not unwrap them.
 *
 * @since 0.1.0
 */
import { Cause, Config, Effect, Layer, Logger } from "effect"
import type { Severity as LogLevel } from "effect/LogLevel"
import * as ErrorFamily from "./ErrorFamily.js"

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
 * // annotations: { module: "payments", errorTag: "NetworkError", errorCode: "resilience.E0005",
 * //   kind: "recoverable", severity: "medium", operation: "charge", attempt: 1, errorFields: { target: "bank" } }
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
 * The annotations that say what an error is, on every error line: its tag, code, kind and severity.
 *
 * @since 0.2.0
 * @category models
 */
export interface Annotations {
  readonly errorTag: string
  readonly errorCode: string
  readonly kind: ErrorFamily.Kind
  readonly severity: ErrorFamily.Severity
}

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
 * The annotations of an error line: `errorTag`, `errorCode`, `kind` and `severity`, as `ErrorFamily.infoOf`
 * describes the error.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors, ErrorLogger } from "@effect-resilience/core"
 *
 * ErrorLogger.annotationsOf(new CommonErrors.NotFoundError({ resource: "item" }))
 * // { errorTag: "NotFoundError", errorCode: "resilience.E0002", kind: "business", severity: "low" }
 * ErrorLogger.annotationsOf(new TypeError("x"))
 * // { errorTag: "UnknownError", errorCode: "resilience.E0000", kind: "unrecoverable", severity: "high" }
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const annotationsOf = (error: unknown): Annotations => annotationsOfInfo(ErrorFamily.infoOf(error))

/**
 * The same annotations from an error already described: an `ErrorFamily.Info`, a `PublicView`, or anything with
 * its `tag`, `code`, `kind` and `severity` (an error tracker event, say).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorLogger, ErrorTracker } from "@effect-resilience/core"
 *
 * const onEvent = (event: ErrorTracker.ErrorEvent) =>
 *   Effect.logInfo("paged on-call").pipe(Effect.annotateLogs({ ...ErrorLogger.annotationsOfInfo(event) }))
 * ```
 *
 * @since 0.2.0
 * @category getters
 */
export const annotationsOfInfo = (
  info: Pick<ErrorFamily.PublicView, "tag" | "code" | "kind" | "severity">
): Annotations => ({ errorTag: info.tag, errorCode: info.code, kind: info.kind, severity: info.severity })

const notFields = new Set(["_tag", "detail", "cause", "stack", "message", "name"])

/**
 * The error's own fields (its tag, detail, cause and stack left out), as an error line shows them under
 * `errorFields`. Values are kept as they are, so `Redacted` fields print as `<redacted>`.
 *
 * **Example**
 *
 * ```ts
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
