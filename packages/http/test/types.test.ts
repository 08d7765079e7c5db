// Type-level tests: `npm run typecheck` (part of .ci/run) fails if an `@ts-expect-error` line starts to compile
// or an inference changes. The runtime part only checks that the file loads.
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Data, Effect, Schema } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { CircuitBreaker, CommonErrors, ErrorFamily } from "@effect-resilience/core"
import { HttpEdge } from "../src/index.js"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{}> {}
class Unmapped extends Data.TaggedError("Unmapped")<{}> {}
class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
  code: "shop.E0001",
  kind: "business"
}) {}

const ok = HttpServerResponse.empty()
const failing = <E>(error: E): Effect.Effect<HttpServerResponse.HttpServerResponse, E, "Db"> =>
  Effect.fail(error) as never

describe("types", () => {
  it("handle accepts every classified error and effect's TimeoutError, and clears the error channel", () => {
    const Edge = HttpEdge.make()
    const handled = Edge.handle(
      Effect.succeed(ok).pipe(
        Effect.andThen(failing(new CommonErrors.StorageError({ operation: "save" }))),
        Effect.andThen(failing(new OutOfStock({ sku: "A" }))),
        Effect.andThen(failing(new CircuitBreaker.BreakerOpenError({ breaker: "b", status: "open", retryAfterMillis: 1 }))),
        Effect.andThen(Effect.timeout(Effect.succeed(ok), "1 second"))
      )
    )
    expectTypeOf(handled).toEqualTypeOf<
      Effect.Effect<HttpServerResponse.HttpServerResponse, never, "Db" | HttpServerRequest.HttpServerRequest>
    >()
    // the JSON body reader's errors are all mappable, and so are effect's own request errors
    Edge.handle(Effect.as(HttpEdge.json(Schema.Struct({ a: Schema.String })), ok))
    Edge.handle(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => Effect.as(request.json, ok)))
  })

  it("handle refuses an error with no classification and no override", () => {
    const Edge = HttpEdge.make()
    // @ts-expect-error: Error is neither classified nor overridden
    Edge.handle(failing(new Error("boom")))
    // @ts-expect-error: a tagged error without classification or override
    Edge.handle(failing(new PaymentDeclined()))
    // @ts-expect-error: a string failure
    Edge.handle(failing("boom"))
  })

  it("an override by tag makes that error mappable, and only that one", () => {
    const Edge = HttpEdge.make({ statuses: { PaymentDeclined: 402 } })
    Edge.handle(failing(new PaymentDeclined()))
    // @ts-expect-error: Unmapped has no override on this edge
    Edge.handle(failing(new Unmapped()))
    // a widened record (from a config file) names no tag for sure: it makes nothing mappable
    const Loaded = HttpEdge.make({ statuses: {} as Record<string, number> })
    // @ts-expect-error: Unmapped is not mappable through a widened record
    Loaded.handle(failing(new Unmapped()))
    const Other = HttpEdge.make({ statuses: { StorageError: { status: 502, title: "Bad Gateway" } } })
    // @ts-expect-error: overriding a classified tag does not make other tags mappable
    Other.handle(failing(new PaymentDeclined()))
  })
})
