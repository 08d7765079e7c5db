/**
 * What a stage of `protect` is (timeout, breaker, hedge, retry, bulkhead, rate limit, fallback): a value that,
 * given `protect`'s options, wraps the pipeline built from the stages inside it, and a type lambda saying which
 * options it reads and which success, error and service types it adds. `pipeline.ts` lists
 * the stages in their one order and composes both.
 */
import { Context, type Effect } from "effect"
import type { RetryDecision } from "../policyRun.js"
import { type Routes, routesOf } from "../reloadable.js"
import type { Run } from "./run.js"

/**
 * The type-level part of a stage, as a type lambda over `In` and `O` (`protect`'s options):
 *
 * - `Options`: the options the stage reads, where `In` is the program's error type.
 * - `Success`, `Error`, `Services`: the success, error and service types of the stage wrapped around what is
 *   inside it, where `In` is that type of what is inside.
 *
 * A stage that leaves a channel alone says `this["In"]`.
 */
export interface Types {
  readonly In: unknown
  readonly O: unknown
  readonly Options: {}
  readonly Success: unknown
  readonly Error: unknown
  readonly Services: unknown
}

/** One channel of a stage's type lambda, applied. */
export type Apply<T extends Types, K extends keyof Types, In, O> = (T & { readonly In: In; readonly O: O })[K]

/** A channel through the stages, innermost first: each stage's lambda applied to what the previous gave. */
export type Fold<Ts extends ReadonlyArray<unknown>, K extends "Success" | "Error" | "Services", In, O> = Ts extends
  readonly [infer T extends Types, ...infer Rest extends ReadonlyArray<unknown>] ? Fold<Rest, K, Apply<T, K, In, O>, O>
  : In

/** The options every stage reads, for a program failing with `E`. */
export type OptionsOf<Ts extends ReadonlyArray<unknown>, E> = Ts extends
  readonly [infer T extends Types, ...infer Rest extends ReadonlyArray<unknown>] ? Apply<T, "Options", E, unknown> & OptionsOf<Rest, E>
  : unknown

/** The options as the stages read them at run time: each reads its own keys. */
export interface Options {
  readonly operation: string
  readonly module?: string | undefined
  readonly [key: string]: unknown
}

/**
 * What the stages wrap, slot by slot. The innermost pipeline is the call itself, which gives up at its first
 * failure; each stage returns the pipeline with the slots it cares about wrapped.
 *
 * - `attempt`: one attempt, run with the decision of the retry that runs it (`undefined` for the first). The
 *   stages inside the retry stage wrap it (timeout, breaker); the retry stage reruns the attempt they built.
 * - `recover`: what follows the first failed attempt whose cause is a typed error alone (defects and
 *   interruptions end the run as they are). The retry stage puts its loop here.
 * - `giveUp`: what ends a run once no retry follows (`attempts` is how many attempts the run made). It is
 *   always called on the outermost pipeline (`run.pipeline`), so a stage outside the retry (fallback) sees every
 *   give-up.
 */
export interface Pipeline {
  /**
   * What admits the whole run, outside the retry (bulkhead, rate limit): given the run and `reject`, which ends
   * the run at once with a refusal (emitted as a `rejected` call, handed to the outermost `giveUp`, so a fallback
   * sees it). The call's own is the run itself.
   */
  readonly admit: (
    run: Effect.Effect<unknown, unknown, unknown>,
    reject: (error: unknown) => Effect.Effect<unknown, unknown, unknown>
  ) => Effect.Effect<unknown, unknown, unknown>
  /**
   * What a stage counts once a call is admitted (the retry budget's deposit), given the Clock's monotonic time in
   * milliseconds: called in the one node that starts the admitted call (the node that times it, when it is timed),
   * so it costs no node and no clock read of its own. Unset when no stage counts anything.
   */
  readonly started?: ((now: number) => void) | undefined
  readonly attempt: (retry: RetryDecision | undefined) => Effect.Effect<unknown, unknown, unknown>
  readonly recover: (error: unknown, at: number, run: Run) => Effect.Effect<unknown, unknown, unknown>
  readonly giveUp: (error: unknown, at: number, attempts: number, run: Run) => Effect.Effect<unknown, unknown, unknown>
}

/**
 * A stage as the options of one `protect` call ask for it, made once per call site.
 *
 * - `read`: what the stage needs from the context (the breaker: the registry). It runs once per call; the
 *   pipeline is built again only when a value read (or the observer) differs from the last one.
 * - `wrap`: the pipeline inside, wrapped with this stage, given what `read` returned.
 */
export interface Wrap<Read = any> {
  readonly read?: ((context: Context.Context<never>) => Read) | undefined
  readonly wrap: (inner: Pipeline, read: Read) => Pipeline
}

/**
 * A stage of `protect`. `make` reads the stage's options once per `protect` call and returns `undefined` when
 * they do not ask for it, so a stage that is not asked for costs nothing at run time. `T` is its type lambda
 * (the `types` field is never set: it only carries `T`).
 */
export interface Stage<T extends Types = Types> {
  readonly name: string
  readonly make: (options: Options) => Wrap | undefined
  readonly types?: T | undefined
}

/** The type lambda of a stage. */
export type TypesOf<S> = S extends Stage<infer T> ? T : never

/**
 * A stage's reader of the strategy (breaker, bulkhead, budget) a registry holds for its call site: the one named
 * `name`, or for `true` the one the registry's `operations` option maps the operation to. `read` is what the
 * stage reads from the context on every call: the registry, or for `true` its routes in force, another object
 * once a reload remaps an operation (so the pipeline is built again, and `resolve` finds the new strategy).
 */
export const strategyReader = <I, R extends Routes<A>, A>(
  key: Context.Key<I, R>,
  name: string | true,
  operation: string,
  byName: (registry: R, name: string) => A
): {
  readonly read: (context: Context.Context<never>) => unknown
  readonly resolve: (read: unknown) => A
} =>
  name === true
    ? {
      read: (context) => routesOf(Context.getUnsafe(context, key)),
      resolve: (read) => (read as Routes<A>).forOperation(operation)
    }
    : {
      read: (context) => Context.getUnsafe(context, key),
      resolve: (read) => byName(read as R, name)
    }

/** The type lambdas of a list of stages, in order. */
export type TypesOfAll<S extends ReadonlyArray<Stage<any>>> = { readonly [K in keyof S]: TypesOf<S[K]> }
