import { afterAll, assert, beforeAll, describe, expectTypeOf, it } from "@effect/vitest"
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Cause, Effect, Layer, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiError, HttpApiGroup, OpenApi } from "effect/http-api"
import { Bulkhead, CircuitBreaker, CommonErrors, protect } from "@effect-resilience/core"
import { HttpApiEdge, HttpEdge, ProblemFormat } from "@effect-resilience/http"
import { errorLayer, FlakyStore, type Line, makeApp, SaveBody, serve } from "./fixtures.js"

// The API under test: the same /save as the router app of fixtures.ts, plus a GET with params and query.
const Edge = HttpEdge.make({ maxBodyBytes: 4096 })

const Item = Schema.Struct({ id: Schema.String, name: Schema.String, quantity: Schema.Number })

class Items extends HttpApiGroup.make("items").add(
  HttpApiEndpoint.post("save", "/save", {
    payload: SaveBody,
    success: Schema.Struct({ result: Schema.String }),
    error: [
      HttpApiEdge.error(Edge, CommonErrors.StorageError),
      HttpApiEdge.error(Edge, CommonErrors.ValidationError),
      HttpApiEdge.error(Edge, CircuitBreaker.BreakerOpenError)
    ]
  }),
  HttpApiEndpoint.get("get", "/items/:id", {
    params: { id: Schema.String },
    query: { limit: Schema.optional(Schema.Int) },
    success: Item,
    error: [HttpApiEdge.error(Edge, CommonErrors.NotFoundError), HttpApiError.Forbidden]
  })
) {}

class Api extends HttpApi.make("shop").add(Items).middleware(HttpApiEdge.Middleware)
  .annotate(HttpApi.ParseOptions, { errors: "all" })
  .annotateMerge(HttpApiEdge.annotations(Edge))
{}

const makeApiApp = (store: FlakyStore) => {
  const ItemsLive = HttpApiBuilder.group(Api, "items", (handlers) =>
    handlers
      .handle("save", ({ payload }) =>
        store.save(payload.id, payload).pipe(
          protect({ operation: "items.save", breaker: "storage" }),
          Effect.as({ result: "ok" })
        ))
      .handle("get", ({ params }) => {
        if (params.id === "boom") return Effect.die(new Error("invariant broken in /srv/app/items.ts: secret-token-123"))
        if (params.id === "forbidden") return Effect.fail(new HttpApiError.Forbidden())
        // a success that fails its own schema: a bug of the server
        if (params.id === "bad-item") return Effect.succeed({ id: "bad-item", name: 42 } as unknown as typeof Item.Type)
        const item = store.items.get(params.id)
        return item === undefined
          ? Effect.fail(new CommonErrors.NotFoundError({ resource: "item", id: params.id }))
          : Effect.succeed({ id: params.id, ...item })
      }))
  return Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide(ItemsLive),
      Layer.provide(HttpApiEdge.layer(Edge))
    ),
    Edge.layer
  )
}

describe("HttpApiEdge: the app's type", () => {
  // `serve` (fixtures.ts) takes an app with any requirements; served as it serves it, the app requires nothing
  it("served on a Node server with the error layer, the API app requires nothing", () => {
    const served = HttpRouter.serve(makeApiApp(new FlakyStore())).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port: 0 })),
      Layer.provide(errorLayer)
    )
    expectTypeOf<Layer.Services<typeof served>>().toEqualTypeOf<never>()
    const launched: Effect.Effect<never, unknown, never> = Layer.launch(served)
    assert.isTrue(Effect.isEffect(launched))
  })
})

const lines: Array<Line> = []
const store = new FlakyStore()
let api: Awaited<ReturnType<typeof serve>>

beforeAll(async () => {
  api = await serve(makeApiApp(store), lines)
})
afterAll(() => api.close())

const json = { "content-type": "application/json" }

const post = (url: string, body: string, headers: Record<string, string> = json) =>
  fetch(url + "/save", { method: "POST", body, headers })

type Json = Record<string, any>

