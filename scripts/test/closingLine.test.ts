import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { expect, it } from "vitest"

const run = promisify(execFile)
const fixture = join(import.meta.dirname, "fixtures", "closing-line")

it("the closing line counts failed tests, files that failed to load and unhandled errors", async () => {
  const result = await run(
    process.execPath,
    [join("node_modules", "vitest", "vitest.mjs"), "run", "--config", join(fixture, "vitest.config.ts")],
    { cwd: join(import.meta.dirname, "..", ".."), env: { ...process.env, CI: "1" } }
  ).then(() => ({ code: 0, stdout: "" }), (error: { code: number; stdout: string }) => error)
  expect(result.code).toBe(1)
  const line = result.stdout.trim().split("\n").at(-1)
  expect(line).toBe("2 passed, 3 failed (1 test file failed to load or run, 1 unhandled error)")
}, 60_000)

it("a run that fails with no failed test (no test files found) does not read 0 failed", async () => {
  const result = await run(
    process.execPath,
    [join("node_modules", "vitest", "vitest.mjs"), "run", "--config", join(fixture, "vitest.config.ts"), "no-such-file"],
    { cwd: join(import.meta.dirname, "..", ".."), env: { ...process.env, CI: "1" } }
  ).then(() => ({ code: 0, stdout: "" }), (error: { code: number; stdout: string }) => error)
  expect(result.code).toBe(1)
  expect(result.stdout.trim().split("\n").at(-1)).toBe("0 passed, 1 failed (the run failed: no test files)")
}, 60_000)
