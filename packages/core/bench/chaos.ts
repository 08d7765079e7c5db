/**
 * The scenarios of issue 19's chaos layer, tagged `chaos`, timed on `protect`'s success path (the call a synchronous
 * counting effect, on ManagedRuntimes of the full `ErrorLayer`):
 *
 * - `chaos.off`: `protect` with a chaos layer provided whose only rule names another operation
 *   (`effect-resilience`) against the same `protect` with no chaos layer at all (`protect-baseline`): the stage
 *   wraps nothing, so the two must not differ beyond noise (≤ 1.05×). `floor-effect` is the call alone.
 * - `chaos.on`: a rule for the operation at rate 0, so every attempt is decided and nothing injected
 *   (`effect-resilience`), over the same `protect` with no chaos layer (`floor-effect`, the floor here), next to
 *   that floor plus one empty `Effect.sync` step (`effect-sync-step`): the decision's added cost ≤ 2× the step's.
 */
import { Chaos, CommonErrors, ErrorLayer, protect } from "@effect-resilience/core"
import { Effect, Layer, Logger, ManagedRuntime } from "effect"
import { loop, loopWithStep } from "./budget.js"
import type { Contender, Scenario } from "./scenarios.js"

/** What the chaos scenarios need of the suite's: the batch size and its counting call. */
export interface Counting {
  readonly batch: number
  /** `Effect.sync(() => 1)`, counted. */
  readonly syncCall: Effect.Effect<number>
}

const silent = Logger.layer([])
const operation = "bench.chaos"
const storageDown = Chaos.fail((op: string) => new CommonErrors.StorageError({ operation: op }))

/** `chaos.off` and `chaos.on`. */
export const make = async ({ batch, syncCall }: Counting) => {
  const base = Layer.merge(ErrorLayer.layer({ logFormat: false }), silent)
  const plain = ManagedRuntime.make(base)
  const elsewhere = ManagedRuntime.make(Layer.merge(base, Chaos.layer({
    rules: [{ operations: ["another.operation"], fault: storageDown }]
  })))
  const undecided = ManagedRuntime.make(Layer.merge(base, Chaos.layer({
    rules: [{ operations: [operation], fault: storageDown, rate: 0 }]
  })))
  await Promise.all([plain, elsewhere, undecided].map((runtime) => runtime.runPromise(Effect.void)))
  const protectedCall = syncCall.pipe(protect({ operation }))
  const step = Effect.sync(() => {})
  // a rule that decides must not have injected anything
  const injectedNothing = (runtime: typeof undecided) => async () => {
    const stats = await runtime.runPromise(Chaos.Chaos.use((chaos) => chaos.stats))
    if (stats.length > 0) throw new Error(`chaos: something was injected (${JSON.stringify(stats)})`)
  }

  const scenarios: Array<Scenario> = [
    {
      id: "chaos.off",
      description: "protect with a chaos layer but no rule for its operation, vs protect with no chaos layer",
      calls: batch,
      tags: ["chaos"],
      cases: [
        { contender: "floor-effect", opCalls: batch, run: () => plain.runPromise(loop(syncCall, batch)) },
        { contender: "protect-baseline", opCalls: batch, run: () => plain.runPromise(loop(protectedCall, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: () => elsewhere.runPromise(loop(protectedCall, batch)),
          after: injectedNothing(elsewhere)
        }
      ]
    },
    {
      id: "chaos.on",
      description: "a chaos rule for the operation at rate 0 (decided, never injected) over protect without chaos, "
        + "next to one empty Effect.sync step",
      calls: batch,
      tags: ["chaos"],
      cases: [
        { contender: "floor-effect", opCalls: batch, run: () => plain.runPromise(loop(protectedCall, batch)) },
        {
          contender: "effect-resilience",
          opCalls: batch,
          run: () => undecided.runPromise(loop(protectedCall, batch)),
          after: injectedNothing(undecided)
        },
        {
          contender: "effect-sync-step",
          opCalls: batch,
          run: () => plain.runPromise(loopWithStep(step, protectedCall, batch))
        }
      ]
    }
  ]

  const notes: Record<string, Partial<Record<Contender, string>>> = {
    "chaos.off": {
      "floor-effect": "Effect.sync(() => 1) alone, on a ManagedRuntime of ErrorLayer.layer({ logFormat: false })",
      "protect-baseline": `the same .pipe(protect({ operation: "${operation}" })), built once, no chaos layer`,
      "effect-resilience": "the same protect on ErrorLayer merged with Chaos.layer({ rules: [{ operations: "
        + "[\"another.operation\"], fault: Chaos.fail(StorageError) }] }); the suite checks nothing was injected"
    },
    "chaos.on": {
      "floor-effect": `Effect.sync(() => 1).pipe(protect({ operation: "${operation}" })), no chaos layer: the floor `
        + "of this scenario, so the added figure is the chaos decision's own cost",
      "effect-resilience": `the same with Chaos.layer({ rules: [{ operations: ["${operation}"], fault: `
        + "Chaos.fail(StorageError), rate: 0 }] }) provided: each attempt decided, none injected (checked)",
      "effect-sync-step": "the floor's loop with one empty Effect.sync(() => {}) yielded before each call"
    }
  }

  return {
    scenarios,
    fields: (scenario: string, contender: Contender) => {
      const note = notes[scenario]?.[contender]
      return note === undefined ? {} : { note }
    },
    dispose: () => Promise.all([plain, elsewhere, undecided].map((runtime) => runtime.dispose())).then(() => undefined)
  }
}
