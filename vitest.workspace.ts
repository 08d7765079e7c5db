import type { Reporter } from "vitest/node"
import { defineConfig } from "vitest/config"

// Ends every run with one plain "N passed, N failed" line, which CI tools read whatever the runner.
const closingLine: Reporter = {
  onTestRunEnd(testModules, unhandledErrors) {
    let passed = 0
    let failed = unhandledErrors.length
    let skipped = 0
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed++
        else if (state === "failed") failed++
        else skipped++
      }
    }
    console.log(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`)
  }
}

// vitest 5 no longer discovers a file named vitest.workspace.ts on its own; the npm scripts pass it with
// --config, and it lists the packages as projects.
export default defineConfig({
  test: {
    reporters: ["default", closingLine],
    projects: [
      {
        test: {
          name: "core",
          root: "packages/core",
          include: ["test/**/*.test.ts"]
        }
      },
      {
        test: {
          name: "http",
          root: "packages/http",
          include: ["test/**/*.test.ts"]
        }
      },
      {
        test: {
          name: "demo",
          root: "scratchpad",
          include: ["test/**/*.test.ts"]
        }
      }
    ]
  }
})
