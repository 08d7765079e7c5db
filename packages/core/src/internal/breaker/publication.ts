// How a breaker's committed transitions reach its consumers.
import type { Transition } from "../../CircuitBreaker.js"
import type { Committed } from "./store.js"

/** The transition a commit of the breaker `name` made (its reason is defined). */
export const transitionOf = (name: string, committed: Committed): Transition => ({
  breaker: name,
  from: committed.from.status,
  to: committed.to.status,
  reason: committed.reason!,
  at: committed.at,
  generation: committed.to.generation,
  openings: committed.to.openings,
  ...(committed.to.status === "open" ? { openMillis: committed.to.lastOpenMillis } : {}),
  origin: committed.origin,
  ...(committed.by !== undefined ? { replica: committed.by } : {})
})

/**
 * `publish`, called in generation order from `after + 1` on (each generation has exactly one transition), even when
 * the fiber that committed one pauses before publishing it and another commits and publishes the next: a transition
 * waits for the ones before it.
 */
export const inGenerationOrder = (publish: (transition: Transition) => void, after: number) => {
  let next = after + 1
  const waiting = new Map<number, Transition>()
  return (transition: Transition): void => {
    waiting.set(transition.generation, transition)
    for (let t = waiting.get(next); t !== undefined; t = waiting.get(next)) {
      waiting.delete(next++)
      publish(t)
    }
  }
}
