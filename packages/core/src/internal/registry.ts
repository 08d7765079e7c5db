// What the registries of named strategies (breakers, bulkheads, rate limiters) share: checking their options (the
// registry's own keys, then the default's and each named one's, every problem before anything is built), and
// the per-registry cache of their `withX` combinators.
import type { Exit } from "effect"
import { Context, Effect } from "effect"
import * as ConfigError from "../ConfigError.js"
import { isRecord } from "./unknownKeys.js"

/** What checking gave: every problem, the named configs that were valid, the default's, and the options read. */
export interface Checked<Config> {
  readonly issues: ReadonlyArray<ConfigError.Issue>
  readonly configs: ReadonlyMap<string, Config>
  readonly defaults: Config | undefined
}

/**
 * Checks a registry's options: `decode` checks the registry's own keys; `validate` each strategy's options, under
 * `default` (also when it is absent, unless `defaultOptional`) and under `section.<name>`. The strategies' own
 * options are checked even when the registry's are not valid (an unknown key beside them).
 */
export const check = <Input, Config>(
  options: unknown,
  decode: (
    input: unknown,
    options: { readonly errors: "all"; readonly onExcessProperty: "error" }
  ) => Exit.Exit<unknown, { readonly issue: Parameters<typeof ConfigError.fromSchemaIssue>[0] }>,
  validate: (input: Input | undefined) => Effect.Effect<Config, ConfigError.ConfigError>,
  section: string,
  defaultOptional = false
): Effect.Effect<Checked<Config>> =>
  Effect.gen(function*() {
    const issues: Array<ConfigError.Issue> = []
    const decoded = decode(options, { errors: "all", onExcessProperty: "error" })
    if (decoded._tag === "Failure") {
      for (const reason of decoded.cause.reasons) {
        if (reason._tag === "Fail") issues.push(...ConfigError.fromSchemaIssue(reason.error.issue))
      }
    }
    const given: Record<string, unknown> = isRecord(options) ? options as Record<string, unknown> : {}
    const collect = (input: unknown, path: ReadonlyArray<string>) =>
      validate(input as Input | undefined).pipe(Effect.catch((error) => {
        issues.push(...ConfigError.under(error, path).issues)
        return Effect.succeed(undefined)
      }))
    const defaults = defaultOptional && given.default === undefined
      ? undefined
      : yield* collect(given.default, ["default"])
    const configs = new Map<string, Config>()
    const named = given[section]
    for (const [name, input] of Object.entries(isRecord(named) ? named : {})) {
      const config = yield* collect(input, [section, name])
      if (config !== undefined) configs.set(name, config)
    }
    return { issues, configs, defaults }
  })

/**
 * An effect built from the registry of the running fiber's context by `build`, built again only when that
 * registry differs from the last one (so a `withX(name)` combinator looks its strategy up once per registry, not
 * once per call).
 */
export const perRegistry = <S, A, E, R>(
  registry: Context.Key<S, S>,
  build: (registry: S) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | S> => {
  let builtFor: S | undefined
  let built: Effect.Effect<A, E, R> | undefined
  return Effect.withFiber((fiber) => {
    const current = Context.getUnsafe(fiber.context, registry)
    if (built === undefined || current !== builtFor) {
      builtFor = current
      built = build(current)
    }
    return built
  })
}