describe("HttpApiEdge: the OpenAPI document", () => {
  const check = (doc: Json) => {
    const save = doc.paths["/save"].post.responses
    const get = doc.paths["/items/{id}"].get.responses
    const resolve = (schema: Json): Json =>
      schema.$ref !== undefined ? doc.components.schemas[schema.$ref.split("/").pop()] : schema
    // the problem schemas of a status (families sharing a status are one anyOf entry each)
    const schemasAt = (responses: Json, status: string): Array<Json> => {
      const content = responses[status]?.content
      assert.deepStrictEqual(Object.keys(content ?? {}), ["application/problem+json"], `content of ${status}`)
      const schema = content["application/problem+json"].schema
      return (schema.anyOf ?? [schema]).map(resolve)
    }
    const cases = [[save, "503", 2], [save, "400", 1], [get, "404", 1]] as const
    for (const [responses, status, families] of cases) {
      const schemas = schemasAt(responses, status)
      assert.strictEqual(schemas.length, families, `schemas of ${status}`)
      for (const schema of schemas) {
        assert.deepStrictEqual(schema.properties.status.enum, [Number(status)], `status of ${status}`)
        for (const key of ["type", "title", "status", "detail", "instance", "code", "requestId"]) {
          assert.include(schema.required, key, `${status} requires ${key}`)
        }
        assert.property(schema.properties, "errors")
      }
    }
    assert.strictEqual(save["503"].description, "StorageError | BreakerOpenError")
    // effect's own declarations are left as they are
    assert.property(get, "403")
    assert.notProperty(get, "503")
    // what the edge answers on every endpoint with a body, declared or not
    for (const [status, description] of [["413", "PayloadTooLargeError"], ["415", "UnsupportedMediaTypeError"]]) {
      const [schema] = schemasAt(save, status!)
      assert.strictEqual(save[status!].description, description)
      assert.deepStrictEqual(schema?.properties.status.enum, [Number(status)])
      assert.includeMembers(schema?.required, ["type", "title", "status", "detail", "instance", "code", "requestId"])
      assert.strictEqual(schema?.additionalProperties, false)
    }
    assert.notProperty(get, "413")
    assert.notProperty(get, "415")
    // the request id header on every response, Retry-After on the 503 only
    for (const responses of [save, get]) {
      for (const [status, response] of Object.entries<Json>(responses)) {
        assert.deepStrictEqual(response.headers?.["x-request-id"]?.required, true, `x-request-id on ${status}`)
        assert.deepStrictEqual(response.headers["x-request-id"].schema, { type: "string" })
        if (status !== "503") assert.notProperty(response.headers, "retry-after", `no retry-after on ${status}`)
      }
    }
    assert.deepStrictEqual(save["503"].headers["retry-after"].schema, { type: "integer", minimum: 1 })
    assert.strictEqual(save["503"].headers["retry-after"].required, false)
  }

  it("is served at openapiPath with the mapped statuses and the problem schema", async () => {
    const res = await fetch(api.url + "/openapi.json")
    assert.strictEqual(res.status, 200)
    check((await res.json()) as Json)
  })

  it("is the same from OpenApi.fromApi", () => {
    check(OpenApi.fromApi(Api) as unknown as Json)
  })

  it("lists 413, 415 and the headers only with the edge's annotations", () => {
    const doc = OpenApi.fromApi(HttpApi.make("plain").add(Items).middleware(HttpApiEdge.Middleware)) as unknown as Json
    const save = doc.paths["/save"].post.responses
    assert.notProperty(save, "413")
    assert.notProperty(save, "415")
    assert.notProperty(save["200"], "headers")
  })

  it("follows the edge's format, request id header and overrides in what it adds", () => {
    const Custom = HttpEdge.make({
      format: ProblemFormat.envelope,
      requestIdHeader: "X-Correlation-Id",
      statuses: { UnavailableError: 429, UnsupportedMediaTypeError: 400 }
    })
    const Group = HttpApiGroup.make("g").add(
      HttpApiEndpoint.post("p", "/p", {
        payload: SaveBody,
        error: [
          HttpApiEdge.error(Custom, CommonErrors.UnavailableError),
          HttpApiEdge.error(Custom, CommonErrors.StorageError)
        ]
      }),
      HttpApiEndpoint.put("q", "/q", {
        payload: SaveBody,
        error: HttpApiEdge.error(Custom, CommonErrors.ValidationError)
      })
    )
    const doc = OpenApi.fromApi(
      HttpApi.make("a").add(Group).annotateMerge(HttpApiEdge.annotations(Custom))
    ) as unknown as Json
    const p = doc.paths["/p"].post.responses
    assert.deepStrictEqual(Object.keys(p).sort(), ["204", "400", "413", "429", "503"])
    assert.deepStrictEqual(Object.keys(p["413"].content), ["application/json"])
    assert.deepStrictEqual(p["413"].content["application/json"].schema, {
      $ref: "#/components/schemas/ErrorEnvelope413"
    })
    assert.deepStrictEqual(doc.components.schemas.ErrorEnvelope413.properties.error.properties.status.enum, [413])
    assert.strictEqual(p["400"].description, "UnsupportedMediaTypeError")
    for (const response of Object.values<Json>(p)) {
      assert.deepStrictEqual(Object.keys(response.headers).filter((h) => h.startsWith("x-")), ["x-correlation-id"])
    }
    // Retry-After follows UnavailableError and BreakerOpenError to their statuses
    assert.property(p["429"].headers, "retry-after")
    assert.property(p["503"].headers, "retry-after")
    assert.notProperty(p["413"].headers, "retry-after")
    // a status the endpoint already documents in the format keeps its declaration
    const q = doc.paths["/q"].put.responses
    assert.strictEqual(q["400"].description, "ValidationError")
  })

  it("with the edge's rate limit: a 429 problem on every operation, the RateLimit headers on every response", () => {
    const Limited = HttpEdge.make({ rateLimit: { limiter: { limit: 10, window: "1 second" } } })
    const Group = HttpApiGroup.make("g").add(
      HttpApiEndpoint.get("list", "/list", { success: Schema.Array(Schema.String) }),
      HttpApiEndpoint.post("p", "/p", {
        payload: SaveBody,
        error: HttpApiEdge.error(Limited, Bulkhead.BulkheadFullError)
      })
    )
    const doc = OpenApi.fromApi(
      HttpApi.make("a").add(Group).annotateMerge(HttpApiEdge.annotations(Limited))
    ) as unknown as Json
    const list = doc.paths["/list"].get.responses
    const p = doc.paths["/p"].post.responses
    assert.deepStrictEqual(Object.keys(list).sort(), ["200", "429"])
    assert.deepStrictEqual(Object.keys(p).sort(), ["204", "413", "415", "429", "503"])
    for (const responses of [list, p]) {
      assert.strictEqual(responses["429"].description, "RateLimitedError")
      assert.deepStrictEqual(Object.keys(responses["429"].content), ["application/problem+json"])
      assert.deepStrictEqual(responses["429"].content["application/problem+json"].schema, {
        $ref: "#/components/schemas/Problem429"
      })
      assert.strictEqual(responses["429"].headers["retry-after"].required, false)
      for (const [status, response] of Object.entries<Json>(responses)) {
        assert.deepStrictEqual(
          [response.headers["ratelimit-policy"]?.required, response.headers["ratelimit"]?.required],
          [false, false],
          `RateLimit headers on ${status}`
        )
      }
    }
    // a full bulkhead's 503 carries Retry-After too
    assert.property(p["503"].headers, "retry-after")
    assert.strictEqual(p["503"].description, "BulkheadFullError")
    assert.deepStrictEqual(doc.components.schemas.Problem429.properties.status.enum, [429])

    // headers off: the 429 stays, the RateLimit headers go; no rate limit: neither
    const Quiet = HttpEdge.make({ rateLimit: { limiter: "api", headers: false } })
    const quiet = OpenApi.fromApi(
      HttpApi.make("a").add(Group).annotateMerge(HttpApiEdge.annotations(Quiet))
    ) as unknown as Json
    const quietList = quiet.paths["/list"].get.responses
    assert.property(quietList, "429")
    assert.notProperty(quietList["200"].headers, "ratelimit")
    const plain = OpenApi.fromApi(
      HttpApi.make("a").add(Group).annotateMerge(HttpApiEdge.annotations(HttpEdge.make()))
    ) as unknown as Json
    assert.notProperty(plain.paths["/list"].get.responses, "429")
  })

  it("follows the edge's overrides and validationStatus", () => {
    const Custom = HttpEdge.make({ validationStatus: 422, statuses: { StorageError: 502 } })
    const Group = HttpApiGroup.make("g").add(HttpApiEndpoint.post("p", "/p", {
      error: [HttpApiEdge.error(Custom, CommonErrors.StorageError), HttpApiEdge.error(Custom, CommonErrors.ValidationError)]
    }))
    const doc = OpenApi.fromApi(HttpApi.make("a").add(Group)) as unknown as Json
    assert.deepStrictEqual(Object.keys(doc.paths["/p"].post.responses).filter((s) => s >= "400").sort(), ["422", "502"])
  })
})

