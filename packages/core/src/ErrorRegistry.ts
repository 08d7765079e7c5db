/**
 * The registry of declared error families: what tools and docs enumerate, and the guard that keeps codes and
 * tags unique.
 *
 * **Gotchas**
 *
 * - The same class listed twice counts once; two different classes with one code (or one tag) are refused,
 *   even when everything else about them is the same.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import * as CommonErrors from "./CommonErrors.js"
import { ConfigError } from "./ConfigError.js"
import type * as ErrorFamily from "./ErrorFamily.js"

/**
 * The registry: every family it was built with, looked up by tag or code.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorRegistry {
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
export const ErrorRegistry: Context.Service<ErrorRegistry, ErrorRegistry> = Context.Service<ErrorRegistry>(
  "@effect-resilience/core/ErrorRegistry"
)

/**
 * Builds a registry from families. The same class listed twice counts once; two different families with the same
 * code or the same tag fail with a `ConfigError` with one issue per clash, naming both families, and no registry
 * is built.
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
 * const registry = ErrorRegistry.make([OutOfStock]) // Effect<ErrorRegistry, ConfigError>
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  families: Iterable<ErrorFamily.Any>,
  options?: { readonly includeCommon?: boolean | undefined }
): Effect.Effect<ErrorRegistry, ConfigError> =>
  Effect.suspend(() => {
    const all = new Set<ErrorFamily.FamilyInfo>()
    if (options?.includeCommon !== false) {
      for (const family of CommonErrors.families) all.add(family.family)
    }
    for (const family of families) all.add(family.family)
    const tags = new Map<string, ErrorFamily.FamilyInfo>()
    const codes = new Map<string, ErrorFamily.FamilyInfo>()
    const issues: Array<ConfigError["issues"][number]> = []
    for (const info of all) {
      const sameCode = codes.get(info.code)
      const sameTag = tags.get(info.tag)
      if (sameCode !== undefined) {
        issues.push({ path: [], message: `Error code ${info.code} is declared by both ${sameCode.tag} and ${info.tag}` })
      } else if (sameTag !== undefined) {
        issues.push({
          path: [],
          message: `Error tag ${info.tag} is declared by two different families (codes ${sameTag.code} and ${info.code})`
        })
      }
      if (sameCode === undefined) codes.set(info.code, info)
      if (sameTag === undefined) tags.set(info.tag, info)
    }
    if (issues.length > 0) return Effect.fail(new ConfigError({ issues }))
    const sorted = [...all].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
    return Effect.succeed<ErrorRegistry>({
      families: sorted,
      byTag: (tag) => tags.get(tag),
      byCode: (code) => codes.get(code)
    })
  })

/**
 * A layer providing the registry built by {@link make}; its build fails with a `ConfigError` on a duplicate.
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
): Layer.Layer<ErrorRegistry, ConfigError> => Layer.effect(ErrorRegistry, make(families, options))
