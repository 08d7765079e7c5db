// The README's testing-kit examples, run as tests: each `ts` block of its "Testing your resilience" section is
// written out as a module and imported here, so the `it.effect` calls it makes are this file's tests. A block that
// stops passing fails here (and one that stops compiling fails `npm run typecheck`, which compiles every block).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..", "..")
const readme = readFileSync(join(root, "README.md"), "utf8")
const start = readme.indexOf("## Testing your resilience")
if (start === -1) throw new Error("README.md has no \"Testing your resilience\" section")
const end = readme.indexOf("\n## ", start + 1)
const section = readme.slice(start, end === -1 ? undefined : end)
const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!)
if (blocks.length < 4) throw new Error(`expected the section's 4 examples, found ${blocks.length}`)

const dir = join(import.meta.dirname, ".readme-examples")
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
for (const [index, code] of blocks.entries()) {
  const file = join(dir, `testing_${index}.ts`)
  writeFileSync(file, code)
  await import(file)
}