describe("HttpApiEdge on a real server", () => {
  it("a save that succeeds after retries answers 200", async () => {
    store.failNext = 2
    const res = await post(api.url, JSON.stringify({ id: "a", name: "apple", quantity: 3 }))
    assert.strictEqual(res.status, 200)
    assert.deepStrictEqual(await res.json(), { result: "ok" })
    assert.strictEqual(((await (await fetch(api.url + "/items/a")).json()) as Json).name, "apple")
  })

  it("a declared family answers with the edge's problem, its request id in body and header", async () => {
    const res = await fetch(api.url + "/items/nope", { headers: { "x-request-id": "req-404" } })
    assert.strictEqual(res.status, 404)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    assert.strictEqual(res.headers.get("x-request-id"), "req-404")
    assert.deepStrictEqual(await res.json(), {
      type: "about:blank",
      title: "Not Found",
      status: 404,
      detail: "item nope was not found",
      instance: "/items/nope",
      code: "resilience.E0002",
      requestId: "req-404"
    })
  })

  it("a generated request id is the same in the header and the body", async () => {
    const res = await fetch(api.url + "/items/nope")
    const id = res.headers.get("x-request-id")
    assert.isString(id)
    assert.strictEqual(((await res.json()) as Json).requestId, id)
  })

  it("a payload failing decoding answers 400 with one pointer per failing field", async () => {
    const res = await post(api.url, JSON.stringify({ id: "b", quantity: -1 }), { ...json, "x-request-id": "req-400" })
    assert.strictEqual(res.status, 400)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    assert.strictEqual(res.headers.get("x-request-id"), "req-400")
    const body = (await res.json()) as Json
    assert.strictEqual(body.status, 400)
    assert.strictEqual(body.code, "resilience.E0001")
    assert.strictEqual(body.requestId, "req-400")
    assert.strictEqual(body.instance, "/save")
    assert.deepStrictEqual(body.errors.map((e: { pointer: string }) => e.pointer).sort(), ["#/name", "#/quantity"])
    for (const e of body.errors) assert.isString(e.detail)
  })

  it("a media type the endpoint does not take answers 415 with the edge's problem", async () => {
    const res = await post(api.url, "id=a", { "content-type": "text/plain", "x-request-id": "api-415" })
    assert.strictEqual(res.status, 415)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    const body = (await res.json()) as Json
    assert.deepStrictEqual([body.code, body.requestId], ["resilience.E0102", "api-415"])
  })

  it("malformed JSON answers 400 with the malformed body code", async () => {
    const res = await post(api.url, "{not json")
    assert.strictEqual(res.status, 400)
    assert.strictEqual(((await res.json()) as Json).code, "resilience.E0101")
  })

  it("a query failing decoding points into the query", async () => {
    const res = await fetch(api.url + "/items/a?limit=abc")
    assert.strictEqual(res.status, 400)
    const body = (await res.json()) as Json
    assert.strictEqual(body.code, "resilience.E0001")
    assert.deepStrictEqual(body.errors.map((e: { pointer: string }) => e.pointer), ["#/query/limit"])
  })

  it("a body over the edge's limit answers 413", async () => {
    const res = await post(api.url, JSON.stringify({ id: "c", name: "x".repeat(5000), quantity: 1 }))
    assert.strictEqual(res.status, 413)
    assert.strictEqual(((await res.json()) as Json).code, "resilience.E0103")
  })

  it("a defect answers 500 with the generic detail and nothing internal", async () => {
    const res = await fetch(api.url + "/items/boom", { headers: { "x-request-id": "req-500" } })
    assert.strictEqual(res.status, 500)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    const text = await res.text()
    assert.notInclude(text, "secret")
    assert.notInclude(text, "/srv/app")
    assert.notInclude(text, "invariant")
    assert.deepStrictEqual(JSON.parse(text), {
      type: "about:blank",
      title: "Internal Server Error",
      status: 500,
      detail: "An internal error occurred.",
      instance: "/items/boom",
      code: "resilience.E0000",
      requestId: "req-500"
    })
    const line = lines.find((l) => l.annotations.requestId === "req-500" && l.annotations.status === 500)
    assert.strictEqual(line?.level, "ERROR")
    assert.include(line?.cause ?? "", "secret-token-123")
  })

  it("a response failing its success schema answers 500, not a client error", async () => {
    const res = await fetch(api.url + "/items/bad-item")
    assert.strictEqual(res.status, 500)
    const body = (await res.json()) as Json
    assert.strictEqual(body.code, "resilience.E0000")
    assert.strictEqual(body.detail, "An internal error occurred.")
  })

  it("an error declared with effect's own schema is left to effect", async () => {
    const res = await fetch(api.url + "/items/forbidden")
    assert.strictEqual(res.status, 403)
    assert.notStrictEqual(res.headers.get("content-type"), "application/problem+json")
  })

  it("a storage failure answers 503 with no internal detail, and the request log records it", async () => {
    store.down = true
    try {
      const res = await post(api.url, JSON.stringify({ id: "d", name: "date", quantity: 1, password: "hunter2" }), {
        ...json,
        "x-request-id": "req-503"
      })
      assert.strictEqual(res.status, 503)
      const text = await res.text()
      assert.notInclude(text, "ECONNRESET")
      const body = JSON.parse(text)
      assert.strictEqual(body.code, "resilience.E0004")
      assert.strictEqual(body.detail, "A storage operation failed. Please try again later.")
      assert.strictEqual(body.requestId, "req-503")
      const line = lines.find((l) => l.annotations.requestId === "req-503" && l.annotations.status === 503)
      assert.strictEqual(line?.message, "POST /save 503 StorageError")
      assert.deepInclude(line?.annotations, { errorTag: "StorageError", errorCode: "resilience.E0004" })
      assert.deepStrictEqual(line?.annotations.body, { id: "d", name: "date", quantity: 1, password: "<redacted>" })
    } finally {
      store.down = false
    }
  })
})

