/**
 * The registry of declared error families: what tools and docs enumerate, and the guard that keeps codes unique.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import * as CommonErrors from "./CommonErrors.js"
import * as ErrorFamily from "./ErrorFamily.js"

/**
 * The registry: every family it was built with, looked up by tag or code.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorRegistryShape {
  /** Every family, sorted by code. */
  readonly families: ReadonlyArray<ErrorFamily.FamilyInfo>
  readonly byTag: (tag: string) => ErrorFamily.FamilyInfo | undefined
  readonly byCode: (code: string) => ErrorFamily.FamilyInfo | undefined
}

/**
 * The service holding the registry. `ErrorLayer` provides it, built from the common families, the families you
 * list and those your policies name.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorRegistry } from "@effect-resilience/core"
 *
 * const codes = ErrorRegistry.ErrorRegistry.useSync((registry) => registry.families.map((f) => `${f.code} ${f.tag}`))
 * const printed = codes.pipe(Effect.provide(ErrorRegistry.layer([])))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class ErrorRegistry extends Context.Service<ErrorRegistry, ErrorRegistryShape>()(
  "@effect-resilience/core/ErrorRegistry"
) {}

/**
 * Builds a registry from families. The same class listed twice counts once; two different families with the same
 * code or the same tag fail with an {@link ErrorRegistryError} naming both, and no registry is built.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ErrorFamily, ErrorRegistry } from "@effect-resilience/core"
 *
 * class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
 *   code: "shop.E0001",
 *   kind: "business"
 * }) {}
 *
 * const registry = ErrorRegistry.make([OutOfStock]) // Effect<ErrorRegistryShape, ErrorRegistryError>
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  families: Iterable<ErrorFamily.Any>,
  options?: { readonly includeCommon?: boolean | undefined }
): Effect.Effect<ErrorRegistryShape, ErrorRegistryError> =>
  Effect.suspend(() => {
    const all = new Set<ErrorFamily.FamilyInfo>()
    if (options?.includeCommon !== false) {
      for (const family of CommonErrors.families) all.add(family.family)
    }
    for (const family of families) all.add(family.family)
    const tags = new Map<string, ErrorFamily.FamilyInfo>()
    const codes = new Map<string, ErrorFamily.FamilyInfo>()
    for (const info of all) {
      const sameCode = codes.get(info.code)
      if (sameCode !== undefined) {
        return Effect.fail(
          new ErrorRegistryError({ reason: "DuplicateCode", code: info.code, tags: [sameCode.tag, info.tag] })
        )
      }
      const sameTag = tags.get(info.tag)
      if (sameTag !== undefined) {
        return Effect.fail(
          new ErrorRegistryError({ reason: "DuplicateTag", code: info.code, tags: [sameTag.tag, info.tag] })
        )
      }
      codes.set(info.code, info)
      tags.set(info.tag, info)
    }
    const sorted = [...all].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
    return Effect.succeed<ErrorRegistryShape>({
      families: sorted,
      byTag: (tag) => tags.get(tag),
      byCode: (code) => codes.get(code)
    })
  })

/**
 * A layer providing the registry built by {@link make}; its build fails with {@link ErrorRegistryError} on a
 * duplicate.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorRegistry } from "@effect-resilience/core"
 *
 * const RegistryLive = ErrorRegistry.layer([]) // the common families only
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  families: Iterable<ErrorFamily.Any>,
  options?: { readonly includeCommon?: boolean | undefined }
): Layer.Layer<ErrorRegistry, ErrorRegistryError> => Layer.effect(ErrorRegistry, make(families, options))

/**
 * Two families claim the same code or tag. Raised when a registry is built.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorRegistry } from "@effect-resilience/core"
 *
 * const error = new ErrorRegistry.ErrorRegistryError({
 *   reason: "DuplicateCode",
 *   code: "shop.E0001",
 *   tags: ["OutOfStock", "PaymentDeclined"]
 * })
 * error.message // 'Error code shop.E0001 is declared by both OutOfStock and PaymentDeclined'
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ErrorRegistryError extends Schema.TaggedError<ErrorRegistryError>()("ErrorRegistryError", {
  reason: Schema.Literals(["DuplicateCode", "DuplicateTag"]),
  code: Schema.String,
  tags: Schema.Tuple([Schema.String, Schema.String])
}) {
  override get message(): string {
    return this.reason === "DuplicateCode"
      ? `Error code ${this.code} is declared by both ${this.tags[0]} and ${this.tags[1]}`
      : `Error tag ${this.tags[0]} is declared by two different families (the second has code ${this.code})`
  }
}
