// Type-level tests of HttpApiEdge: `npm run typecheck` fails if an inference below changes. The runtime part only
// checks that the file loads.
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { CircuitBreaker, CommonErrors, ErrorLayer } from "@effect-resilience/core"
import { HttpApiEdge, HttpEdge, ProblemFormat } from "../src/index.js"

const Edge = HttpEdge.make()

const Items = HttpApiGroup.make("items").add(
  HttpApiEndpoint.post("save", "/save", {
    payload: Schema.Struct({ name: Schema.NonEmptyString }),
    success: Schema.Struct({ result: Schema.String }),
    error: [HttpApiEdge.error(Edge, CommonErrors.StorageError), HttpApiEdge.error(Edge, CommonErrors.ValidationError)]
  }),
  HttpApiEndpoint.get("get", "/items/:id", {
    params: { id: Schema.String },
    success: Schema.Struct({ id: Schema.String }),
    error: HttpApiEdge.error(Edge, CommonErrors.NotFoundError)
  })
)
const Api = HttpApi.make("shop").add(Items).middleware(HttpApiEdge.Middleware)

const ItemsLive = HttpApiBuilder.group(Api, "items", (handlers) =>
  handlers
    .handle("save", () => Effect.fail(new CommonErrors.StorageError({ operation: "items.save" })))
    .handle("get", ({ params }) => Effect.fail(new CommonErrors.NotFoundError({ resource: "item", id: params.id }))))

const ApiLive = Layer.mergeAll(
  HttpApiBuilder.layer(Api).pipe(Layer.provide(ItemsLive), Layer.provide(HttpApiEdge.layer(Edge))),
  Edge.layer
)

// as the README serves it
const App = HttpRouter.serve(ApiLive).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { port: 0 })),
  Layer.provide(ErrorLayer.layer())
)

describe("HttpApiEdge types", () => {
  it("an error schema needs no services to decode or encode", () => {
    const NotFound = HttpApiEdge.error(Edge, CommonErrors.NotFoundError)
    expectTypeOf<typeof NotFound.Type>().toEqualTypeOf<CommonErrors.NotFoundError>()
    expectTypeOf<typeof NotFound.DecodingServices>().toEqualTypeOf<never>()
    expectTypeOf<typeof NotFound.EncodingServices>().toEqualTypeOf<never>()
    // with another format too
    const Open = HttpApiEdge.error(HttpEdge.make({ format: ProblemFormat.envelope }), CircuitBreaker.BreakerOpenError)
    expectTypeOf<typeof Open.DecodingServices>().toEqualTypeOf<never>()
    expectTypeOf<typeof Open.EncodingServices>().toEqualTypeOf<never>()
  })

  it("an HttpApi using HttpApiEdge.error, once served, requires nothing and can be launched", () => {
    // the API layer needs the platform services and the router that serving provides, and nothing unknown
    expectTypeOf<unknown extends Layer.Services<typeof ApiLive> ? true : false>().toEqualTypeOf<false>()
    expectTypeOf<HttpRouter.HttpRouter>().toExtend<Layer.Services<typeof ApiLive>>()
    expectTypeOf<Layer.Services<typeof App>>().toEqualTypeOf<never>()
    // what NodeRuntime.runMain takes: an effect with no requirements
    const main = Layer.launch(App)
    expectTypeOf<Effect.Services<typeof main>>().toEqualTypeOf<never>()
    const runnable: Effect.Effect<never, unknown, never> = main
    void runnable
  })
})