describe("HttpApiEdge answers as the router edge does", () => {
  // the router app of fixtures.ts and the API app, each with its own store and breakers
  const routerStore = new FlakyStore()
  const apiStore = new FlakyStore()
  let router: Awaited<ReturnType<typeof serve>>
  let apiApp: Awaited<ReturnType<typeof serve>>
  beforeAll(async () => {
    router = await serve(makeApp(routerStore).Routes, [])
    apiApp = await serve(makeApiApp(apiStore), [])
  })
  afterAll(async () => {
    await router.close()
    await apiApp.close()
  })

  const same = async (body: string, id: string) => {
    const [a, b] = await Promise.all([router, apiApp].map((s) =>
      post(s.url, body, { ...json, "x-request-id": id }).then(async (res) => ({
        status: res.status,
        contentType: res.headers.get("content-type"),
        requestId: res.headers.get("x-request-id"),
        retryAfter: res.headers.get("retry-after"),
        body: (await res.json()) as Json
      }))
    ))
    assert.deepStrictEqual(b, a)
    return a!
  }

  it("for invalid input", async () => {
    const answer = await same(JSON.stringify({ id: "", quantity: 1.5 }), "p-400")
    assert.strictEqual(answer.status, 400)
    assert.strictEqual(answer.body.errors.length, 3)
  })

  it("for malformed JSON", async () => {
    assert.strictEqual((await same("{not json", "p-malformed")).body.code, "resilience.E0101")
  })

  it("for storage failures, then an open breaker with Retry-After", async () => {
    routerStore.down = true
    apiStore.down = true
    const item = JSON.stringify({ id: "e", name: "elder", quantity: 1 })
    // 3 attempts per request; the sixth consecutive failure opens the breaker
    assert.strictEqual((await same(item, "p-503a")).body.code, "resilience.E0004")
    assert.strictEqual((await same(item, "p-503b")).body.code, "resilience.E0004")
    const open = await same(item, "p-503c")
    assert.strictEqual(open.status, 503)
    assert.strictEqual(open.body.code, "resilience.E0008")
    assert.strictEqual(open.retryAfter, "60")
  })
})

