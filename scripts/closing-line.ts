import type { Reporter } from "vitest/node"

/**
 * Ends every run with one plain line, `N passed, N failed`, which CI tools read whatever the runner. The failed
 * figure counts failed tests, test files that failed to load (a missing import, a syntax error, a throwing
 * top level: their tests never ran, so no test counts them) and unhandled errors, and a run that failed or was
 * interrupted with none of those (no test files found, say) counts as one failure itself, so a failing run
 * never reads `0 failed`; what is not a failed test is named after the figures.
 */
export const closingLine: Reporter = {
  onTestRunEnd(testModules, unhandledErrors, reason) {
    let passed = 0
    let failedTests = 0
    let skipped = 0
    let failedFiles = 0
    for (const module of testModules) {
      let failedHere = 0
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed++
        else if (state === "failed") failedHere++
        else skipped++
      }
      failedTests += failedHere
      // a file whose collection failed, or that failed with no failed test of its own (an error in a hook)
      if (failedHere === 0 && (module.errors().length > 0 || module.state() === "failed")) failedFiles++
    }
    const counted = failedTests + failedFiles + unhandledErrors.length
    const runFailed = reason !== "passed" && counted === 0
    const failed = counted + (runFailed ? 1 : 0)
    const why = [
      runFailed ? (reason === "interrupted" ? "the run was interrupted" : testModules.length === 0 ? "the run failed: no test files" : "the run failed") : "",
      failedFiles > 0 ? `${failedFiles} test file${failedFiles === 1 ? "" : "s"} failed to load or run` : "",
      unhandledErrors.length > 0 ? `${unhandledErrors.length} unhandled error${unhandledErrors.length === 1 ? "" : "s"}` : ""
    ].filter((part) => part !== "")
    console.log(
      `\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}` +
        (why.length > 0 ? ` (${why.join(", ")})` : "")
    )
  }
}
