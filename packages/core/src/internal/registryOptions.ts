// The options of a registry of named strategies (breakers, bulkheads, rate limiters): the registry's own keys,
// then the options of the default and of each named one, every problem collected before anything is built.
import type { Exit } from "effect"
import { Effect } from "effect"
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
