/**
 * Request ids: accept a well-formed incoming id, otherwise make one, and make it readable anywhere in the
 * request's fibers. The edge puts it on every response, in every log line of the request and in problem bodies.
 *
 * **Gotchas**
 *
 * - An incoming id that is not well-formed ({@link isWellFormed}) is replaced without a word: the response's
 *   header carries the new one, so a client reads its id back from the response.
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"

/**
 * The longest incoming id accepted.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 128

const wellFormed = /^[A-Za-z0-9._:-]+$/

/**
 * Whether an incoming id may be used as is: 1 to {@link maxLength} characters among letters, digits and
 * `. _ : -`. Anything else (spaces, newlines, quotes, non-ASCII, 10 kB ids) is never echoed back.
 *
 * **Example**
 *
 * ```ts
 * import { RequestId } from "@effect-resilience/http"
 *
 * RequestId.isWellFormed("2f1c-req:7") // true
 * RequestId.isWellFormed("a\nSet-Cookie: x=1") // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isWellFormed = (id: string): boolean => id.length > 0 && id.length <= maxLength && wellFormed.test(id)

const randomUUID = (): string => (globalThis as unknown as { crypto: { randomUUID(): string } }).crypto.randomUUID()

/**
 * A new id: a random UUID (v4) from the platform's `crypto`.
 *
 * **Example**
 *
 * ```ts
 * import { RequestId } from "@effect-resilience/http"
 *
 * RequestId.generate().length // 36
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (): string => randomUUID()

/**
 * The id to use for a request: the incoming header value when it is well-formed, a new one otherwise.
 *
 * **Example**
 *
 * ```ts
 * import { RequestId } from "@effect-resilience/http"
 *
 * RequestId.accept("req-1") // "req-1"
 * RequestId.accept("x".repeat(10_000)) // a new UUID
 * RequestId.accept(undefined) // a new UUID
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (incoming: string | undefined): string =>
  incoming !== undefined && isWellFormed(incoming) ? incoming : generate()

/**
 * The current request's id, set by the edge's middleware for the whole request; `undefined` outside a request.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RequestId } from "@effect-resilience/http"
 *
 * const callDownstream = Effect.gen(function*() {
 *   const id = yield* RequestId.CurrentRequestId
 *   // pass it on: headers: { "x-request-id": id ?? "" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentRequestId = Context.Reference<string | undefined>("@effect-resilience/http/RequestId", {
  defaultValue: () => undefined
})

/**
 * The current request's id, or a fresh one outside a request.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RequestId } from "@effect-resilience/http"
 *
 * const program = Effect.gen(function*() {
 *   const id = yield* RequestId.current
 * })
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const current: Effect.Effect<string> = Effect.map(CurrentRequestId, (id) => id ?? generate())
