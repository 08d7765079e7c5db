// The parts of a request URL the edge reads: the path (the problem's `instance`, the log line's `path`) and the
// query (logged, redacted), without a URL parser, which not every runtime's types have.

export const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

/** The longest `instance` a problem carries, as long as the longest `detail` (`ErrorMapping.limits.detail`). */
const maxInstanceLength = 1000

// the ellipsis, percent-encoded: a cut instance stays a URI reference
const cutMark = "%E2%80%A6"

/**
 * A problem `instance`: the path, cut to {@link maxInstanceLength} characters (ending with an encoded `…`) so a
 * 15 kB path does not come back as a 15 kB body. The cut never splits a `%XX` escape or a surrogate pair.
 * `ErrorMapping`'s `problem` applies it to every problem it builds; a path already bounded is left as it is.
 */
export const boundInstance = (path: string): string => {
  if (path.length <= maxInstanceLength) return path
  let end = maxInstanceLength - cutMark.length
  const escape = path.lastIndexOf("%", end - 1)
  if (escape !== -1 && escape > end - 3) end = escape
  const last = path.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return path.slice(0, end) + cutMark
}

const decodeQueryPart = (part: string): string => {
  try {
    return decodeURIComponent(part.replaceAll("+", " "))
  } catch {
    return part
  }
}

export const queryOf = (url: string): Record<string, string | Array<string>> | undefined => {
  const q = url.indexOf("?")
  if (q === -1) return undefined
  const out: Record<string, string | Array<string>> = {}
  for (const pair of url.slice(q + 1).split("&")) {
    if (pair === "") continue
    const eq = pair.indexOf("=")
    const key = decodeQueryPart(eq === -1 ? pair : pair.slice(0, eq))
    const value = eq === -1 ? "" : decodeQueryPart(pair.slice(eq + 1))
    const prior = Object.hasOwn(out, key) ? out[key] : undefined
    // defineProperty: a key such as `__proto__` stays a plain entry
    Object.defineProperty(out, key, {
      value: prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value],
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return out
}

/** The media type of a `Content-Type` value, without parameters, lowercased (`""` for none). */
export const mediaTypeOf = (contentType: string | undefined): string =>
  (contentType === undefined ? "" : contentType.split(";")[0] ?? "").trim().toLowerCase()
