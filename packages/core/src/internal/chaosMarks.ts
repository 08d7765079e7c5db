/**
 * The errors and defects the chaos stage injected, so that wherever an error is shown (the tracker's events, the
 * live view's recent errors and alerts, the retry and give-up log lines) an injected one can say it is a
 * rehearsal. The set is touched only when a fault is injected ({@link mark}) and on the failure path
 * ({@link isInjected}); without a `Chaos` layer nothing is ever marked, and a lookup is one `WeakSet.has`.
 *
 * Only objects can be marked: a primitive (`Chaos.fail("boom")`, `Chaos.die(42)`) cannot be told from an equal
 * value thrown for real, so it is never reported as injected. A fault that hands out one object for every
 * injection (`Chaos.fail(error)` rather than `Chaos.fail((operation) => error)`) marks that object itself: if the
 * code under test fails with the very same object for real, that failure is reported as injected too.
 */

// one set for every Chaos service of the process: an object injected by any of them is a rehearsal wherever it
// is seen (a WeakSet, so a marked error is collected as soon as nothing else holds it)
const injected = new WeakSet<object>()

/** Marks a failure or defect the chaos stage is about to inject (a primitive is left unmarked: see above). */
export const mark = (value: unknown): void => {
  if ((typeof value === "object" && value !== null) || typeof value === "function") injected.add(value)
}

/** Whether a value is a failure or defect the chaos stage injected. */
export const isInjected = (value: unknown): boolean =>
  ((typeof value === "object" && value !== null) || typeof value === "function") && injected.has(value)
