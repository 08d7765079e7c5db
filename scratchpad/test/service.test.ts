// The demo service on a real random port: the checks of the design notes, against the service `npm run demo` runs.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, Scope } from "effect"
import { HttpServer } from "effect/http"
import { connect } from "node:net"
import { ServiceLive, Storage } from "../src/service.js"

// response bodies are read loosely
type Json = any

let base = ""
let storage: Storage["Service"]
const scope = Effect.runSync(Scope.make())

beforeAll(async () => {
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      ServiceLive({ port: 0, failureRate: 0, logFormat: false }).pipe(Layer.provide(Logger.layer([]))),
      scope
    )
  )
  const { address } = Context.get(context, HttpServer.HttpServer)
  if (!("port" in address)) throw new Error("expected a TCP address")
  base = `http://127.0.0.1:${address.port}`
  storage = Context.get(context, Storage)
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const save = (body: unknown) =>
  fetch(`${base}/save`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

describe("demo service", () => {
  it("a save that succeeds after retries answers 200 {result: ok}", async () => {
    await Effect.runPromise(storage.failNext(2))
    const before = await Effect.runPromise(storage.writes)
    const res = await save({ id: "pear", name: "Pear", quantity: 2 })
    assert.deepStrictEqual([res.status, await res.json()], [200, { result: "ok" }])
    const after = await Effect.runPromise(storage.writes)
    assert.deepStrictEqual([after.attempted - before.attempted, after.failed - before.failed], [3, 2])
    const item = await fetch(`${base}/items/pear`)
    assert.deepStrictEqual(await item.json(), { id: "pear", name: "Pear", quantity: 2 })
  })

  it("a save whose storage keeps failing answers 503 with the storage error's code", async () => {
    await Effect.runPromise(storage.failNext(4))
    const res = await save({ id: "plum", name: "Plum", quantity: 1 })
    assert.strictEqual(res.status, 503)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    const body: Json = await res.json()
    assert.deepStrictEqual([body.status, body.code, body.instance], [503, "resilience.E0004", "/save"])
    assert.notInclude(JSON.stringify(body), "connection reset")
  })

  it("a save with missing fields answers 400 with one errors entry per bad field", async () => {
    const res = await save({ quantity: "many" })
    assert.strictEqual(res.status, 400)
    const body: Json = await res.json()
    assert.strictEqual(body.code, "resilience.E0001")
    assert.deepStrictEqual(body.errors.map((e: { pointer: string }) => e.pointer).sort(), ["#/id", "#/name", "#/quantity"])
  })

  it("an unknown id answers 404; the ops endpoints answer", async () => {
    const res = await fetch(`${base}/items/nothing-here`)
    assert.deepStrictEqual([res.status, ((await res.json()) as Json).code], [404, "resilience.E0002"])
    assert.strictEqual((await fetch(`${base}/health`)).status, 200)
    assert.isAbove(((await (await fetch(`${base}/errors`)).json()) as Json).total, 0)
    assert.include(await (await fetch(`${base}/metrics`)).text(), 'resilience_calls_total{operation="items.save"')
  })

  it("a request Node's parser refuses (raw non-ASCII bytes in the path) answers 400 as a problem with a request id", async () => {
    const url = new URL(base)
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname)
      let text = ""
      socket.on("data", (chunk) => (text += chunk.toString("latin1")))
      socket.on("end", () => resolve(text))
      socket.on("error", reject)
      socket.end(Buffer.concat([Buffer.from("GET /items/caf"), Buffer.from([0xc3, 0xa9]), Buffer.from(" HTTP/1.1\r\nHost: x\r\n\r\n")]))
    })
    const [head = "", body = ""] = raw.split("\r\n\r\n")
    assert.match(head, /^HTTP\/1\.1 400 /)
    assert.match(head, /\r\nx-request-id: \S+/i)
    assert.match(head, /\r\ncontent-type: application\/problem\+json/i)
    assert.strictEqual((JSON.parse(body) as Json).status, 400)
  })
})
