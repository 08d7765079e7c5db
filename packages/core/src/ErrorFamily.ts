/**
 * Typed error families: one declaration gives a `Schema.TaggedError` class whose instances carry their
 * classification (kind, severity, stable code) and keep a client-safe public message apart from internal detail.
 *
 * @since 0.1.0
 */
import { Cause, ErrorReporter, Predicate, Schema } from "effect"
import type { Severity as LogSeverity } from "effect/LogLevel"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-resilience/core/ErrorFamily")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What an error means for the caller.
 *
 * - `"business"`: an expected outcome ("not found", "out of stock"). Never retried, never alerts.
 * - `"recoverable"`: technical and transient. Retry and recovery apply.
 * - `"unrecoverable"`: technical and permanent. Not retried; its cleanup runs and an alert is raised.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "business" | "recoverable" | "unrecoverable"

/**
 * How bad an error is, from `"low"` to `"critical"`.
 *
 * @since 0.1.0
 * @category models
 */
export type Severity = "low" | "medium" | "high" | "critical"

/**
 * A stable error code: a lowercase service prefix, a dot, `E` and four digits, such as `shop.E0001`.
 * The prefix may itself contain dots (`shop.payments.E0001`).
 *
 * @since 0.1.0
 * @category models
 */
export type Code = `${string}.E${number}`

/**
 * The pattern every {@link Code} must match at run time.
 *
 * @since 0.1.0
 * @category models
 */
export const codePattern: RegExp = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*\.E\d{4}$/

/**
 * Schema of {@link Kind}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const KindSchema = Schema.Literals(["business", "recoverable", "unrecoverable"])

/**
 * Schema of {@link Severity}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SeveritySchema = Schema.Literals(["low", "medium", "high", "critical"])

/**
 * The static description of a family, as listed by the `ErrorRegistry`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FamilyInfo<Tag extends string = string> {
  readonly tag: Tag
  readonly kind: Kind
  readonly severity: Severity
  readonly code: Code
}

/**
 * The classification given when a family is declared. Only `code` is required.
 *
 * - `kind` defaults to `"recoverable"`, `severity` to `"medium"`.
 * - `publicMessage` is what a client may see: a fixed string, or a function of the error's fields. It
 *   defaults to a generic sentence for the kind. Never put internal detail in it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClassificationInput<Fields> {
  readonly code: Code
  readonly kind?: Kind | undefined
  readonly severity?: Severity | undefined
  readonly publicMessage?: string | ((fields: Fields) => string) | undefined
}

/**
 * What every instance of a family carries, besides its own fields.
 *
 * - `publicMessage` is safe to show a client.
 * - `detail` (optional, set at construction) is internal: it is the error's `message` in logs and
 *   `Cause.pretty`, and must never leave the process. {@link publicView} leaves it out.
 *
 * @since 0.1.0
 * @category models
 */
export interface Classified {
  readonly [TypeId]: TypeId
  readonly kind: Kind
  readonly severity: Severity
  readonly code: Code
  readonly publicMessage: string
  readonly detail?: string | undefined
}

/**
 * The fields every family adds to the ones it declares: the internal `detail`.
 *
 * @since 0.1.0
 * @category models
 */
export type BaseFields = { readonly detail: Schema.optional<Schema.String> }

