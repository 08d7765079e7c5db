import type { SchemaIssue } from "effect"
import { SchemaIssue as Issue } from "effect"

const format = Issue.makeFormatterStandardSchemaV1()

/** A Schema issue tree as one `{ path, message }` per failing field; path segments are keys or indexes. */
export const fieldIssues = (
  issue: SchemaIssue.Issue
): Array<{ readonly path: Array<string | number>; readonly message: string }> =>
  format(issue).issues.map((i) => ({
    path: (i.path ?? []).map((segment) => {
      const key = typeof segment === "object" && segment !== null ? segment.key : segment
      return typeof key === "number" ? key : String(key)
    }),
    message: i.message
  }))