describe("HttpApiEdge: a defect beside a typed failure", () => {
  const mixed = Cause.combine(
    Cause.fail(new CommonErrors.NotFoundError({ resource: "item", id: "x" })),
    Cause.die(new Error("bug: lost invariant"))
  )
  for (const middleware of [true, false]) {
    it(`answers 500 with the defect problem, logged at ERROR with the cause (edge.layer: ${middleware})`, async () => {
      class Mixed extends HttpApi.make("mixed").add(
        HttpApiGroup.make("mixed").add(
          HttpApiEndpoint.get("mixed", "/mixed", { error: [HttpApiEdge.error(Edge, CommonErrors.NotFoundError)] })
        )
      ).middleware(HttpApiEdge.Middleware) {}
      const MixedLive = HttpApiBuilder.group(
        Mixed,
        "mixed",
        (handlers) => handlers.handle("mixed", () => Effect.failCause(mixed))
      )
      const captured: Array<Line> = []
      const app = await serve(
        Layer.mergeAll(
          HttpApiBuilder.layer(Mixed).pipe(Layer.provide(MixedLive), Layer.provide(HttpApiEdge.layer(Edge))),
          middleware ? Edge.layer : Layer.empty
        ),
        captured
      )
      try {
        const id = `api-mixed-${middleware}`
        const res = await fetch(app.url + "/mixed", { headers: { "x-request-id": id } })
        assert.strictEqual(res.status, 500)
        const body = (await res.json()) as Json
        assert.deepStrictEqual([body.code, body.requestId], ["resilience.E0000", id])
        const line = captured.find((l) => l.annotations.requestId === id && String(l.message).includes("/mixed"))
        assert.strictEqual(line?.level, "ERROR")
        assert.include(line?.cause ?? "", "bug: lost invariant")
      } finally {
        await app.close()
      }
    })
  }
})

