import { assert, describe, it } from "@effect/vitest"
import type { ErrorTracker } from "../../src/index.js"
import { matcher } from "../../src/internal/tracker/fanout.js"

const event = (fields: Partial<ErrorTracker.ErrorEvent>): ErrorTracker.ErrorEvent => ({
  timestamp: 0,
  tag: "StorageError",
  code: "resilience.E0004",
  kind: "recoverable",
  severity: "high",
  message: "m",
  annotations: {},
  recovery: "none",
  source: "protect",
  ...fields
})

describe("tracker subscriber filter", () => {
  const corrupted = event({ tag: "Corrupted", kind: "unrecoverable", severity: "critical" })
  const corruptedGaveUp = event({ tag: "Corrupted", kind: "unrecoverable", severity: "critical", gaveUp: true })
  const storage = event({})
  const notFound = event({ tag: "NotFoundError", kind: "business", severity: "low", gaveUp: true })
  const all = [corrupted, corruptedGaveUp, storage, notFound]
  const selected = (filter: ErrorTracker.Filter | undefined) => all.filter(matcher(filter))

  it("no filter, or an empty one, takes everything", () => {
    assert.deepStrictEqual(selected(undefined), all)
    assert.deepStrictEqual(selected({}), all)
  })

  it("each criterion selects on its own", () => {
    assert.deepStrictEqual(selected({ severities: ["low", "critical"] }), [corrupted, corruptedGaveUp, notFound])
    assert.deepStrictEqual(selected({ minSeverity: "high" }), [corrupted, corruptedGaveUp, storage])
    assert.deepStrictEqual(selected({ tags: ["StorageError"] }), [storage])
    assert.deepStrictEqual(selected({ kinds: ["unrecoverable"] }), [corrupted, corruptedGaveUp])
    assert.deepStrictEqual(selected({ gaveUp: true }), [corruptedGaveUp, notFound])
    assert.deepStrictEqual(selected({ gaveUp: false }), [corrupted, storage])
  })

  it("criteria given together must all hold: unrecoverable give-ups only", () => {
    assert.deepStrictEqual(selected({ kinds: ["unrecoverable"], gaveUp: true }), [corruptedGaveUp])
    assert.deepStrictEqual(selected({ kinds: ["business", "recoverable"], minSeverity: "medium" }), [storage])
  })
})
