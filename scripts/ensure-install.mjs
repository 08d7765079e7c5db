// Runs before `npm test`, `npm run demo`, `npm run tour` and `npm run bench`: on a fresh clone it installs the locked
// dependencies, among them the pinned `node` package, so that every script after it runs on Node 24 even
// where the machine ships an older Node. It never touches an existing install.
import { execFileSync } from "node:child_process"
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
  console.error("[ensure-install] dependencies missing: running npm ci")
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { stdio: "inherit" })
}
