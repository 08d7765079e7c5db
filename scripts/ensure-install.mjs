// Runs before `npm test`, `npm run demo`, `npm run tour` and `npm run bench`: on a fresh clone it installs the locked
// dependencies, among them the pinned `node` package, so that every script after it runs on Node 24 even
// where the machine ships an older Node. It never touches an existing install.
//
// That first install runs under the machine's Node (20 on our machines), older than the `engines` of this
// project and of some dependencies, so npm prints one EBADENGINE warning block per such package (about 80
// lines). They are expected and harmless here: the scripts after the install run on the pinned Node 24. This
// script drops those blocks and says so in one line; every other line of npm's output is kept.
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"

const needed = [
  "node_modules/.bin/node",
  "node_modules/.bin/vitest",
  "node_modules/.bin/tsc",
  "node_modules/effect",
  "node_modules/@effect/platform-node",
  "node_modules/@effect-resilience/http",
  "node_modules/opossum"
]
if (needed.some((path) => !existsSync(path))) {
  console.error(`[ensure-install] dependencies missing: running npm ci (under Node ${process.versions.node})`)
  const npm = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], {
    stdio: ["inherit", "inherit", "pipe"],
    encoding: "utf8",
    maxBuffer: Infinity
  })
  if (npm.error !== undefined) {
    console.error(`[ensure-install] could not run npm ci: ${npm.error.message}`)
    process.exit(1)
  }
  const lines = (npm.stderr ?? "").split("\n")
  const kept = lines.filter((line) => !line.includes("EBADENGINE"))
  if (kept.join("").trim() !== "") process.stderr.write(kept.join("\n"))
  if (kept.length < lines.length) {
    console.error(
      `[ensure-install] npm's EBADENGINE warnings hidden: expected under Node ${process.versions.node}; ` +
        "the scripts run on the pinned Node 24"
    )
  }
  if (npm.status !== 0) {
    console.error(`[ensure-install] npm ci failed (exit ${npm.status ?? npm.signal})`)
    process.exit(npm.status ?? 1)
  }
}
