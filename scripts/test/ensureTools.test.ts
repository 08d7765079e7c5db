// scripts/ensure-tools.mjs, the pre-test step that makes sure the tests have a `redis-server`, a `chromium` and a
// `prometheus`: run as a child process with a PATH of its own (an empty directory, or one holding fake tools and a fake
// `apt-get` script), under
// the pinned Node 24 and, where the machine has it, the machine's own older Node (it runs before the pinned one
// exists on a fresh clone).
import { execFile, execFileSync } from "node:child_process"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"

const script = join(import.meta.dirname, "..", "ensure-tools.mjs")
const missing =
  "[ensure-redis] redis-server is missing: install it (Debian: sudo apt-get install -y redis-server) or set " +
  "REDIS_URL to a running server"

/** process.execPath, and the first other `node` on PATH outside node_modules when its version differs. */
const nodes = (): ReadonlyArray<string> => {
  const mine = process.versions.node
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "" || dir.includes("node_modules")) continue
    const candidate = join(dir, "node")
    try {
      const version = execFileSync(candidate, ["-p", "process.versions.node"], { encoding: "utf8" }).trim()
      if (version !== mine) return [process.execPath, candidate]
    } catch {
      // none here
    }
  }
  return [process.execPath]
}

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const runScript = (node: string, env: Record<string, string>, tools: ReadonlyArray<string> = ["redis-server"]): Promise<Run> =>
  new Promise((resolve) => {
    const { REDIS_URL: _url, ENSURE_TOOLS_NO_INSTALL: _noInstall, CHROMIUM_PATH: _chromium, ...inherited } = process.env
    execFile(node, [script, ...tools], { env: { ...inherited, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }))
  })

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

const dirs: Array<string> = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "ensure-tools-"))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const executable = (path: string, text: string) => {
  writeFileSync(path, text)
  chmodSync(path, 0o755)
}

