// What `npm publish` would ship for each public package: `npm pack --dry-run` on the built package (the test
// command builds before it runs), read back as JSON.
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const run = promisify(execFile)
const root = join(import.meta.dirname, "..", "..")

const pack = async (dir: string): Promise<ReadonlyArray<string>> => {
  const npm = process.env.npm_execpath
  const [command, args] = npm !== undefined && npm.endsWith(".js")
    ? [process.execPath, [npm]]
    : ["npm", []]
  const { stdout } = await run(command, [...args, "pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: join(root, dir)
  })
  const [report] = JSON.parse(stdout) as ReadonlyArray<{ readonly files: ReadonlyArray<{ readonly path: string }> }>
  return report!.files.map((file) => file.path)
}

const exportTargets = (exports: unknown): ReadonlyArray<string> =>
  typeof exports === "string"
    ? [exports]
    : exports === null || typeof exports !== "object"
    ? []
    : Object.values(exports).flatMap(exportTargets)

describe.each(["packages/core", "packages/http"])("%s", (dir) => {
  const manifest = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8"))

  it("ships its README, LICENSE, built code and sources, and no build state", async () => {
    const files = await pack(dir)
    expect(files).toEqual(expect.arrayContaining(["README.md", "LICENSE", "package.json", "dist/index.js", "dist/index.d.ts"]))
    expect(files.filter((file) => file.includes("tsbuildinfo"))).toEqual([])
    expect(files.filter((file) => !/^(dist|src)\//.test(file)).sort()).toEqual(["LICENSE", "README.md", "package.json"])
    // every file an export names (without a wildcard) is in the tarball
    for (const target of exportTargets(manifest.exports).filter((target) => !target.includes("*"))) {
      expect(files).toContain(target.replace(/^\.\//, ""))
    }
  }, 60_000)

  it("can be published as a scoped public package, with its repository", () => {
    expect(manifest.private).toBeUndefined()
    expect(manifest.publishConfig).toEqual({ access: "public" })
    expect(manifest.license).toBe("MIT")
    expect(manifest.repository).toMatchObject({ type: "git", directory: dir })
  })
})