/**
 * The class a declaration returns: a `Schema.TaggedError` class (so `catchTag`, `catchTags` and Schema encoding
 * work) whose instances are {@link Classified}, with the family's static {@link FamilyInfo} as `family`.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorFamilyClass<Self, Tag extends string, Fields extends Schema.Struct.Fields> =
  & Schema.Class<Self, Schema.TaggedStruct<Tag, Fields & BaseFields>, Cause.YieldableError & Classified>
  & { readonly family: FamilyInfo<Tag> }

/**
 * Any declared family, for registries and policies.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = (abstract new(...args: any) => Classified & { readonly _tag: string }) & {
  readonly family: FamilyInfo
}

const defaultPublicMessage: Record<Kind, string> = {
  business: "The request could not be completed.",
  recoverable: "A temporary problem occurred. Please try again later.",
  unrecoverable: "An internal error occurred."
}

const reporterSeverity: Record<Severity, LogSeverity> = {
  low: "Info",
  medium: "Warn",
  high: "Error",
  critical: "Fatal"
}

/**
 * Declares an error family: a tag, its fields as a Schema and its classification, in one declaration.
 *
 * **Details**
 *
 * The class is a `Schema.TaggedError`, so it works with `catchTag`/`catchTags`, can be yielded in `Effect.gen`
 * and encodes to JSON through its Schema. Every instance also carries `kind`, `severity`, `code` and
 * `publicMessage`, an optional internal `detail`, and the annotations effect's `ErrorReporter` reads
 * (business errors are not reported). A malformed code is rejected here, at declaration; duplicate codes are
 * rejected when the `ErrorRegistry` is built.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ErrorFamily } from "@effect-resilience/core"
 *
 * class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
 *   code: "shop.E0001",
 *   kind: "business",
 *   severity: "low",
 *   publicMessage: ({ sku }) => `Item ${sku} is out of stock`
 * }) {}
 *
 * const program = Effect.fail(new OutOfStock({ sku: "A-1", detail: "stock row 0 for warehouse 7" }))
 * const message = program.pipe(Effect.catchTag("OutOfStock", (e) => Effect.succeed(e.publicMessage)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const TaggedError = <Self = never>() =>
<const Tag extends string, const Fields extends Schema.Struct.Fields>(
  tag: Tag,
  fields: Fields,
  classification: ClassificationInput<Schema.Struct.Type<Fields>>
): [Self] extends [never] ? "Missing `Self` generic: use ErrorFamily.TaggedError<Self>()(...)"
  : ErrorFamilyClass<Self, Tag, Fields> =>
{
  if (!codePattern.test(classification.code)) {
    throw new globalThis.Error(
      `ErrorFamily "${tag}": code "${classification.code}" is not of the form service.E0001 ` +
        `(lowercase service prefix, ".E", four digits)`
    )
  }
  const kind = classification.kind ?? "recoverable"
  const severity = classification.severity ?? "medium"
  const info: FamilyInfo<Tag> = { tag, kind, severity, code: classification.code }
  const publicMessage = classification.publicMessage ?? defaultPublicMessage[kind]
  // Schema classes must not be subclassed twice (the user's `class X extends ...` is the one subclass), so the
  // classification goes on the prototype of the class Schema.TaggedError returns.
  const Base: { readonly prototype: object } = Schema.TaggedError<{}>()(tag, {
    ...fields,
    detail: Schema.optional(Schema.String)
  })
  Object.defineProperties(Base.prototype, {
    [TypeId]: { value: TypeId },
    kind: { value: kind },
    severity: { value: severity },
    code: { value: info.code },
    publicMessage: typeof publicMessage === "string"
      ? { value: publicMessage }
      : { get(this: Schema.Struct.Type<Fields>) { return publicMessage(this) } },
    // Error.message is the internal view (logs, Cause.pretty): the detail when there is one.
    message: {
      get(this: Classified) {
        return this.detail ?? this.publicMessage
      },
      configurable: true
    },
    [ErrorReporter.severity]: { value: reporterSeverity[severity] },
    [ErrorReporter.ignore]: { value: kind === "business" },
    [ErrorReporter.attributes]: { value: { code: info.code, kind, severity } }
  })
  Object.defineProperty(Base, "family", { value: info })
  return Base as never
}

/**
 * Whether a value is an instance of a declared family.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorFamily, CommonErrors } from "@effect-resilience/core"
 *
 * ErrorFamily.isClassified(new CommonErrors.NotFoundError({ resource: "item" })) // true
 * ErrorFamily.isClassified(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isClassified = (u: unknown): u is Classified & { readonly _tag: string } =>
  Predicate.hasProperty(u, TypeId)

/**
 * The `_tag` of a tagged value, or `undefined` for anything untagged.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorFamily } from "@effect-resilience/core"
 *
 * ErrorFamily.tagOf({ _tag: "StorageError" }) // "StorageError"
 * ErrorFamily.tagOf("boom") // undefined
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const tagOf = (u: unknown): string | undefined =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" ? u._tag : undefined

/**
 * The JSON-safe view of an error that may leave the process: tag, code, kind, severity and the public message.
 * Internal detail, causes, stacks and fields are left out. Errors that are not from a declared family are
 * shown as an unrecoverable internal error, so nothing unclassified leaks.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorFamily, CommonErrors } from "@effect-resilience/core"
 *
 * const view = ErrorFamily.publicView(new CommonErrors.StorageError({ operation: "save", detail: "pg: ECONNRESET" }))
 * // { tag: "StorageError", code: "resilience.E0004", kind: "recoverable", severity: "high",
 * //   message: "A storage operation failed. Please try again later." }
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const publicView = (error: unknown): PublicView =>
  isClassified(error)
    ? {
      tag: error._tag,
      code: error.code,
      kind: error.kind,
      severity: error.severity,
      message: error.publicMessage
    }
    : {
      tag: "UnknownError",
      code: "resilience.E0000",
      kind: "unrecoverable",
      severity: "high",
      message: defaultPublicMessage.unrecoverable
    }

/**
 * What an error is, derived in one place for every consumer (log lines, the error tracker, metrics, the HTTP
 * edge): its tag, code, kind, severity and public message, and whether it is from a declared family.
 *
 * - A declared family gives its own classification.
 * - effect's `Cause.TimeoutError` (from `Effect.timeout`) shares the tag of the common `TimeoutError` and is
 *   described as it: `resilience.E0006`, recoverable, medium.
 * - Anything else keeps its own `_tag` when it has one (`"UnknownError"` when not) and is described as an
 *   unrecoverable internal error, `resilience.E0000`, high, with the generic public message.
 *
 * **Example**
 *
 * ```ts
 * import { Cause } from "effect"
 * import { CommonErrors, ErrorFamily } from "@effect-resilience/core"
 *
 * ErrorFamily.infoOf(new CommonErrors.NotFoundError({ resource: "item" })).code // "resilience.E0002"
 * ErrorFamily.infoOf(new Cause.TimeoutError()).code // "resilience.E0006"
 * ErrorFamily.infoOf({ _tag: "PaymentDeclined" }).tag // "PaymentDeclined"
 * ErrorFamily.infoOf(new Error("boom")).tag // "UnknownError"
 * ```
 *
 * @since 0.2.0
 * @category getters
 */
