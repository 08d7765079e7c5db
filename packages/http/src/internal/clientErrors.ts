import { Cause, type Schema } from "effect"
import { HttpServerError, type HttpServerRequest, Multipart } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { CommonErrors } from "@effect-resilience/core"
import * as RequestErrors from "../RequestErrors.js"
import { pathOf } from "./url.js"

/** A request slot that failed decoding, and where its pointers start (the payload's are into the body). */
export type RequestSlot = "Params" | "Query" | "Headers" | "Payload"

const prefixOf: Record<RequestSlot, ReadonlyArray<string>> = {
  Params: ["params"],
  Query: ["query"],
  Headers: ["headers"],
  Payload: []
}

export const isRequestSlot = (kind: string): kind is RequestSlot => Object.hasOwn(prefixOf, kind)

/** A request decoding failure as a `ValidationError`, one issue per failing field. */
export const validationOf = (slot: RequestSlot, error: Schema.SchemaError): CommonErrors.ValidationError => {
  const invalid = CommonErrors.validationErrorFromSchema(error)
  const prefix = prefixOf[slot]
  if (prefix.length === 0) return invalid
  return new CommonErrors.ValidationError({
    issues: invalid.issues.map((issue) => ({ path: [...prefix, ...issue.path], message: issue.message })),
    ...(invalid.detail !== undefined ? { detail: invalid.detail } : {})
  })
}

/** A body that could not be read: over the limit, or not parsable. */
export const bodyErrorOf = (
  error: HttpServerError.HttpServerError,
  limit: number | undefined
): RequestErrors.MalformedBodyError | RequestErrors.PayloadTooLargeError => {
  const reason = error.reason
  if (reason._tag === "RequestParseError" && reason.reason === "BodyTooLarge") {
    return new RequestErrors.PayloadTooLargeError({ limitBytes: limit ?? 0 })
  }
  const underlying = reason._tag === "RequestParseError" ? reason.cause : undefined
  if (underlying instanceof globalThis.Error && underlying.name === "MaxBytesError") {
    return new RequestErrors.PayloadTooLargeError({ limitBytes: limit ?? 0 })
  }
  return new RequestErrors.MalformedBodyError({
    detail: underlying instanceof globalThis.Error ? underlying.message : String(reason)
  })
}

/**
 * effect's own request errors as this package's families: an unknown route, a body that could not be read, and
 * (from `HttpApi`, which turns them into defects when no middleware answers them) request decoding failures and
 * bodies read with `orDie`. Everything else is left as it is.
 */
export const clientCauseOf = <E>(
  cause: Cause.Cause<E>,
  request: HttpServerRequest.HttpServerRequest,
  limit: number | undefined
): Cause.Cause<unknown> => {
  const translate = (error: unknown): unknown => {
    if (Multipart.isMultipartError(error)) {
      switch (error.reason._tag) {
        case "FileTooLarge":
        case "FieldTooLarge":
        case "BodyTooLarge":
        case "TooManyParts":
          return new RequestErrors.PayloadTooLargeError({ limitBytes: limit ?? 0, detail: error.reason._tag })
        case "Parse":
          return new RequestErrors.MalformedBodyError({ detail: `multipart: ${String(error.reason.cause)}` })
        default:
          return error
      }
    }
    if (HttpServerError.isHttpServerError(error)) {
      switch (error.reason._tag) {
        case "RouteNotFound":
          return new RequestErrors.RouteNotFoundError({ method: request.method, path: pathOf(request.url) })
        case "RequestParseError":
          return bodyErrorOf(error, limit)
        default:
          return error
      }
    }
    return error
  }
  // a client's fault that arrived as a defect is a failure, whatever else the cause holds: otherwise, beside a
  // typed failure, it would be answered as a defect (a defect anywhere in a cause wins)
  const clientFault = (defect: unknown): unknown => {
    if (HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError") {
      return bodyErrorOf(defect, limit)
    }
    if (HttpApiError.HttpApiSchemaError.is(defect) && isRequestSlot(defect.kind)) {
      return validationOf(defect.kind, defect.cause)
    }
    return undefined
  }
  const mapped: Cause.Cause<unknown> = cause.reasons.some(Cause.isFailReason) ? Cause.map(cause, translate) : cause
  // the client's fault first: a cause is answered by its first failure, and the request was bad before anything
  // the handler did with it
  const faults: Array<Cause.Reason<unknown>> = []
  const rest: Array<Cause.Reason<unknown>> = []
  for (const reason of mapped.reasons) {
    const fault = Cause.isDieReason(reason) ? clientFault(reason.defect) : undefined
    if (fault === undefined) rest.push(reason)
    else faults.push(Cause.makeFailReason(fault))
  }
  return faults.length > 0 ? Cause.fromReasons([...faults, ...rest]) : mapped
}
