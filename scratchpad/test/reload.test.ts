// The demo service with its rules in a watched file, on a real port: a change of the file applies while it runs
// (GET /rules shows it, and a save now gets the new number of attempts), an invalid one is refused with its
// problems and changes nothing. Real time for the file system; every wait bounded.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, Scope } from "effect"
import { HttpServer } from "effect/http"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ServiceLive, Storage } from "../src/service.js"

type Json = any

const rules = (maxAttempts: number) => ({
  policies: { StorageError: { maxAttempts, baseDelay: "5 millis", logLevel: "Debug" } }
})

const dir = mkdtempSync(join(tmpdir(), "demo-reload-"))
const file = join(dir, "rules.json")
let base = ""
let storage: Storage["Service"]
const scope = Effect.runSync(Scope.make())

beforeAll(async () => {
  writeFileSync(file, JSON.stringify(rules(4)))
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      ServiceLive({ port: 0, failureRate: 0, logFormat: false, rulesFile: file }).pipe(Layer.provide(Logger.layer([]))),
      scope
    )
  )
  const { address } = Context.get(context, HttpServer.HttpServer)
  if (!("port" in address)) throw new Error("expected a TCP address")
  base = `http://127.0.0.1:${address.port}`
  storage = Context.get(context, Storage)
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  rmSync(dir, { recursive: true, force: true })
})

const rulesNow = async (): Promise<Json> => (await fetch(`${base}/rules`)).json()
/** Polls GET /rules until `ok` holds (at most 5 s). */
const until = async (ok: (body: Json) => boolean): Promise<Json> => {
  const deadline = Date.now() + 5000
  for (;;) {
    const body = await rulesNow()
    if (ok(body)) return body
    if (Date.now() > deadline) throw new Error(`GET /rules never matched: ${JSON.stringify(body)}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
const save = (id: string) =>
  fetch(`${base}/save`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, name: "Pear", quantity: 1 }) })

describe("the demo's rules file", () => {
  it("a change applies while the service runs, and the next saves get the new attempts", async () => {
    const first = await until((body) => body.rules.policies?.StorageError?.maxAttempts === 4)
    // three failing writes: with 4 attempts a save still succeeds
    await Effect.runPromise(storage.failNext(3))
    assert.strictEqual((await save("pear-1")).status, 200)

    writeFileSync(file, JSON.stringify(rules(2)))
    const changed = await until((body) => body.generation > first.generation)
    assert.strictEqual(changed.rules.policies.StorageError.maxAttempts, 2)
    assert.deepStrictEqual(changed.lastApplied.changes.policies.updated, ["StorageError"])
    assert.deepStrictEqual(changed.lastApplied.source, { _tag: "File", path: file })
    // the same three failing writes now exhaust the 2 attempts: 503
    await Effect.runPromise(storage.failNext(3))
    const res = await save("pear-2")
    assert.strictEqual(res.status, 503)
    await Effect.runPromise(storage.failNext(0))
  })

  it("an invalid change is refused with its problems, and the rules in force stay", async () => {
    const before = await rulesNow()
    writeFileSync(file, JSON.stringify({ policies: { StorageError: { maxAttempts: 0 } }, breakerz: {} }))
    const refused = await until((body) => body.lastEvent?._tag === "ReloadRejected")
    assert.strictEqual(refused.generation, before.generation)
    assert.sameMembers(refused.lastEvent.issues.map((i: Json) => i.path.join(".")), [
      "policies.StorageError.maxAttempts",
      "breakerz"
    ])
    assert.deepStrictEqual(refused.rules, before.rules)
  })
})
