// Type-checks the documentation's code against the built packages, so examples cannot drift from the API.
// Run by `npm run typecheck` after `tsc -b` (it reads each package's dist/, so build first).
//
// - Every ```ts example in the JSDoc of packages/*/src becomes its own module under packages/<pkg>/.doc-examples/
//   (git-ignored) and is compiled with tsc --noEmit.
// - Every ```ts block of README.md and of each package's README.md is a whole program: it becomes its own module under .readme-examples/
//   (git-ignored), unchanged, and is compiled as a consumer would compile it: `@effect-resilience/core` and
//   `@effect-resilience/http` resolve through node_modules (the workspace links) to the packages' `exports`, that
//   is to dist/. It is compiled twice: with the consumer tsconfig the README gives (its one ```json block with
//   "compilerOptions"), and with the repository's own strict options (tsconfig.base.json: exactOptionalPropertyTypes,
//   noUncheckedIndexedAccess, verbatimModuleSyntax, noUnusedLocals), so a block cannot be a fragment with unused
//   declarations or lean on a looser configuration. A block without an import, or with `declare global` /
//   `declare module`, is refused: it would not stand alone.
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
process.chdir(root)
// tsc from the repository's own typescript, whatever PATH holds (`node scripts/check-doc-examples.mjs` works too)
const tscBin = join(root, "node_modules", "typescript", "bin", "tsc")

const tsc = (project, what, hint = "") => {
  try {
    execFileSync(process.execPath, [tscBin, "-p", project], { stdio: "inherit" })
  } catch (error) {
    console.error(`${what} do not type-check (${project})${error.status === undefined ? `: ${error.message}` : ""}${hint}`)
    process.exit(1)
  }
}

// --- JSDoc examples -------------------------------------------------------------------------------------------

let jsdoc = 0
for (const pkg of readdirSync("packages")) {
  const src = join("packages", pkg, "src")
  const out = join("packages", pkg, ".doc-examples")
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  for (const file of readdirSync(src).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(src, file), "utf8")
    const blocks = [...text.matchAll(/^\s*\* ```ts\n([\s\S]*?)^\s*\* ```/gm)]
    blocks.forEach((block, i) => {
      const code = block[1].split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n")
      const name = `${file.replace(/\.ts$/, "")}_${i + 1}.ts`
      writeFileSync(join(out, name), `// from ${src}/${file}, example ${i + 1}\n${code}\nexport {}\n`)
      jsdoc++
    })
  }
  writeFileSync(join(out, "tsconfig.json"), JSON.stringify({
    extends: "../../../tsconfig.base.json",
    compilerOptions: { noEmit: true, noUnusedLocals: false, declaration: false, declarationMap: false, sourceMap: false },
    include: ["*.ts"]
  }, null, 2))
  tsc(join(out, "tsconfig.json"), `JSDoc examples of ${pkg}`)
}
console.log(`doc examples: ${jsdoc} JSDoc examples type-checked`)

// --- README.md ------------------------------------------------------------------------------------------------

const readme = readFileSync("README.md", "utf8")
const lineOf = (index) => readme.slice(0, index).split("\n").length
const fail = (message) => {
  console.error(message)
  process.exit(1)
}

const configs = [...readme.matchAll(/^```json\n([\s\S]*?)^```$/gm)].filter((m) => m[1].includes('"compilerOptions"'))
if (configs.length !== 1) fail(`README.md: expected one \`\`\`json block with "compilerOptions" (the consumer tsconfig), found ${configs.length}`)
let consumer
try {
  consumer = JSON.parse(configs[0][1])
} catch (error) {
  fail(`README.md: the tsconfig block at line ${lineOf(configs[0].index)} is not JSON: ${error.message}`)
}

const out = ".readme-examples"
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
// the root README's blocks, then those of each package's own README (shown on the registry)
const sources = ["README.md", ...readdirSync("packages").map((pkg) => join("packages", pkg, "README.md")).filter(existsSync)]
const blocks = []
const starts = []
for (const source of sources) {
  const text = source === "README.md" ? readme : readFileSync(source, "utf8")
  const lineIn = (index) => text.slice(0, index).split("\n").length
  for (const block of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const line = lineIn(block.index) + 1
    const where = `${source} line ${line}`
    if (!/^import\b/m.test(block[1])) fail(`the ts block at ${where} has no import: every ts block must be a whole program`)
    // each file is a module, so a block cannot see another's declarations, except through ambient ones
    if (/^\s*declare (global|module)\b/m.test(block[1])) fail(`the ts block at ${where} declares ambient types: blocks must stand alone`)
    blocks.push(block)
    const name = `readme_${String(blocks.length).padStart(2, "0")}.ts`
    // the block unchanged, so line k of the file is line `line + k - 1` of its README
    writeFileSync(join(out, name), `${block[1]}// ${source}, from line ${line}\n`)
    starts.push(`${name}: ${where}`)
  }
}

// a consumer's package is an ES module package, as the README says
writeFileSync(join(out, "package.json"), JSON.stringify({ private: true, type: "module" }, null, 2))
writeFileSync(join(out, "tsconfig.json"), JSON.stringify({
  compilerOptions: { ...consumer.compilerOptions, noEmit: true },
  include: ["*.ts"]
}, null, 2))
writeFileSync(join(out, "tsconfig.strict.json"), JSON.stringify({
  extends: "../tsconfig.base.json",
  compilerOptions: { noEmit: true, declaration: false, declarationMap: false, sourceMap: false, types: ["node"] },
  include: ["*.ts"]
}, null, 2))
const hint = `\nline k of each file is line (first line + k - 1) of its README; first lines:\n  ${starts.join("\n  ")}`
tsc(join(out, "tsconfig.json"), "README examples (with the README's tsconfig)", hint)
tsc(join(out, "tsconfig.strict.json"), "README examples (with tsconfig.base.json)", hint)
console.log(`doc examples: ${blocks.length} README blocks (${sources.join(", ")}) compiled as standalone programs (README tsconfig and tsconfig.base.json)`)
