// Type-checks every ```ts example in the JSDoc of packages/*/src against the built package, so documentation
// examples cannot drift from the API. Each example becomes its own module under packages/<pkg>/.doc-examples/
// (git-ignored) and is compiled with tsc --noEmit. Run by `npm run typecheck` after `tsc -b`.
import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

let total = 0
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
      total++
    })
  }
  writeFileSync(join(out, "tsconfig.json"), JSON.stringify({
    extends: "../../../tsconfig.base.json",
    compilerOptions: { noEmit: true, noUnusedLocals: false, declaration: false, declarationMap: false, sourceMap: false },
    include: ["*.ts"]
  }, null, 2))
  try {
    execFileSync("tsc", ["-p", join(out, "tsconfig.json")], { stdio: "inherit" })
  } catch {
    console.error(`doc examples of ${pkg} do not type-check (files in ${out})`)
    process.exit(1)
  }
}
console.log(`doc examples: ${total} type-checked`)
