// The compiler's message for a handler the edge cannot map: it must say what to do ("this error is not
// classified: declare it with ErrorFamily or add an override on the edge"), not talk about
// `exactOptionalPropertyTypes` or `[TimeoutErrorTypeId]`. The type-level part is checked by `npm run typecheck`;
// the last test runs the compiler on a file and reads its diagnostics.
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Data, Effect } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { CommonErrors } from "@effect-resilience/core"
import { type ErrorMapping, HttpEdge } from "../src/index.js"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{}> {}

type Message = "this error is not classified: declare it with ErrorFamily or add an override on the edge"

const failing = <E>(error: E): Effect.Effect<HttpServerResponse.HttpServerResponse, E, "Db"> =>
  Effect.fail(error) as never

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
