import { defineConfig } from "vitest/config"
import { closingLine } from "./scripts/closing-line.js"

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
          name: "repo",
          root: "scripts",
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
