import type { SchemaIssue } from "effect"
import { Schema, SchemaAST, SchemaIssue as Issue, SchemaTransformation } from "effect"
import { unknownKeyMessage } from "../OptionKeys.js"

export { editDistance, suggest, unknownKeyMessage } from "../OptionKeys.js"

// Unknown option keys: a misspelt key (`openDuraton`) is an issue naming its path and the nearest known name,
// instead of being ignored. Option objects checked by hand use `unknownKeys`; configs decoded by Schema (with
// `onExcessProperty: "error"`) use `schemaIssues`, so both give the same message:
// `Unknown key "openDuraton", did you mean "openDuration"?`.

/** One problem with an option: the path to it, from the object checked, and the reason. */
export interface KeyIssue {
  readonly path: Array<string>
  readonly message: string
}

/**
 * Whether a value is an object that is not an array (nor `null`): one whose keys can be options. It narrows to
 * `object` only, so a typed options value keeps its type.
 */
export const isRecord = (value: unknown): value is object =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * One issue per own enumerable string key of `value` that is not in `known`, in key order; `path` is the path of
 * `value` itself, prepended to each issue's path. A value that is not a plain object (an array, a primitive,
 * `null`, `undefined`) has no unknown keys: its type is checked elsewhere.
 */
export const unknownKeys = (
  value: unknown,
  known: ReadonlyArray<string>,
  path: ReadonlyArray<string> = []
): Array<KeyIssue> => {
  if (!isRecord(value)) return []
  const issues: Array<KeyIssue> = []
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) issues.push({ path: [...path, key], message: unknownKeyMessage(key, known) })
  }
  return issues
}

/** A value as a short text for a message: its JSON where it has one. */
export const show = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * The issues of an options object read from untyped input (JSON): its unknown keys, or one issue at `path` when
 * it is not an object at all. When `isRecord(value)` is false the caller has nothing more to read.
 */
export const optionIssues = (
  value: unknown,
  known: ReadonlyArray<string>,
  path: ReadonlyArray<string> = []
): Array<KeyIssue> =>
  isRecord(value) ? unknownKeys(value, known, path) : [{ path: [...path], message: `Expected an object, got ${show(value)}` }]

/**
 * The keys of an options type, from a record that must list every one of them (so the list cannot fall behind
 * the type): `knownKeys<Options>({ trip: true, openDuration: true })`.
 */
export const knownKeys = <T>(keys: { readonly [K in keyof Required<T>]: true }): ReadonlyArray<string> =>
  Object.keys(keys)

// A Schema issue tree, formatted with the unknown keys of each struct marked, so that their message can be built
// from the key (the last path segment) and the struct's own keys.
const marker = "\u0000unknown-key\u0000"

/**
 * A Schema issue tree as one `{ path, message }` per failing field (path segments as strings), as
 * `internal/issues.ts` gives it, except that an excess property (decoded with `onExcessProperty: "error"`) reads
 * `Unknown key "<key>", did you mean "<name>"?` with the struct's keys instead of "Expected no excess property".
 */
export const schemaIssues = (
  issue: SchemaIssue.Issue
): Array<{ readonly path: Array<string | number>; readonly message: string }> => {
  const structKeys: Array<ReadonlyArray<string>> = []
  const format = Issue.makeFormatterStandardSchemaV1({
    leafHook: (leaf) => {
      if (leaf._tag !== "UnexpectedKey") return Issue.defaultLeafHook(leaf)
      const keys = SchemaAST.isObjects(leaf.ast)
        ? leaf.ast.propertySignatures.map((p) => String(p.name))
        : []
      return `${marker}${structKeys.push(keys) - 1}`
    }
  })
  return format(issue).issues.map((i) => {
    // keys as strings, array indexes as numbers, as a ConfigError's path has them
    const path = (i.path ?? []).map((segment): string | number => {
      const key = typeof segment === "object" && segment !== null ? segment.key : segment
      return typeof key === "number" ? key : String(key)
    })
    if (!i.message.startsWith(marker)) return { path, message: i.message }
    const known = structKeys[Number(i.message.slice(marker.length))] ?? []
    return { path, message: unknownKeyMessage(String(path[path.length - 1] ?? ""), known) }
  })
}

/**
 * A value `is` accepts, decoded as itself; any other fails with `message(value)` (which can show what it got, as
 * a type annotation cannot). Filters checked after it see a value of type `T`. For options that hold values
 * rather than data (trip rules, schedules, predicates), and for the object check below.
 */
export const guarded = <T>(is: (u: unknown) => u is T, message: (u: unknown) => string) =>
  Schema.Unknown.check(Schema.makeFilter((u) => is(u) ? undefined : message(u), undefined, true)).pipe(
    Schema.refine(is)
  )

/** Options read from JSON are not typed: a value that is not an object has no options to read. */
export const anObject = guarded(isRecord, (u) => `Expected an object, got ${show(u)}`)

/** An options object decoded by `schema` once it is known to be an object (so its own message comes first). */
export const objectOf = <S extends Schema.Codec<any, object>>(schema: S) =>
  anObject.pipe(Schema.decodeTo(schema, SchemaTransformation.passthroughSupertype()))
