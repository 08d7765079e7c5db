// Requests Node's HTTP parser refuses before any handler runs (raw non-ASCII bytes in the request line, control
// characters in headers, oversized headers, conflicting Content-Length, a request not received in time). Node
// answers those with a bare status line; here they are answered with the edge's problem format instead.
// Structural types only: the package has no Node types.
import { Schema } from "effect"
import { ErrorFamily } from "@effect-resilience/core"
import type * as ErrorMapping from "../ErrorMapping.js"
import * as Problem from "../Problem.js"
import type * as ProblemFormat from "../ProblemFormat.js"
import * as RequestId from "../RequestId.js"
import type { ClientErrorSocket } from "../HttpEdge.js"
import { pathOf } from "./url.js"

/** Why the parser refused a request. */
export type UnreadableReason = "malformed" | "headers_too_large" | "chunk_extensions_too_large" | "timeout"

const publicMessages: Record<UnreadableReason, string> = {
  malformed: "The request could not be parsed.",
  headers_too_large: "The request's header fields are too large.",
  chunk_extensions_too_large: "The request's chunk extensions are too large.",
  timeout: "The request was not received in time."
}

const statuses: Record<UnreadableReason, number> = {
  malformed: 400,
  headers_too_large: 431,
  chunk_extensions_too_large: 413,
  timeout: 408
}

/** A request the server's HTTP parser could not read. A business error: the client's to fix. */
export class UnreadableRequestError extends ErrorFamily.TaggedError<UnreadableRequestError>()("UnreadableRequestError", {
  reason: Schema.Literals(["malformed", "headers_too_large", "chunk_extensions_too_large", "timeout"])
}, {
  code: "resilience.E0105",
  kind: "business",
  severity: "low",
  publicMessage: ({ reason }) => publicMessages[reason]
}) {}

/** The reason for a parser error code (`HPE_*`, `ERR_HTTP_REQUEST_TIMEOUT`), as Node's own answers map them. */
export const reasonOf = (code: string | undefined): UnreadableReason => {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return "headers_too_large"
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return "chunk_extensions_too_large"
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return "timeout"
    default:
      return "malformed"
  }
}

const requestLine = /^[A-Za-z]+ ([^ \r\n]+) HTTP\//

/**
 * The path of the refused request, from the bytes the parser saw, with every byte that is not printable ASCII
 * percent-encoded (`/caf%C3%A9`), bounded like any `instance`; `""` when the request line cannot be read.
 */
export const instanceOfRawPacket = (raw: unknown): string => {
  if (raw === null || typeof raw !== "object" || !("toString" in raw)) return ""
  // Buffer#toString(encoding, start, end): one character per byte, and no more than a cut instance needs
  const text = (raw as { toString(encoding: string, start: number, end: number): string }).toString("latin1", 0, 8192)
  if (typeof text !== "string") return ""
  const target = requestLine.exec(text)?.[1]
  if (target === undefined) return ""
  let encoded = ""
  for (const char of target) {
    const code = char.charCodeAt(0)
    encoded += code > 0x20 && code < 0x7f ? char : `%${code.toString(16).toUpperCase().padStart(2, "0")}`
  }
  // the path only; the problem bounds it (ErrorMapping.problem)
  return pathOf(encoded)
}

// every non-ASCII character as a \u escape: the body's length in bytes is its length in characters
const asciiJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** What the answer needs from an edge. */
export interface EdgeParts {
  readonly mapping: ErrorMapping.ErrorMapping<any>
  readonly format: ProblemFormat.ProblemFormat
  readonly requestIdHeader: string
}

/** The problem for a refused request: the edge's mapping, with the parser's status unless the edge overrides it. */
export const problemOf = (edge: EdgeParts, reason: UnreadableReason, instance: string): Problem.Problem => {
  const error = new UnreadableRequestError({ reason })
  const problem = edge.mapping.problem(error, { path: instance, requestId: RequestId.generate() })
  const statusesOption = edge.mapping.options.statuses
  if (statusesOption !== undefined && Object.hasOwn(statusesOption, error._tag)) return problem
  const status = statuses[reason]
  return { ...problem, status, title: Problem.reasonPhrase(status) }
}

/** The raw HTTP/1.1 response for a problem: status line, headers (request id, `Connection: close`), body. */
export const rawResponseOf = (edge: EdgeParts, problem: Problem.Problem): string => {
  const body = asciiJson(edge.format.render(problem))
  return [
    `HTTP/1.1 ${problem.status} ${Problem.reasonPhrase(problem.status)}`,
    `Content-Type: ${edge.format.contentType}`,
    `Content-Length: ${body.length}`,
    `${edge.requestIdHeader}: ${problem.requestId}`,
    "Connection: close",
    "",
    body
  ].join("\r\n")
}

/** The `clientError` listener for an edge. */
export const listenerOf = (edge: EdgeParts) => (error: unknown, socket: ClientErrorSocket): void => {
  const e = (error ?? {}) as { readonly code?: unknown; readonly rawPacket?: unknown }
  const code = typeof e.code === "string" ? e.code : undefined
  // a response already under way on this connection must not be corrupted (Node's own rule)
  const inFlight = (socket as { readonly _httpMessage?: { readonly headersSent?: boolean } | null })._httpMessage
  if (code === "ECONNRESET" || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy()
    return
  }
  // with a response in flight, the packet starts with the earlier request: its path would be the wrong one
  const instance = inFlight === undefined || inFlight === null ? instanceOfRawPacket(e.rawPacket) : ""
  const problem = problemOf(edge, reasonOf(code), instance)
  socket.end(rawResponseOf(edge, problem))
  // a client that neither reads nor closes does not keep the socket
  socket.setTimeout?.(5_000, () => socket.destroy())
}
