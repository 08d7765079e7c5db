import { defineConfig } from "vitest/config"

// vitest 5 no longer discovers a file named vitest.workspace.ts on its own; the npm scripts pass it with
// --config, and it lists the packages as projects.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "core",
          root: "packages/core",
          include: ["test/**/*.test.ts"]
        }
      }
    ]
  }
})
