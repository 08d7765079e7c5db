import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FlakyStore, type Line, makeApp, serve } from "./fixtures.js"

const lines: Array<Line> = []
const store = new FlakyStore()
let server: Awaited<ReturnType<typeof serve>>

beforeAll(async () => {
  server = await serve(makeApp(store).Routes, lines)
})
afterAll(() => server.close())

const post = (path: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
  fetch(server.url + path, { method: "POST", body, headers })

describe("HttpEdge on a real server", () => {
  it("a save that succeeds after retries answers 200 {result: ok}", async () => {
    store.failNext = 2
    const res = await post("/save", JSON.stringify({ id: "a", name: "apple", quantity: 3 }))
    assert.strictEqual(res.status, 200)
    assert.deepStrictEqual(await res.json(), { result: "ok" })
    assert.strictEqual(store.items.get("a")?.name, "apple")
  })

  it("a save with missing fields answers 400 with one errors entry per bad field", async () => {
    const res = await post("/save", JSON.stringify({ id: "b", quantity: -1 }))
    assert.strictEqual(res.status, 400)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    const body = await res.json()
    assert.strictEqual(body.status, 400)
    assert.strictEqual(body.code, "resilience.E0001")
    assert.deepStrictEqual(body.errors.map((e: { pointer: string }) => e.pointer).sort(), ["#/name", "#/quantity"])
    console.log(body)
  })
})
