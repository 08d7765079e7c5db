// Type-level tests of HttpEdge: what `handle` accepts and refuses, and the compiler's message for a handler the
// edge cannot map: it must say what to do ("this error is not classified: declare it with ErrorFamily or add an
// override on the edge"), not talk about `exactOptionalPropertyTypes` or `[TimeoutErrorTypeId]`. `npm run
// typecheck` (part of .ci/run) fails if an `@ts-expect-error` line starts to compile or an inference changes; the
// runtime part only checks that the file loads, except the last test, which runs the compiler on a file and reads
// its diagnostics.
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Data, Effect, Schema } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { CircuitBreaker, CommonErrors, ErrorFamily } from "@effect-resilience/core"
import { type ErrorMapping, HttpEdge } from "../src/index.js"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{}> {}
class Unmapped extends Data.TaggedError("Unmapped")<{}> {}
class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
  code: "shop.E0001",
  kind: "business"
}) {}

const ok = HttpServerResponse.empty()

type Message = "this error is not classified: declare it with ErrorFamily or add an override on the edge"

const failing = <E>(error: E): Effect.Effect<HttpServerResponse.HttpServerResponse, E, "Db"> =>
  Effect.fail(error) as never

describe("HttpEdge.handle: what it accepts", () => {
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

describe("HttpEdge.handle: the message for an unmappable error", () => {
  it("the message type is the string the compiler shows", () => {
    expectTypeOf<HttpEdge.UnclassifiedMessage>().toEqualTypeOf<Message>()
    expectTypeOf<keyof HttpEdge.Unclassified<Error>>().toEqualTypeOf<Message>()
  })

  it("Handler is the handler for mappable errors, the message naming the others otherwise", () => {
    expectTypeOf<HttpEdge.Handler<CommonErrors.StorageError, "Db">>().toEqualTypeOf<
      Effect.Effect<HttpServerResponse.HttpServerResponse, CommonErrors.StorageError, "Db">
    >()
    expectTypeOf<HttpEdge.Handler<Error, never>>().toEqualTypeOf<{ readonly [K in Message]: Error }>()
    // in a union, only the unmappable member is named
    expectTypeOf<HttpEdge.Handler<PaymentDeclined | CommonErrors.StorageError, never>>().toEqualTypeOf<
      { readonly [K in Message]: PaymentDeclined }
    >()
    // an override makes it mappable
    expectTypeOf<HttpEdge.Handler<PaymentDeclined, never, "PaymentDeclined">>().toEqualTypeOf<
      Effect.Effect<HttpServerResponse.HttpServerResponse, PaymentDeclined, never>
    >()
    expectTypeOf<HttpEdge.Unmappable<PaymentDeclined | CommonErrors.StorageError>>().toEqualTypeOf<PaymentDeclined>()
  })

  it("handle still refuses what it refused, and accepts what it accepted", () => {
    const Edge = HttpEdge.make()
    // @ts-expect-error: this error is not classified
    Edge.handle(failing(new Error("boom")))
    // @ts-expect-error: this error is not classified
    Edge.handle(failing(new PaymentDeclined()).pipe(Effect.andThen(failing(new CommonErrors.StorageError({ operation: "x" })))))
    const handled = Edge.handle(failing(new CommonErrors.StorageError({ operation: "save" })))
    expectTypeOf(handled).toEqualTypeOf<
      Effect.Effect<HttpServerResponse.HttpServerResponse, never, "Db" | HttpServerRequest.HttpServerRequest>
    >()
    // a wrapper generic over a mappable error channel compiles
    const wrap = <E extends ErrorMapping.Mappable<"PaymentDeclined">>(
      handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E>
    ) => HttpEdge.make({ statuses: { PaymentDeclined: 402 } }).handle(handler)
    expectTypeOf(wrap(failing(new PaymentDeclined()) as Effect.Effect<HttpServerResponse.HttpServerResponse, PaymentDeclined>))
      .toEqualTypeOf<Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>>()
  })

  it("the compiler's diagnostic for an unmappable error says what to do", { timeout: 60_000 }, () => {
    const root = resolve(import.meta.dirname, "../../..")
    const dir = mkdtempSync(join(tmpdir(), "http-edge-types-"))
    try {
      symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir")
      writeFileSync(
        join(dir, "check.mts"),
        [
          `import { Effect } from "effect"`,
          `import { HttpEdge } from "@effect-resilience/http"`,
          `const Edge = HttpEdge.make()`,
          `export const route = Edge.handle(Effect.fail(new Error("boom")))`
        ].join("\n")
      )
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          extends: join(root, "tsconfig.base.json"),
          compilerOptions: { noEmit: true, declaration: false, declarationMap: false, sourceMap: false },
          files: ["check.mts"]
        })
      )
      let output = ""
      try {
        execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(dir, "tsconfig.json")], { encoding: "utf8" })
      } catch (error) {
        output = String((error as { stdout?: unknown }).stdout ?? error)
      }
      assert.include(output, "check.mts(4,")
      assert.include(output, "this error is not classified: declare it with ErrorFamily or add an override on the edge")
      assert.notInclude(output, "TimeoutErrorTypeId")
      assert.notInclude(output, "exactOptionalPropertyTypes")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
