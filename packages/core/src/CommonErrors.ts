/**
 * Ready-made error families for the common cases: validation, not found, conflict, storage, network, timeout
 * and unavailable. Their codes use the `resilience` prefix, `resilience.E0001` to `resilience.E0007`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ErrorFamily from "./ErrorFamily.js"
import { fieldIssues } from "./internal/issues.js"

/**
 * One failing field of a {@link ValidationError}: the path to it (object keys and array indexes) and what is
 * wrong with it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FieldIssue = Schema.Struct({
  path: Schema.Array(Schema.Union([Schema.String, Schema.Number])),
  message: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type FieldIssue = typeof FieldIssue.Type

/**
 * Invalid input, with one issue per failing field. A business error: never retried, never alerts.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const rejectName = Effect.fail(new CommonErrors.ValidationError({
 *   issues: [{ path: ["name"], message: "must not be empty" }]
 * }))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ValidationError extends ErrorFamily.TaggedError<ValidationError>()("ValidationError", {
  issues: Schema.Array(FieldIssue)
}, {
  code: "resilience.E0001",
  kind: "business",
  severity: "low",
  publicMessage: ({ issues }) =>
    issues.length === 0
      ? "The request is invalid."
      : `The request is invalid: ${
        issues.map((i) => i.path.length === 0 ? i.message : `${i.path.join(".")}: ${i.message}`).join("; ")
      }`
}) {}

/**
 * Builds a {@link ValidationError} from a Schema parse failure, one {@link FieldIssue} per failing field.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const Item = Schema.Struct({ name: Schema.NonEmptyString })
 * const decodeItem = (input: unknown) =>
 *   Schema.decodeUnknownEffect(Item)(input, { errors: "all" }).pipe(
 *     Effect.mapError(CommonErrors.validationErrorFromSchema)
 *   )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validationErrorFromSchema = (error: Schema.SchemaError): ValidationError =>
  new ValidationError({
    issues: fieldIssues(error.issue),
    detail: error.message
  })

/**
 * A resource that does not exist. A business error.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const missing = new CommonErrors.NotFoundError({ resource: "item", id: "42" })
 * missing.publicMessage // "item 42 was not found"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFoundError extends ErrorFamily.TaggedError<NotFoundError>()("NotFoundError", {
  resource: Schema.String,
  id: Schema.optional(Schema.String)
}, {
  code: "resilience.E0002",
  kind: "business",
  severity: "low",
  publicMessage: ({ id, resource }) => id === undefined ? `${resource} was not found` : `${resource} ${id} was not found`
}) {}

/**
 * A request that conflicts with the current state (a duplicate, a stale version). A business error.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const conflict = new CommonErrors.ConflictError({ resource: "item", reason: "version 3 is stale" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ConflictError extends ErrorFamily.TaggedError<ConflictError>()("ConflictError", {
  resource: Schema.String,
  reason: Schema.optional(Schema.String)
}, {
  code: "resilience.E0003",
  kind: "business",
  severity: "medium",
  publicMessage: ({ reason, resource }) =>
    reason === undefined ? `The ${resource} conflicts with its current state` : `The ${resource} conflicts: ${reason}`
}) {}

/**
 * A storage operation that failed (a dropped write, a lost connection). Recoverable, high severity.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const write = Effect.tryPromise({
 *   try: () => Promise.reject(new Error("ECONNRESET")),
 *   catch: (cause) => new CommonErrors.StorageError({ operation: "items.insert", cause, detail: String(cause) })
 * })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageError extends ErrorFamily.TaggedError<StorageError>()("StorageError", {
  operation: Schema.String,
  cause: Schema.optional(Schema.Defect())
}, {
  code: "resilience.E0004",
  kind: "recoverable",
  severity: "high",
  publicMessage: "A storage operation failed. Please try again later."
}) {}

/**
 * A network call that failed (connection refused, reset, DNS). Recoverable, medium severity.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const refused = new CommonErrors.NetworkError({ target: "payments-api", detail: "ECONNREFUSED 10.0.0.7:443" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NetworkError extends ErrorFamily.TaggedError<NetworkError>()("NetworkError", {
  target: Schema.String,
  cause: Schema.optional(Schema.Defect())
}, {
  code: "resilience.E0005",
  kind: "recoverable",
  severity: "medium",
  publicMessage: "A downstream service could not be reached. Please try again later."
}) {}

/**
 * An operation that took longer than its time limit. Recoverable, medium severity. `protect` fails with it when a
 * per-attempt timeout fires.
 *
 * **Details**
 *
 * Its tag is `"TimeoutError"`, the same as effect's own `Cause.TimeoutError`, so one `catchTag("TimeoutError")`
 * and one policy cover both.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const slow = new CommonErrors.TimeoutError({ operation: "items.load", timeoutMillis: 2000 })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends ErrorFamily.TaggedError<TimeoutError>()("TimeoutError", {
  operation: Schema.String,
  timeoutMillis: Schema.Number
}, {
  code: "resilience.E0006",
  kind: "recoverable",
  severity: "medium",
  publicMessage: "The operation timed out. Please try again later."
}) {}

/**
 * A dependency that is unavailable (overloaded, in maintenance, a circuit open). Recoverable, high severity.
 * `retryAfterMillis` says when trying again makes sense, if known.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors } from "@effect-resilience/core"
 *
 * const down = new CommonErrors.UnavailableError({ service: "search", retryAfterMillis: 30_000 })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UnavailableError extends ErrorFamily.TaggedError<UnavailableError>()("UnavailableError", {
  service: Schema.String,
  retryAfterMillis: Schema.optional(Schema.Number)
}, {
  code: "resilience.E0007",
  kind: "recoverable",
  severity: "high",
  publicMessage: "The service is temporarily unavailable. Please try again later."
}) {}

/**
 * Every family in this module, as the `ErrorRegistry` lists them by default.
 *
 * @since 0.1.0
 * @category families
 */
export const families: ReadonlyArray<ErrorFamily.Any> = [
  ValidationError,
  NotFoundError,
  ConflictError,
  StorageError,
  NetworkError,
  TimeoutError,
  UnavailableError
]