describe("HttpApiEdge: an API behind edge.layer without the middleware", () => {
  class Bare extends HttpApi.make("bare").add(Items).annotate(HttpApi.ParseOptions, { errors: "all" }) {}
  const bareStore = new FlakyStore()
  let bare: Awaited<ReturnType<typeof serve>>
  beforeAll(async () => {
    const ItemsLive = HttpApiBuilder.group(Bare, "items", (handlers) =>
      handlers
        .handle("save", ({ payload }) =>
          bareStore.save(payload.id, payload).pipe(
            protect({ operation: "items.save", breaker: "storage" }),
            Effect.as({ result: "ok" })
          ))
        .handle("get", ({ params }) => Effect.fail(new CommonErrors.NotFoundError({ resource: "item", id: params.id }))))
    bare = await serve(
      Layer.mergeAll(HttpApiBuilder.layer(Bare).pipe(Layer.provide(ItemsLive)), Edge.layer),
      []
    )
  })
  afterAll(() => bare.close())

  it("still answers a payload failing decoding with a 400 validation problem, not a 500", async () => {
    const res = await post(bare.url, JSON.stringify({ id: "", quantity: 1.5 }), { ...json, "x-request-id": "bare-1" })
    assert.strictEqual(res.status, 400)
    const body = (await res.json()) as Json
    assert.deepStrictEqual([body.code, body.requestId, body.errors.length], ["resilience.E0001", "bare-1", 3])
  })

  it("still answers a declared family with its problem (encoded by the error schema)", async () => {
    const res = await fetch(`${bare.url}/items/zz`, { headers: { "x-request-id": "bare-2" } })
    assert.strictEqual(res.status, 404)
    const body = (await res.json()) as Json
    assert.deepStrictEqual([body.code, body.requestId, body.instance], ["resilience.E0002", "bare-2", "/items/zz"])
  })

  it("bounds the instance of a 15 kB path (the error schema's encoding, no middleware)", async () => {
    // a static 15 kB route: a route parameter that long would not match (the router bounds parameters)
    const longPath = `/${"a".repeat(15_000)}` as const
    class Long extends HttpApi.make("long").add(
      HttpApiGroup.make("long").add(
        HttpApiEndpoint.get("long", longPath, { error: [HttpApiEdge.error(Edge, CommonErrors.NotFoundError)] })
      )
    ) {}
    const LongLive = HttpApiBuilder.group(
      Long,
      "long",
      (handlers) => handlers.handle("long", () => Effect.fail(new CommonErrors.NotFoundError({ resource: "item" })))
    )
    const app = await serve(Layer.mergeAll(HttpApiBuilder.layer(Long).pipe(Layer.provide(LongLive)), Edge.layer), [])
    try {
      const res = await fetch(app.url + longPath, { headers: { "x-request-id": "bare-3" } })
      assert.strictEqual(res.status, 404)
      const body = (await res.json()) as Json
      assert.deepStrictEqual([body.code, body.requestId], ["resilience.E0002", "bare-3"])
      assert.isAtMost(body.instance.length, 1000)
      assert.isTrue(body.instance.startsWith("/aaa"))
      assert.isTrue(body.instance.endsWith("%E2%80%A6"))
    } finally {
      await app.close()
    }
  })
})