describe.each(nodes())("under %s", (node) => {
  it("does nothing when REDIS_URL is set, even without redis-server", async () => {
    const run = await runScript(node, { PATH: tempDir(), REDIS_URL: "redis://127.0.0.1:1" })
    expect(run).toEqual({ code: 0, stdout: "", stderr: "" })
  })

  it("does nothing when redis-server is on PATH", async () => {
    const bin = tempDir()
    executable(join(bin, "redis-server"), "#!/bin/sh\n")
    const run = await runScript(node, { PATH: bin })
    expect(run).toEqual({ code: 0, stdout: "", stderr: "" })
  })

  it("says in one line how to install redis-server when it cannot install it", async () => {
    const run = await runScript(node, { PATH: tempDir(), ENSURE_TOOLS_NO_INSTALL: "1" })
    expect(run.code).toBe(1)
    expect(run.stdout).toBe("")
    expect(lines(run.stderr)).toEqual([missing])
  })

  it("with no tool named, checks all three and names every one missing, one line each", async () => {
    const run = await runScript(node, { PATH: tempDir(), ENSURE_TOOLS_NO_INSTALL: "1" }, [])
    expect(run.code).toBe(1)
    expect(lines(run.stderr)).toEqual([
      missing,
      "[ensure-chromium] chromium is missing: install it (Debian: sudo apt-get install -y chromium) or set " +
      "CHROMIUM_PATH to a Chromium or Chrome binary",
      "[ensure-prometheus] prometheus is missing: install it (Debian: sudo apt-get install -y prometheus)"
    ])
  })

  it("does nothing when every tool is there (chromium named by CHROMIUM_PATH)", async () => {
    const bin = tempDir()
    const elsewhere = tempDir()
    executable(join(bin, "redis-server"), "#!/bin/sh\n")
    executable(join(bin, "prometheus"), "#!/bin/sh\n")
    executable(join(elsewhere, "chrome"), "#!/bin/sh\n")
    const run = await runScript(node, { PATH: bin, CHROMIUM_PATH: join(elsewhere, "chrome") }, [])
    expect(run).toEqual({ code: 0, stdout: "", stderr: "" })
  })

  it("fails in one line when CHROMIUM_PATH names no executable file, without installing anything", async () => {
    const bin = tempDir()
    executable(join(bin, "chromium"), "#!/bin/sh\n")
    const run = await runScript(node, { PATH: bin, CHROMIUM_PATH: join(bin, "nothing") }, ["chromium"])
    expect(run.code).toBe(1)
    expect(lines(run.stderr)).toEqual([`[ensure-chromium] CHROMIUM_PATH=${join(bin, "nothing")} is not an executable file`])
  })

  it("refuses an unknown tool", async () => {
    const run = await runScript(node, { PATH: tempDir() }, ["redis"])
    expect(run.code).toBe(2)
    expect(lines(run.stderr)).toEqual([
      "[ensure-tools] unknown tool redis: expected redis-server, chromium, prometheus"
    ])
  })

  // apt-get is faked: a shell script on PATH that logs its arguments, as root is the only case that installs
  describe.runIf(process.getuid?.() === 0)("as root with apt-get", () => {
    const fakeApt = (bin: string, behaviour: string) => {
      const log = join(bin, "apt.log")
      executable(
        join(bin, "apt-get"),
        `#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> "${log}"\n${behaviour}\n`
      )
      return () => lines(readFileSync(log, "utf8"))
    }

    it("installs redis-server, refreshing stale package lists once", async () => {
      const bin = tempDir()
      const calls = fakeApt(
        bin,
        `case "$1" in
  update) : > "${bin}/updated" ;;
  install)
    if [ ! -e "${bin}/updated" ]; then echo "E: Unable to locate package redis-server" >&2; exit 100; fi
    echo "#!/bin/sh" > "${bin}/redis-server"; /bin/chmod +x "${bin}/redis-server" ;;
esac`
      )
      const run = await runScript(node, { PATH: bin })
      expect(run.code).toBe(0)
      expect(lines(run.stderr)).toEqual([
        "[ensure-redis] redis-server is missing: running apt-get install -y redis-server"
      ])
      expect(calls()).toEqual([
        "noninteractive install -y -q redis-server",
        "noninteractive update -q",
        "noninteractive install -y -q redis-server"
      ])
    })

    it("installs each missing tool's package, and leaves alone those already there", async () => {
      const bin = tempDir()
      executable(join(bin, "redis-server"), "#!/bin/sh\n")
      const calls = fakeApt(bin, `echo "#!/bin/sh" > "${bin}/$4"; /bin/chmod +x "${bin}/$4"`)
      const run = await runScript(node, { PATH: bin }, [])
      expect(run.code).toBe(0)
      expect(lines(run.stderr)).toEqual([
        "[ensure-chromium] chromium is missing: running apt-get install -y chromium",
        "[ensure-prometheus] prometheus is missing: running apt-get install -y prometheus"
      ])
      expect(calls()).toEqual([
        "noninteractive install -y -q chromium",
        "noninteractive install -y -q prometheus"
      ])
    })

    it("keeps apt's output and ends with one line saying what to do when the install fails", async () => {
      const bin = tempDir()
      const calls = fakeApt(bin, `[ "$1" = install ] && { echo "E: Broken packages" >&2; exit 100; }; exit 0`)
      const run = await runScript(node, { PATH: bin })
      expect(run.code).toBe(1)
      expect(lines(run.stderr)).toEqual([
        "[ensure-redis] redis-server is missing: running apt-get install -y redis-server",
        "E: Broken packages",
        "[ensure-redis] apt-get install -y redis-server failed (exit 100): install it (Debian: sudo apt-get " +
        "install -y redis-server) or set REDIS_URL to a running server"
      ])
      expect(calls()).toEqual([
        "noninteractive install -y -q redis-server",
        "noninteractive update -q",
        "noninteractive install -y -q redis-server"
      ])
    })
  })
})
