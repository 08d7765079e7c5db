// Refusals (an open breaker's, a full bulkhead's, a rate limiter's) are values about the strategy, not about where
// the call was made: built without a stack trace, which is most of what building an Error costs.
const V8Error = Error as unknown as { stackTraceLimit: number | undefined }

/** `make()`, with V8 capturing no stack trace for the errors it builds. */
export const stackless = <A>(make: () => A): A => {
  const limit = V8Error.stackTraceLimit
  V8Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    V8Error.stackTraceLimit = limit
  }
}
