// Types of redis-server.mjs: a real `redis-server` of this process's own, on a free loopback port.
import type { ChildProcess } from "node:child_process"

/** A `redis-server` started by {@link start}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The pid of the current (or last) server process: a restart changes it. */
  readonly pid: number
  /** Whether the server process is alive. */
  readonly running: boolean
  /** SIGKILL, as a crash would; resolves once the process (and its watchdog) has exited. A no-op when it is not running. */
  readonly kill: () => Promise<void>
  /** SIGTERM (SIGKILL after 5 s); resolves once the process (and its watchdog) has exited. A no-op when it is not running. */
  readonly stop: () => Promise<void>
  /** Starts a fresh, empty server on the same port (stopping the running one first) and waits until it is ready. */
  readonly restart: () => Promise<void>
}

/** Options of {@link start}. */
export interface StartOptions {
  /** The port to run on; without it, a free one (another one when it is taken before the server binds it). */
  readonly port?: number
  /** How long to wait for the server to answer PING, in milliseconds. Default 5000. */
  readonly readyTimeout?: number
  /** More `redis-server` arguments, e.g. `["--maxmemory", "1mb"]`. */
  readonly args?: ReadonlyArray<string>
  /**
   * Runs the server in a process group of its own, so that a Ctrl-C in the terminal reaches only this process,
   * which can stop what uses the server before the server. Default false: the server gets the terminal's signals.
   */
  readonly detached?: boolean
  /** Who owns it, in the name of its temporary directory (`redis-<label>-…`). Default `"server"`. */
  readonly label?: string
}

/** What to do when redis-server is missing, in one line. */
export declare const howTo: string

/** A server that could not be started (missing binary, no answer in time, early exit); its output is in the message. */
export declare class RedisServerError extends Error {
  constructor(message: string)
}

/** The path of `command` on PATH, if there is an executable file of that name. */
export declare const onPath: (command: string) => string | undefined

/** Whether `redis-server` is an executable file on PATH, so that {@link start} can run one. */
export declare const isInstalled: () => boolean

/** `REDIS_URL` when it is set to a non-empty value. */
export declare const redisUrlFromEnv: () => string | undefined

/** A free loopback port: bind port 0, read the port, close. */
export declare const freePort: () => Promise<number>

/** Whether something on `127.0.0.1:port` answers `PING` with `+PONG` within `timeout` ms (default 500). */
export declare const answersPing: (port: number, timeout?: number) => Promise<boolean>

/** SIGTERM, SIGKILL if it has not exited within `graceMillis` (default 5000); resolves once it has exited. */
export declare const stopProcess: (child: ChildProcess, graceMillis?: number) => Promise<void>

/**
 * Starts a `redis-server` on a free loopback port (or `options.port`) and resolves once it answers PING (within
 * `readyTimeout`, default 5 s); rejects with a {@link RedisServerError} saying why otherwise. It is killed when this
 * process exits, and by its watchdog when this process dies without exit handlers.
 */
export declare const start: (options?: StartOptions) => Promise<RedisServer>
