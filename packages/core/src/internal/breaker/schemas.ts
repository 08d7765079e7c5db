// Schema building blocks of the breaker's options.
import { guarded } from "../unknownKeys.js"

const isCount = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u) && u >= 1

/** An integer of at least 1. */
export const Count = guarded(isCount, (u) => `Expected an integer of at least 1, got ${String(u)}`)