export const infoOf = (error: unknown): Info => {
  if (isClassified(error)) {
    return {
      tag: error._tag,
      code: error.code,
      kind: error.kind,
      severity: error.severity,
      message: error.publicMessage,
      classified: true
    }
  }
  if (Cause.isTimeoutError(error)) return effectTimeoutInfo
  const tag = tagOf(error)
  return tag === undefined ? unknownInfo : { ...unknownInfo, tag }
}

/**
 * What {@link infoOf} derives: the {@link PublicView} fields, and whether the error is from a declared family
 * (`classified`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Info extends PublicView {
  readonly classified: boolean
}

const unknownInfo: Info = {
  tag: "UnknownError",
  code: "resilience.E0000",
  kind: "unrecoverable",
  severity: "high",
  message: defaultPublicMessage.unrecoverable,
  classified: false
}

const effectTimeoutInfo: Info = {
  tag: "TimeoutError",
  code: "resilience.E0006",
  kind: "recoverable",
  severity: "medium",
  message: "The operation timed out. Please try again later.",
  classified: false
}

/**
 * Schema of the value {@link publicView} returns.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PublicView = Schema.Struct({
  tag: Schema.String,
  code: Schema.String,
  kind: KindSchema,
  severity: SeveritySchema,
  message: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type PublicView = typeof PublicView.Type
