// Breaker names as Redis keys. A name is user input (an operation's name becomes a breaker's), so it is never
// spliced into a key as is: every character outside [A-Za-z0-9._-] is percent-encoded (as UTF-8), which makes
// keys unambiguous (no name can reach another breaker's keys, or the hash slot braces and separators the layout
// uses) and the channel fixed (names travel inside messages, never in channel names).
import type { Target } from "./scripts.js"

/** The longest encoded name stored; a longer one is refused (it stays a local breaker). */
export const maxEncodedLength = 512

const hex = (byte: number) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`

const isPlain = (code: number) =>
  (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) ||
  code === 0x2e || code === 0x5f || code === 0x2d

/** `name`, percent-encoded as UTF-8 outside [A-Za-z0-9._-] (a lone surrogate as `~` and its hex code). */
export const encode = (name: string): string => {
  let out = ""
  for (const char of name) {
    const code = char.codePointAt(0)!
    if (isPlain(code)) {
      out += char
      continue
    }
    // a lone surrogate (no UTF-8 form) gets an escape of its own, which no other name encodes to
    if (code >= 0xd800 && code <= 0xdfff) out += `~${code.toString(16).toUpperCase()}`
    else if (code < 0x80) out += hex(code)
    else if (code < 0x800) out += hex(0xc0 | (code >> 6)) + hex(0x80 | (code & 0x3f))
    else if (code < 0x10000) {
      out += hex(0xe0 | (code >> 12)) + hex(0x80 | ((code >> 6) & 0x3f)) + hex(0x80 | (code & 0x3f))
    } else {
      out += hex(0xf0 | (code >> 18)) + hex(0x80 | ((code >> 12) & 0x3f)) + hex(0x80 | ((code >> 6) & 0x3f)) +
        hex(0x80 | (code & 0x3f))
    }
  }
  return out
}

/** Why `name` cannot be stored, or undefined when it can. */
export const refusal = (name: string): string | undefined => {
  const length = encode(name).length
  return length > maxEncodedLength
    ? `Name too long to share: ${length} bytes encoded, at most ${maxEncodedLength}`
    : undefined
}

/** The fleet's channel for a prefix. */
export const channelOf = (prefix: string): string => `${prefix}events`

/**
 * The keys of one breaker: its record, its trip votes and its replicas' rule fingerprints, all in the hash slot of
 * the encoded name (braces), so one script touches one slot.
 */
export const targetOf = (prefix: string, replica: string, name: string): Target => {
  const encoded = encode(name)
  const base = `${prefix}{${encoded}}`
  return { keys: [base, `${base}:votes`, `${base}:rules`], channel: channelOf(prefix), encoded, replica }
}
