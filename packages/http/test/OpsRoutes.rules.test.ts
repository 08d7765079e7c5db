// GET /rules: the reloadable rules in force and their last change (ConfigReload.status) as plain JSON, values that
// are code shown by what they are, a refusal with every problem; behind the token like the other routes.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpRouter, HttpServerRequest } from "effect/http"
import { CommonErrors, ConfigReload, ErrorLayer, Policy } from "@effect-resilience/core"
import { OpsRoutes } from "@effect-resilience/http"
import { readResponse, requestOf } from "./fixtures.js"

type Json = any

const services = ConfigReload.layer.pipe(
  Layer.provideMerge(ErrorLayer.layer({
    logFormat: false,
    policies: [Policy.forFamily(CommonErrors.NetworkError, { maxAttempts: 2, baseDelay: "10 millis" })],
    bulkheads: { bulkheads: { search: { limit: 4 } } }
  }))
)

const served = (routes: Layer.Layer<never, any, any>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(services)
    const app = yield* HttpRouter.toHttpEffect(routes)
    const get = (path: string, headers: Record<string, string> = {}) =>
      app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, requestOf(path, { headers })),
        Effect.provide(context),
        Effect.flatMap(readResponse)
      )
    return { get, reload: (candidate: unknown) => Effect.provide(ConfigReload.reload(candidate), context) }
  })

describe("OpsRoutes.rules", () => {
  it.effect("shows generation 0 and the layer's rules, code shown by what it is", () =>
    Effect.gen(function*() {
      const { get } = yield* served(OpsRoutes.rules())
      const res = yield* get("/rules")
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.headers.get("content-type"), "application/json")
      assert.strictEqual(res.headers.get("cache-control"), "no-store")
      const body: Json = JSON.parse(res.text)
      assert.strictEqual(body.generation, 0)
      assert.isUndefined(body.lastApplied)
      assert.include(res.text, "[family NetworkError]")
      assert.deepStrictEqual(body.rules.bulkheads, { bulkheads: { search: { limit: 4 } } })
    }).pipe(Effect.scoped))

  it.effect("after a reload: the new rules, what changed; after a refused one: every problem, the rules kept", () =>
    Effect.gen(function*() {
      const { get, reload } = yield* served(OpsRoutes.rules())
      yield* reload({
        policies: { NetworkError: { maxAttempts: 5, baseDelay: "1 second" } },
        bulkheads: { bulkheads: { search: { limit: 2 } } }
      })
      const applied: Json = JSON.parse((yield* get("/rules")).text)
      assert.strictEqual(applied.generation, 1)
      assert.deepStrictEqual(applied.rules.policies, { NetworkError: { maxAttempts: 5, baseDelay: "1 second" } })
      assert.strictEqual(applied.lastApplied._tag, "ReloadApplied")
      assert.deepStrictEqual(applied.lastApplied.changes.policies.updated, ["NetworkError"])
      assert.deepStrictEqual(applied.lastApplied.source, { _tag: "Call" })

      yield* Effect.flip(reload({ policies: { NetworkError: { maxAttempts: 0 } }, tracker: {} }))
      const refused: Json = JSON.parse((yield* get("/rules")).text)
      assert.strictEqual(refused.generation, 1)
      assert.strictEqual(refused.lastEvent._tag, "ReloadRejected")
      assert.sameMembers(refused.lastEvent.issues.map((i: Json) => i.path.join(".")), [
        "policies.NetworkError.maxAttempts",
        "tracker"
      ])
      assert.deepStrictEqual(refused.rules.policies, applied.rules.policies)
    }).pipe(Effect.scoped))

  it.effect("a schedule and a duration in the rules are shown as text", () =>
    Effect.gen(function*() {
      const { get, reload } = yield* served(OpsRoutes.rules())
      yield* reload({
        policies: [Policy.forFamily(CommonErrors.NetworkError, Policy.make({ schedule: Schedule.spaced("1 second") }))]
      })
      const text = (yield* get("/rules")).text
      const body: Json = JSON.parse(text)
      assert.deepStrictEqual(body.rules.policies[0].family, "[family NetworkError]")
      assert.strictEqual(body.rules.policies[0].policy.schedule, "[schedule]")
      assert.strictEqual(body.rules.policies[0].policy.maxRetryAfter, "30s")
    }).pipe(Effect.scoped))

  it.effect("behind a token, like the other routes", () =>
    Effect.gen(function*() {
      const { get } = yield* served(OpsRoutes.rules({ token: "s3cret" }))
      assert.strictEqual((yield* get("/rules")).status, 401)
      assert.strictEqual((yield* get("/rules", { authorization: "Bearer s3cret" })).status, 200)
    }).pipe(Effect.scoped))
})
