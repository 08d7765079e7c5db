// The live dashboard served by `OpsRoutes.dashboard`: one self-contained HTML document (no CDN, no fonts, no build
// step) whose inline style and script are exactly `style` and `script`, so the route can send a CSP allowing only
// them by hash. The script reads the `/events` stream with fetch (EventSource cannot send a bearer token), parses
// the SSE text itself, and draws with keyed, reused DOM nodes, batched in requestAnimationFrame.
//
// Safety: every name, tag and message the stream carries is user-controlled. The script puts them in the DOM
// only through `textContent` and `setAttribute` of non-URL attributes (`title`, `data-name`), never as markup,
// and never builds a selector from one. Keep it that way when editing: no innerHTML, no insertAdjacentHTML.
//
// The script is plain ES2020 in a `String.raw` template, so its backslashes reach the browser as written; it must
// contain no backtick, no dollar-brace, and no `</` (which could end the <script> element).

/**
 * The page's stylesheet: the exact text of its one `<style>` element (hashed into the route's CSP).
 *
 * @internal
 */
export const style: string = String.raw`
:root {
  color-scheme: dark;
  --bg: #0a0d12; --panel: #131922; --panel2: #1a2230; --line: #283241; --text: #eef2f7; --muted: #9eabbb;
  --accent: #5aa9ff; --ok: #2fd37a; --warn: #f4d03f; --degraded: #ff8f1f; --fail: #ff4d55; --idle: #5f6c7c;
  --open: #ff4d55; --half: #ffb020; --closed: #2fd37a; --forced: #d65cff; --off: #7d8896; --chaos: #4fd6e8;
  --gap: 0.6rem; --card-min: 16rem; --card-h: 13.2rem; --h: var(--idle);
  font-size: clamp(12px, 0.45vw + 8px, 24px);
}
:root.wall { --card-min: 21rem; font-size: clamp(15px, 0.6vw + 8px, 32px); }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
html, body { margin: 0; background: var(--bg); color: var(--text); }
body {
  font: 1rem/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-variant-numeric: tabular-nums; min-height: 100vh;
}
h1, h2, h3 { margin: 0; font-weight: 600; }
h1 { font-size: 1.25rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 24rem; }
h2 { font-size: 0.95rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
button, input, select {
  font: inherit; color: var(--text); background: var(--panel2); border: 1px solid var(--line);
  border-radius: 0.3rem; padding: 0.25rem 0.5rem; min-height: 2rem;
}
button { cursor: pointer; }
button:hover, select:hover { border-color: var(--accent); }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
button[aria-pressed="true"] { background: #24354d; border-color: var(--accent); }
input[type="search"] { width: 12rem; }

.top {
  position: sticky; top: 0; z-index: 10; display: flex; flex-wrap: wrap; align-items: center;
  gap: 0.5rem 1.5rem; padding: 0.6rem 1rem; background: var(--bg);
  border-bottom: 1px solid var(--line);
}
.brand { display: flex; align-items: center; gap: 0.8rem; min-width: 0; }
#status {
  display: inline-flex; align-items: center; gap: 0.4rem; padding: 0.15rem 0.6rem; border-radius: 1rem;
  font-size: 0.85rem; font-weight: 600; background: var(--panel2); border: 1px solid var(--line); white-space: nowrap;
}
#status::before { content: ""; width: 0.6rem; height: 0.6rem; border-radius: 50%; background: var(--idle); }
#status[data-state="live"] { color: var(--ok); border-color: #1f6f45; }
#status[data-state="live"]::before { background: var(--ok); }
#status[data-state="connecting"] { color: var(--muted); }
#status[data-state="reconnecting"] { color: var(--half); border-color: #7a5a12; }
#status[data-state="reconnecting"]::before { background: var(--half); }
#status[data-state="unauthorized"] { color: #fff; background: #8a1c22; border-color: var(--fail); }
#status[data-state="unauthorized"]::before { background: #fff; }
.kpis { display: flex; flex-wrap: wrap; gap: 0.3rem 1.4rem; align-items: flex-end; }
.kpi { display: flex; flex-direction: column; min-width: 0; }
.kpi-label { font-size: 0.7rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
.kpi-value { font-size: 1.3rem; font-weight: 700; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 16rem; unicode-bidi: isolate; }
.kpi-value.stale { color: var(--half); }
#total-errors[data-health="ok"] { color: var(--ok); }
#total-errors[data-health="warn"] { color: var(--warn); }
#total-errors[data-health="degraded"] { color: var(--degraded); }
#total-errors[data-health="failing"] { color: var(--fail); }
#open-breakers.alarm { color: var(--open); }
#replica { max-width: 16rem; }
.controls { display: flex; flex-wrap: wrap; gap: 0.4rem; margin-left: auto; }

.notice { margin: 0.5rem 1rem 0; padding: 0.4rem 0.7rem; border-radius: 0.3rem; background: #2b2410; border: 1px solid #7a5a12; color: #ffe39a; font-size: 0.9rem; }
.auth { margin: 1rem; padding: 1rem 1.2rem; border-radius: 0.4rem; background: #2a1014; border: 1px solid var(--fail); }
.auth p { margin: 0 0 0.6rem; font-size: 1.1rem; font-weight: 600; }
.auth form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
.auth input { width: 20rem; max-width: 100%; }

main {
  display: grid; grid-template-columns: minmax(0, 1fr) clamp(20rem, 30vw, 30rem); gap: 1rem; padding: 0.8rem 1rem 2rem;
  align-items: start;
}
body:not([data-state="live"]) main { opacity: 0.72; }
@media (max-width: 1100px) { main { grid-template-columns: minmax(0, 1fr); } }
aside { display: flex; flex-direction: column; gap: 1rem; min-width: 0; }
/* on a wide screen the side column stays in view (its own scroll) while the cards scroll */
@media (min-width: 1101px) {
  aside { position: sticky; top: calc(var(--top, 4rem) + 0.8rem); max-height: calc(100vh - var(--top, 4rem) - 1.6rem); overflow-y: auto; overscroll-behavior: contain; padding-right: 0.2rem; }
}
section { min-width: 0; }
.section-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.4rem 0.8rem; margin-bottom: 0.5rem; }
.count { color: var(--muted); font-size: 0.85rem; }
.empty { color: var(--muted); font-size: 0.9rem; margin: 0.3rem 0; }
.legend { display: flex; flex-wrap: wrap; gap: 0.2rem 0.8rem; list-style: none; margin: 0 0 0 auto; padding: 0; font-size: 0.78rem; color: var(--muted); }
.legend li { display: inline-flex; align-items: center; gap: 0.3rem; }
.swatch { display: inline-block; width: 0.75rem; height: 0.75rem; border-radius: 50%; background: var(--h); }

[data-health="ok"] { --h: var(--ok); }
[data-health="warn"] { --h: var(--warn); }
[data-health="degraded"] { --h: var(--degraded); }
[data-health="failing"] { --h: var(--fail); }
[data-health="idle"] { --h: var(--idle); }

#operations {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(min(var(--card-min), 100%), 1fr));
  grid-auto-rows: var(--card-h); gap: var(--gap);
}
/* every card the same size, and strictly contained: a card's figures changing never lays out the grid again */
.op {
  min-width: 0; overflow: hidden; background: var(--panel); border: 1px solid var(--line);
  border-left: 0.3rem solid var(--h); border-radius: 0.4rem; padding: 0.45rem 0.6rem 0.5rem;
  contain: strict; content-visibility: auto;
}
/* content-visibility skips drawing off-screen cards (a re-sort costs a third of what it would); for a full-page
   screenshot, put the class "capture" on <html> (or open the page with ?capture) and every card is drawn */
:root.capture .op { content-visibility: visible; }
.op[data-health="failing"] { background: #1f1418; }
.op-head { display: flex; align-items: center; gap: 0.4rem; min-width: 0; }
.name { min-width: 0; flex: 1 1 auto; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; unicode-bidi: isolate; }
.op-head .name { font-size: 1rem; font-weight: 600; }
.op-breaker, .status, .shared, .badge {
  flex: none; font-size: 0.72rem; font-weight: 700; text-transform: uppercase; letter-spacing: 0.04em;
  padding: 0.05rem 0.4rem; border-radius: 0.25rem; background: var(--panel2); color: var(--muted); white-space: nowrap;
}
[data-status="closed"] > .status, .op-breaker[data-status="closed"] { color: var(--closed); }
[data-status="open"] > .status, .op-breaker[data-status="open"] { background: var(--open); color: #fff; }
[data-status="half_open"] > .status, .op-breaker[data-status="half_open"] { background: var(--half); color: #111; }
[data-status="forced_open"] > .status, .op-breaker[data-status="forced_open"] { background: var(--forced); color: #fff; }
[data-status="forced_closed"] > .status, .op-breaker[data-status="forced_closed"] { color: var(--forced); }
[data-status="disabled"] > .status, .op-breaker[data-status="disabled"] { color: var(--off); }
.op-viz { display: grid; grid-template-columns: 3.4rem minmax(0, 1fr); align-items: center; gap: 0.4rem; margin: 0.25rem 0 0.2rem; }
.bubble { width: 3.4rem; height: 3.4rem; display: block; }
.bubble circle { fill: var(--h); fill-opacity: 0.55; stroke: var(--h); stroke-width: 1.5; }
.spark-box { position: relative; min-width: 0; height: 3rem; border-bottom: 1px solid var(--line); }
.spark { display: block; width: 100%; height: 100%; }
.spark-line { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
.spark-area { fill: var(--accent); fill-opacity: 0.14; stroke: none; }
.spark-peak { position: absolute; top: 0; right: 0; font-size: 0.65rem; line-height: 1; padding: 0 0.15rem; color: var(--muted); background: rgba(19, 25, 34, 0.8); }
.op-main { display: grid; grid-template-columns: auto auto minmax(0, 1fr); align-items: end; gap: 0.1rem 0.9rem; }
.figure { display: flex; flex-direction: column; min-width: 0; }
.figure .value { font-size: 1.3rem; font-weight: 700; line-height: 1.2; white-space: nowrap; }
.latency { display: flex; flex-direction: column; align-items: flex-end; min-width: 0; font-size: 0.85rem; line-height: 1.25; }
.lat { display: flex; gap: 0.35rem; align-items: baseline; white-space: nowrap; }
.lat .value { font-weight: 600; }
.figure .unit { font-size: 0.66rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; white-space: nowrap; }
.op .error-rate { color: var(--h); }
.op[data-health="idle"] .error-rate { color: var(--muted); }
.op-outcomes, .op-extra, .calls { display: flex; flex-wrap: wrap; gap: 0 0.65rem; font-size: 0.78rem; line-height: 1.3; color: var(--muted); margin-top: 0.25rem; }
.op-extra > span { white-space: nowrap; }
.outcome b, .calls b, .op-extra b { color: var(--text); font-weight: 600; }
.outcome[data-outcome="failed"] b, .outcome[data-outcome="failed_after_retry"] b { color: var(--fail); }
.outcome[data-outcome="rejected"] b { color: var(--degraded); }
.outcome.zero b { color: var(--muted); font-weight: 400; }
/* chaos: an operation a Chaos layer injects faults into, so its failures read as a rehearsal, not an outage */
.op[data-chaos="on"] { border-style: dashed; border-left-style: solid; border-color: var(--chaos); }
.op-head .chaos { background: var(--chaos); color: #111; }
.op-extra .chaos-box b { color: var(--chaos); }
#chaos-kpi .kpi-value { color: var(--chaos); }

.rows { display: flex; flex-direction: column; gap: 0.35rem; }
.row { background: var(--panel); border: 1px solid var(--line); border-radius: 0.35rem; padding: 0.4rem 0.6rem; min-width: 0; }
.row-head { display: flex; align-items: center; gap: 0.5rem; min-width: 0; }
.row-head .name { font-weight: 600; }
.sub { font-size: 0.78rem; color: var(--muted); white-space: nowrap; }
.breaker { border-left: 0.3rem solid var(--closed); }
.breaker[data-status="open"] { border-left-color: var(--open); background: #24141a; }
.breaker[data-status="half_open"] { border-left-color: var(--half); }
.breaker[data-status="forced_open"] { border-left-color: var(--forced); }
.breaker[data-status="forced_closed"], .breaker[data-status="disabled"] { border-left-color: var(--off); }
.countdown { font-weight: 700; color: var(--half); white-space: nowrap; font-size: 0.95rem; }
.breaker.changed { outline: 2px solid var(--accent); outline-offset: -1px; }
.gauge { display: grid; grid-template-columns: 5.5rem minmax(0, 1fr) 4.5rem; align-items: center; gap: 0.5rem; font-size: 0.8rem; margin-top: 0.25rem; }
.gauge .label { color: var(--muted); }
.gauge .num { text-align: right; white-space: nowrap; }
.bar { height: 0.55rem; background: var(--panel2); border-radius: 0.3rem; overflow: hidden; }
.fill { height: 100%; width: 100%; background: var(--ok); transform-origin: left center; transform: scaleX(0); }
.bar[data-level="high"] .fill { background: var(--warn); }
.bar[data-level="full"] .fill { background: var(--fail); }
.bar[data-level="none"] .fill { background: var(--idle); }
.facts { display: flex; flex-wrap: wrap; gap: 0.1rem 0.8rem; font-size: 0.8rem; color: var(--muted); margin-top: 0.2rem; }
.facts b { color: var(--text); font-weight: 600; }
.facts .hot { color: var(--fail); }

.event-filters { display: flex; flex-wrap: wrap; gap: 0.35rem; margin-bottom: 0.5rem; }
.sev { font-size: 0.8rem; padding: 0.1rem 0.45rem; min-height: 1.8rem; }
.sev[aria-pressed="false"] { opacity: 0.45; text-decoration: line-through; }
.sev .n { font-weight: 700; margin-left: 0.2rem; }
.severity { flex: none; font-size: 0.7rem; font-weight: 700; text-transform: uppercase; padding: 0.05rem 0.35rem; border-radius: 0.25rem; }
[data-severity="low"] > .severity, .sev[data-severity="low"] .n { color: #b9c4d0; }
[data-severity="medium"] > .severity, .sev[data-severity="medium"] .n { color: var(--warn); }
[data-severity="high"] > .severity, .sev[data-severity="high"] .n { color: var(--degraded); }
[data-severity="critical"] > .severity, .sev[data-severity="critical"] .n { color: var(--fail); }
[data-severity="low"] > .severity { background: #2a3340; }
[data-severity="medium"] > .severity { background: #3a3210; }
[data-severity="high"] > .severity { background: #47290d; }
[data-severity="critical"] > .severity { background: var(--fail); color: #fff; }
#events { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.3rem; }
.event {
  display: grid; grid-template-columns: auto auto minmax(0, 1fr); gap: 0.1rem 0.45rem; align-items: center;
  background: var(--panel); border: 1px solid var(--line); border-radius: 0.35rem; padding: 0.3rem 0.5rem; font-size: 0.82rem;
}
.event[data-severity="critical"] { border-color: var(--fail); }
.event .time { color: var(--muted); white-space: nowrap; }
.event .tag { font-weight: 700; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; unicode-bidi: isolate; }
.event .meta { grid-column: 1 / -1; display: flex; gap: 0.6rem; min-width: 0; color: var(--muted); font-size: 0.76rem; }
.event .meta > span { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; unicode-bidi: isolate; }
.event .code { flex: none; max-width: 40%; }
/* an error a Chaos layer injected: a rehearsal, tagged so, never read as an outage */
.event[data-chaos="on"] { border-style: dashed; border-color: var(--chaos); }
.event .meta > .chaos { flex: none; background: var(--chaos); color: #111; }
.event .message {
  grid-column: 1 / -1; min-width: 0; overflow: hidden; overflow-wrap: anywhere; unicode-bidi: isolate;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
}
`

/**
 * The page's script: the exact text of its one `<script>` element (hashed into the route's CSP). Plain ES2020,
 * no imports. It exposes `window.__dashboard` (`frames`, `renders`, `lastRenderMs`, `operations`, …) for tests.
 *
 * @internal
 */
export const script: string = String.raw`
"use strict";
(() => {
  const doc = document
  const byId = (id) => doc.getElementById(id)
  const SVG = "http://www.w3.org/2000/svg"
  const HISTORY = 120
  const MAX_EVENTS = 200
  const SHOWN_EVENTS = 60
  const RESORT_MILLIS = 5000
  const TOKEN_KEY = "resilience-dashboard-token"
  const stats = {
    frames: 0, renders: 0, lastRenderMs: 0, maxRenderMs: 0, operations: 0, messages: 0,
    transitions: 0, alerts: 0, dropped: 0, reconnects: 0, badMessages: 0, state: "connecting"
  }
  window.__dashboard = stats

  // ---- text: every user-controlled string goes through setUserText (textContent + title), never markup
  const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
  const clean = (value) => (typeof value === "string" ? value : value == null ? "" : String(value)).replace(CONTROL, "\uFFFD")
  // a text change edits the element's one text node in place (cheaper to lay out than replacing it)
  const setText = (node, text) => {
    if (node._text === text) return
    node._text = text
    const first = node.firstChild
    if (first !== null && first === node.lastChild && first.nodeType === 3) first.data = text
    else node.textContent = text
  }
  const setAttr = (node, name, value) => {
    const cache = node._attrs || (node._attrs = {})
    if (cache[name] !== value) { cache[name] = value; node.setAttribute(name, value) }
  }
  const setHidden = (node, hidden) => { if (node.hidden !== hidden) node.hidden = hidden }
  const setUserText = (node, value) => { const text = clean(value); setText(node, text); setAttr(node, "title", text) }
  const h = (tag, cls, parent, text) => {
    const node = doc.createElement(tag)
    if (cls) node.className = cls
    if (text !== undefined) node.textContent = text
    if (parent) parent.appendChild(node)
    return node
  }
  const userText = (tag, cls, parent, value) => {
    const node = h(tag, cls, parent)
    node.setAttribute("dir", "auto")
    setUserText(node, value)
    return node
  }
  const svg = (tag, attrs, parent) => {
    const node = doc.createElementNS(SVG, tag)
    for (const k of Object.keys(attrs)) node.setAttribute(k, attrs[k])
    if (parent) parent.appendChild(node)
    return node
  }
  const fact = (parent, labelText) => {
    const span = h("span", "", parent)
    const b = h("b", "", span)
    span.appendChild(doc.createTextNode(" " + labelText))
    return b
  }

  // ---- numbers
  const num = (x) => (typeof x === "number" && isFinite(x) ? x : 0)
  const str = (x) => (typeof x === "string" ? x : x == null ? "" : String(x))
  const fmtRate = (r) => {
    r = num(r)
    if (r <= 0) return "0"
    if (r < 10) return r.toFixed(1)
    if (r < 1000) return String(Math.round(r))
    if (r < 1e6) return (r / 1e3).toFixed(r < 1e4 ? 1 : 0) + "k"
    return (r / 1e6).toFixed(1) + "M"
  }
  const fmtCount = (n) => {
    n = num(n)
    if (n < 1e4) return String(Math.round(n))
    if (n < 1e6) return (n / 1e3).toFixed(n < 1e5 ? 1 : 0) + "k"
    if (n < 1e9) return (n / 1e6).toFixed(1) + "M"
    return (n / 1e9).toFixed(1) + "G"
  }
  const fmtPct = (x) => {
    const p = num(x) * 100
    if (p <= 0) return "0 %"
    if (p < 0.1) return "<0.1 %"
    if (p < 10) return p.toFixed(1) + " %"
    return Math.round(p) + " %"
  }
  const fmtMs = (ms) => {
    if (typeof ms !== "number" || !isFinite(ms)) return "–"
    if (ms < 10) return ms.toFixed(1) + " ms"
    if (ms < 1000) return Math.round(ms) + " ms"
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s"
    return Math.round(ms / 1000) + " s"
  }
  const pad2 = (n) => (n < 10 ? "0" : "") + n
  const fmtTime = (at) => {
    const d = new Date(num(at))
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds())
  }
  const fmtCountdown = (ms) => {
    if (ms <= 0) return "probe due"
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s"
    const s = Math.ceil(ms / 1000)
    return Math.floor(s / 60) + ":" + pad2(s % 60)
  }
  const plural = (n, word) => fmtCount(n) + " " + word + (num(n) === 1 ? "" : "s")

  // Circle colour by error rate (calls that failed or were rejected, over all calls): the legend says the same.
  const THRESHOLDS = [[0.01, "ok"], [0.05, "warn"], [0.25, "degraded"]]
  const health = (rate, errorRate) => {
    if (!(num(rate) > 0)) return "idle"
    const e = num(errorRate)
    for (const [limit, name] of THRESHOLDS) if (e < limit) return name
    return "failing"
  }
  const statusRank = (s) => (s === "open" || s === "forced_open" ? 0 : s === "half_open" ? 1 : s === "closed" ? 3 : 2)
  const statusLabel = (s) => clean(s).replace(/_/g, " ")
  // an operation's chaos injections in the view's window (a rehearsal), or null
  const CHAOS_KINDS = ["fail", "die", "latency", "interrupt"]
  const chaosOf = (op) => {
    const c = op.chaos
    if (!c || typeof c !== "object" || !c.injected || typeof c.injected !== "object") return null
    let total = 0
    for (const kind of CHAOS_KINDS) total += num(c.injected[kind])
    return total > 0 ? c : null
  }
  const windowMillis = () => {
    const frame = currentFrame()
    return frame && num(frame.windowMillis) > 0 ? num(frame.windowMillis) : 10000
  }

  // ---- the DOM this script owns
  const ui = {
    status: byId("status"), replica: byId("replica"), replicaName: byId("replica-name"),
    totalRate: byId("total-rate"), totalErrors: byId("total-errors"), openBreakers: byId("open-breakers"),
    updated: byId("updated"), chaosKpi: byId("chaos-kpi"), chaosOps: byId("chaos-ops"), filter: byId("filter"), sort: byId("sort"), wall: byId("wall-toggle"),
    notice: byId("notice"), auth: byId("auth"), authMessage: byId("auth-message"), tokenForm: byId("token-form"),
    tokenInput: byId("token-input"), opCount: byId("op-count"), truncated: byId("truncated"),
    operations: byId("operations"), opsEmpty: byId("ops-empty"),
    breakers: byId("breakers"), breakersEmpty: byId("breakers-empty"), breakerCount: byId("breaker-count"),
    bulkheadsSection: byId("bulkheads-section"), bulkheads: byId("bulkheads"),
    limitersSection: byId("limiters-section"), limiters: byId("limiters"),
    budgetsSection: byId("budgets-section"), budgets: byId("budgets"),
    events: byId("events"), eventsEmpty: byId("events-empty"), errorsTotal: byId("errors-total"),
    tagFilter: byId("tag-filter"), severityButtons: Array.from(doc.querySelectorAll("#severity-filter .sev"))
  }
  const baseTitle = doc.title

  // ---- state
  let view = null            // the latest View
  let selected = "fleet"     // "fleet" (the sum) or "r:" + replica
  let replicaKeys = ""
  let sortKey = "traffic"
  let nameFilter = ""
  let tagFilter = ""
  let orderDirty = true
  let lastSortAt = 0
  let renderPending = false
  let noticeUntil = 0
  const severities = { low: true, medium: true, high: true, critical: true }
  const histories = new Map() // view key ("fleet" or "r:" + replica) -> Map(operation name -> history)
  const cards = new Map()     // operation name -> card
  const breakerRows = new Map()
  const bulkheadRows = new Map()
  const limiterRows = new Map()
  const budgetRows = new Map()
  const eventItems = new Map() // event key -> li
  let lastPrune = Date.now()
  const events = []            // newest first
  const eventKeys = new Set()
  const counting = new Set()   // breaker rows with a countdown running
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" })

  const framesOf = (v) => (v.fleet ? v.frames.concat([v.fleet]) : v.frames)
  const keyOf = (v, frame) => (frame === v.fleet ? "fleet" : "r:" + frame.replica)
  const currentFrame = () => {
    if (!view || view.frames.length === 0) return null
    const fleet = view.fleet && view.frames.length > 1 ? view.fleet : null
    if (selected !== "fleet") {
      for (const f of view.frames) if ("r:" + f.replica === selected) return f
    }
    return fleet || view.frames[0]
  }

  // ---- the incoming data
  const normaliseFrame = (f, now) => {
    f.replica = str(f.replica)
    for (const k of ["operations", "breakers", "bulkheads", "limiters", "budgets"]) if (!Array.isArray(f[k])) f[k] = []
    if (!f.errors || typeof f.errors !== "object") f.errors = {}
    if (!Array.isArray(f.errors.recent)) f.errors.recent = []
    if (!f.errors.bySeverity || typeof f.errors.bySeverity !== "object") f.errors.bySeverity = {}
    for (const b of f.breakers) {
      b.name = str(b.name)
      b.deadline = typeof b.remainingMillis === "number" && isFinite(b.remainingMillis) && b.remainingMillis >= 0
        ? now + b.remainingMillis
        : null
    }
    for (const o of f.operations) { o.name = str(o.name); if (!o.perSecond || typeof o.perSecond !== "object") o.perSecond = {} }
    for (const k of ["bulkheads", "limiters", "budgets"]) for (const x of f[k]) x.name = str(x.name)
  }

  const record = (v) => {
    const now = Date.now()
    if (!v || !Array.isArray(v.frames)) return false
    if (v.fleet && typeof v.fleet !== "object") delete v.fleet
    for (const f of framesOf(v)) normaliseFrame(f, now)
    for (const f of framesOf(v)) {
      const key = keyOf(v, f)
      let map = histories.get(key)
      if (!map) { map = new Map(); histories.set(key, map) }
      const second = Math.floor(num(f.at || v.at) / 1000)
      for (const o of f.operations) {
        let hist = map.get(o.name)
        const rate = num(o.rate)
        if (!hist) { hist = { points: [], second, version: 0, seen: second }; map.set(o.name, hist) }
        const points = hist.points
        if (points.length === 0 || second > hist.second) {
          const steps = points.length === 0 ? 1 : Math.min(HISTORY, second - hist.second)
          for (let i = 0; i < steps; i++) points.push(rate)
          if (points.length > HISTORY) points.splice(0, points.length - HISTORY)
          hist.second = second
        } else {
          points[points.length - 1] = rate
        }
        hist.seen = second
        hist.version++
      }
    }
    // every 30 s: forget operations unseen for two histories, and the views (replicas) gone as long
    if (now - lastPrune > 30000) {
      lastPrune = now
      const second = Math.floor(now / 1000)
      for (const [key, map] of histories) {
        for (const [name, hist] of map) if (hist.seen < second - 2 * HISTORY) map.delete(name)
        if (map.size === 0) histories.delete(key)
      }
    }
    for (const f of v.frames) for (const e of f.errors.recent) addEvent(e, f.replica)
    view = v
    return true
  }

  const onHello = (m) => {
    attempt = 0
    setState("live")
    histories.clear()
    if (m.v !== 1) showNotice("this page speaks version 1 of the stream; the server sent version " + clean(m.v), 30000)
    const v = m.view
    if (v && Array.isArray(v.frames) && Array.isArray(m.history)) {
      // entries are this replica's, unless they name another replica (or "fleet", for the sum)
      const local = v.frames[0] ? str(v.frames[0].replica) : str(m.replica)
      const second = Math.floor(num(v.at) / 1000)
      for (const entry of m.history) {
        if (!entry || !Array.isArray(entry.rates)) continue
        const key = entry.replica == null ? "r:" + local : entry.replica === "fleet" && v.fleet ? "fleet" : "r:" + str(entry.replica)
        let map = histories.get(key)
        if (!map) { map = new Map(); histories.set(key, map) }
        map.set(str(entry.name), { points: entry.rates.slice(-HISTORY).map(num), second, version: 1, seen: second })
      }
    }
    if (record(v)) { orderDirty = true; scheduleRender() }
  }

  const onFrame = (v) => {
    stats.frames++
    if (record(v)) scheduleRender()
  }

  // A transition is applied at once, to the data (so a frame drawn later does not undo it) and to the DOM.
  const onTransition = (m) => {
    stats.transitions++
    const t = m && m.transition && typeof m.transition === "object" ? m.transition : m
    if (!t || t.breaker == null) return
    const name = str(t.breaker)
    const replica = str(m.replica != null ? m.replica : t.replica)
    const now = Date.now()
    const to = str(t.to)
    const deadline = typeof t.openMillis === "number" && isFinite(t.openMillis) && t.openMillis > 0 && to === "open"
      ? now + t.openMillis
      : null
    const note = statusLabel(t.from) + " → " + statusLabel(to) + (t.reason != null ? " (" + clean(t.reason) + ")" : "") +
      " at " + fmtTime(typeof t.at === "number" ? t.at : now)
    if (!view) return
    let patched = null
    for (const f of framesOf(view)) {
      if (f !== view.fleet && f.replica !== replica) continue
      for (const b of f.breakers) {
        if (b.name !== name) continue
        b.status = to
        b.deadline = deadline
        b.note = note
        if (typeof t.openings === "number") b.openings = f === view.fleet ? Math.max(num(b.openings), t.openings) : t.openings
      }
    }
    const frame = currentFrame()
    if (frame) for (const b of frame.breakers) if (b.name === name) patched = b
    if (patched) {
      const row = breakerRows.get(name)
      if (row) {
        updateBreaker(row, patched)
        // a highlight for a moment: a class and a timer, no animation (it would repaint every frame)
        row.root.classList.add("changed")
        clearTimeout(row.changedTimer)
        row.changedTimer = setTimeout(() => row.root.classList.remove("changed"), 1500)
      }
      const card = cards.get(name)
      if (card) updateCardBreaker(card, patched.status)
    }
    scheduleRender()
  }

  const onAlert = (m) => {
    stats.alerts++
    const e = m && m.error && typeof m.error === "object" ? m.error : m
    if (!e) return
    addEvent(e, str(m.replica != null ? m.replica : e.replica))
    scheduleRender()
  }

  const onDropped = (m) => {
    const n = num(m && m.count)
    stats.dropped += n
    showNotice("this page read too slowly and missed " + plural(stats.dropped, "message") + " so far", 10000)
  }

  const showNotice = (text, millis) => {
    setText(ui.notice, text)
    setHidden(ui.notice, false)
    noticeUntil = Date.now() + millis
  }

  // the same event comes in a frame's recent errors and as an alert; a rehearsal's error is never taken for a real
  // one of the same instant (nor the other way round)
  const eventKey = (e, replica) =>
    [replica, num(e.at), str(e.tag), str(e.code), str(e.severity), str(e.operation), str(e.message), e.chaos === true].join("\u0001")

  const addEvent = (e, replica) => {
    if (!e || typeof e !== "object") return
    const rep = str(e.replica != null ? e.replica : replica)
    const key = eventKey(e, rep)
    if (eventKeys.has(key)) return
    eventKeys.add(key)
    const item = {
      key, replica: rep, at: num(e.at), tag: str(e.tag), code: str(e.code), severity: str(e.severity),
      message: str(e.message), operation: e.operation == null ? "" : str(e.operation), gaveUp: e.gaveUp === true,
      chaos: e.chaos === true
    }
    item.tagLower = (item.tag + " " + item.code).toLowerCase()
    let i = 0
    while (i < events.length && events[i].at > item.at) i++
    events.splice(i, 0, item)
    while (events.length > MAX_EVENTS) eventKeys.delete(events.pop().key)
  }

  // ---- the stream: fetch + a text/event-stream parser, reconnecting with backoff
  const readToken = () => {
    const hash = location.hash.replace(/^#/, "")
    if (hash) {
      const parts = hash.split("&")
      const at = parts.findIndex((p) => p.slice(0, 6) === "token=")
      if (at !== -1) {
        let value = parts[at].slice(6)
        try { value = decodeURIComponent(value) } catch (e) { /* keep it as it is */ }
        parts.splice(at, 1)
        const rest = parts.join("&")
        try { history.replaceState(history.state, "", location.pathname + location.search + (rest ? "#" + rest : "")) } catch (e) { /* ignore */ }
        storeToken(value)
        return value || null
      }
    }
    try { return sessionStorage.getItem(TOKEN_KEY) } catch (e) { return null }
  }
  const storeToken = (value) => {
    try { if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY) } catch (e) { /* private mode */ }
  }

  const meta = doc.querySelector('meta[name="resilience-events"]')
  // a relative stream URL is the page's sibling, also when the page is opened at …/dashboard/ (served there too)
  const pageBase = location.origin + location.pathname.replace(/\/+$/, "")
  const eventsUrl = new URL((meta && meta.getAttribute("content")) || "events", pageBase).href
  let token = readToken()
  let connection = 0
  let controller = null
  let attempt = 0
  let retryTimer = 0
  let retryAt = 0
  let retryWhy = ""
  let lastByteAt = 0
  let state = ""

  const setState = (next, detail) => {
    state = next
    stats.state = next
    setAttr(ui.status, "data-state", next)
    setAttr(doc.body, "data-state", next)
    let text = next
    if (next === "connecting") text = "connecting…"
    else if (next === "reconnecting") text = "reconnecting in " + Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) + " s"
    else if (next === "unauthorized") text = detail || "unauthorized"
    setText(ui.status, text)
    setAttr(ui.status, "title", next === "reconnecting" ? retryWhy : next === "live" ? eventsUrl : text)
  }

  const makeParser = (dispatch) => {
    let buffer = ""
    let scanned = 0
    let type = ""
    let data = ""
    let hasData = false
    const line = (text) => {
      if (text === "") {
        if (hasData) dispatch(type || "message", data)
        type = ""; data = ""; hasData = false
        return
      }
      if (text.charCodeAt(0) === 58) return // ":" a comment (the server's ping)
      const colon = text.indexOf(":")
      const field = colon === -1 ? text : text.slice(0, colon)
      let value = colon === -1 ? "" : text.slice(colon + 1)
      if (value.charCodeAt(0) === 32) value = value.slice(1)
      if (field === "data") { data = hasData ? data + "\n" + value : value; hasData = true }
      else if (field === "event") type = value
    }
    return (chunk) => {
      buffer += chunk
      let start = 0
      let i = scanned
      for (; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i)
        if (c !== 10 && c !== 13) continue
        if (c === 13 && i + 1 === buffer.length) break // a CR at the end: wait, it may be a CRLF
        line(buffer.slice(start, i))
        if (c === 13 && buffer.charCodeAt(i + 1) === 10) i++
        start = i + 1
      }
      buffer = buffer.slice(start)
      scanned = Math.max(0, i - start)
      if (buffer.length > 32 * 1024 * 1024) throw new Error("an event over 32 MB")
    }
  }

  const dispatch = (type, data) => {
    stats.messages++
    let message
    try { message = JSON.parse(data) } catch (e) { stats.badMessages++; return }
    if (!message || typeof message !== "object") { stats.badMessages++; return }
    try {
      if (type === "frame") onFrame(message)
      else if (type === "hello") onHello(message)
      else if (type === "transition") onTransition(message)
      else if (type === "alert") onAlert(message)
      else if (type === "dropped") onDropped(message)
      else if (type === "refused") showNotice(clean(message.detail || "the server refused this client"), 15000)
    } catch (e) {
      stats.badMessages++
      if (window.console) console.error("dashboard: could not apply a " + type + " message", e)
    }
  }

  const connect = async () => {
    clearTimeout(retryTimer)
    retryTimer = 0
    if (controller) controller.abort()
    const id = ++connection
    const ctrl = new AbortController()
    controller = ctrl
    setHidden(ui.auth, true)
    if (state !== "reconnecting") setState("connecting")
    const headers = { accept: "text/event-stream" }
    if (token) headers.authorization = "Bearer " + token
    let response
    try {
      response = await fetch(eventsUrl, { headers, cache: "no-store", credentials: "same-origin", signal: ctrl.signal })
    } catch (e) {
      if (id !== connection) return
      if (token && e && e.name === "TypeError" && /[^\x20-\x7e]/.test(token)) return unauthorized("token rejected: it has characters a header cannot carry")
      return retry("cannot reach " + eventsUrl)
    }
    if (id !== connection) return
    if (!response.ok && response.body) response.body.cancel().catch(() => {})
    if (response.status === 401 || response.status === 403) {
      return unauthorized(token ? "token rejected (HTTP " + response.status + ")" : "token required (HTTP " + response.status + ")")
    }
    if (!response.ok || !response.body) {
      return retry(response.status === 503 ? "the server is busy (HTTP 503)" : "HTTP " + response.status + " from " + eventsUrl)
    }
    const reader = response.body.getReader()
    const decoder = new TextDecoder()
    const parse = makeParser(dispatch)
    lastByteAt = Date.now()
    let why = "the stream ended"
    try {
      for (;;) {
        const chunk = await reader.read()
        if (id !== connection) return
        if (chunk.done) break
        lastByteAt = Date.now()
        parse(decoder.decode(chunk.value, { stream: true }))
      }
    } catch (e) {
      if (id !== connection) return
      why = "the stream broke"
    }
    retry(why)
  }

  const retry = (why) => {
    controller = null
    // doubling up to 15 s, each with up to a fifth more at random: pages opened together do not all come back at once
    const delay = Math.round(Math.min(15000, 1000 * Math.pow(2, attempt)) * (1 + Math.random() * 0.2))
    attempt++
    stats.reconnects++
    retryAt = Date.now() + delay
    retryWhy = why
    setState("reconnecting")
    retryTimer = setTimeout(connect, delay)
  }

  const unauthorized = (message) => {
    controller = null
    setState("unauthorized", message.indexOf("required") !== -1 ? "token required" : "token rejected")
    setText(ui.authMessage, message + ": open this page as …/dashboard#token=<token>, or enter the token here.")
    setHidden(ui.auth, false)
  }

  // ---- drawing, batched into one animation frame (frames arriving before it are coalesced: the latest wins)
  const scheduleRender = () => {
    if (renderPending) return
    renderPending = true
    requestAnimationFrame(render)
  }

  const render = () => {
    renderPending = false
    const started = performance.now()
    const frame = currentFrame()
    if (frame) {
      renderHeader(frame)
      renderOperations(frame)
      renderBreakers(frame)
      renderResources(frame)
    }
    renderEvents(frame)
    const took = performance.now() - started
    stats.renders++
    stats.lastRenderMs = Math.round(took * 100) / 100
    if (took > stats.maxRenderMs) stats.maxRenderMs = stats.lastRenderMs
  }

  const renderHeader = (frame) => {
    const frames = view.frames
    const multi = frames.length > 1
    setHidden(ui.replica, !multi)
    setHidden(ui.replicaName, multi)
    if (multi) {
      const keys = frames.map((f) => f.replica).join("\u0001")
      if (keys !== replicaKeys) {
        replicaKeys = keys
        while (ui.replica.firstChild) ui.replica.removeChild(ui.replica.firstChild)
        const fleet = h("option", "", ui.replica, "fleet (sum of " + frames.length + ")")
        fleet.value = "fleet"
        for (const f of frames) {
          const option = h("option", "", ui.replica)
          option.value = "r:" + f.replica
          option.textContent = clean(f.replica) + (f.replica === view.replica ? " (this one)" : "")
        }
      }
      if (ui.replica.value !== (frame === view.fleet ? "fleet" : "r:" + frame.replica)) {
        ui.replica.value = frame === view.fleet ? "fleet" : "r:" + frame.replica
      }
    } else {
      setUserText(ui.replicaName, frame.replica)
    }
    let rate = 0
    let errors = 0
    for (const o of frame.operations) { const r = num(o.rate); rate += r; errors += r * num(o.errorRate) }
    const errorRate = rate > 0 ? errors / rate : 0
    setText(ui.totalRate, fmtRate(rate))
    setText(ui.totalErrors, fmtPct(errorRate))
    setAttr(ui.totalErrors, "data-health", health(rate, errorRate))
    let open = 0
    for (const b of frame.breakers) if (b.status === "open" || b.status === "forced_open") open++
    setText(ui.openBreakers, String(open))
    let rehearsed = 0
    for (const o of frame.operations) if (chaosOf(o)) rehearsed++
    setHidden(ui.chaosKpi, rehearsed === 0)
    if (rehearsed > 0) setText(ui.chaosOps, plural(rehearsed, "operation"))
    ui.openBreakers.classList.toggle("alarm", open > 0)
    doc.title = (open > 0 ? "(" + open + " open) " : "") + baseTitle
    setText(ui.updated, fmtTime(frame.at || view.at))
    const truncated = num(frame.truncated)
    setHidden(ui.truncated, truncated <= 0)
    if (truncated > 0) setText(ui.truncated, plural(truncated, "quieter operation") + " left out (over the view's maxOperations)")
  }

  // -- operation cards
  const outcomes = [
    ["succeeded", "ok", "succeeded at the first attempt, per second"],
    ["succeeded_after_retry", "ok↻", "succeeded after retrying, per second"],
    ["failed", "failed", "failed, per second"],
    ["failed_after_retry", "failed↻", "failed after retrying, per second"],
    ["rejected", "rejected", "rejected (breaker, bulkhead, limiter), per second"]
  ]
  const observer = typeof IntersectionObserver === "function"
    ? new IntersectionObserver((entries) => {
      let wake = false
      for (const entry of entries) {
        const card = entry.target._card
        if (!card) continue
        card.onScreen = entry.isIntersecting
        if (card.onScreen && card.stale) wake = true
      }
      if (wake) scheduleRender()
    }, { rootMargin: "300px 0px" })
    : null

  const figure = (parent, cls, unit, title) => {
    const box = h("div", "figure", parent)
    box.setAttribute("title", title)
    const value = h("span", "value " + cls, box, "–")
    h("span", "unit", box, unit)
    return value
  }

  const latencyLine = (parent, label) => {
    const line = h("div", "lat", parent)
    h("span", "unit", line, label)
    return h("span", "value " + label, line, "–")
  }

  const createCard = (name) => {
    const root = h("article", "op")
    root.setAttribute("data-operation", "")
    root.setAttribute("data-name", name)
    root.setAttribute("data-health", "idle")
    const head = h("header", "op-head", root)
    const nameNode = userText("h3", "name", head, name)
    const breaker = h("span", "op-breaker", head)
    breaker.hidden = true
    const chaosBadge = h("span", "badge chaos", head, "chaos")
    chaosBadge.setAttribute("data-chaos-badge", "")
    chaosBadge.hidden = true
    const viz = h("div", "op-viz", root)
    const bubble = svg("svg", { class: "bubble", viewBox: "0 0 64 64", "aria-hidden": "true" }, viz)
    const circle = svg("circle", { cx: "32", cy: "32", r: "4" }, bubble)
    const sparkBox = h("div", "spark-box", viz)
    sparkBox.setAttribute("title", "calls per second, last two minutes")
    const spark = svg("svg", { class: "spark", viewBox: "0 0 119 40", preserveAspectRatio: "none", "aria-hidden": "true" }, sparkBox)
    const area = svg("polygon", { class: "spark-area", points: "" }, spark)
    const line = svg("polyline", { class: "spark-line", points: "" }, spark)
    const peak = h("span", "spark-peak", sparkBox)
    const main = h("div", "op-main", root)
    const rate = figure(main, "rate", "calls/s", "calls per second, all outcomes")
    const errorRate = figure(main, "error-rate", "errors", "failed or rejected, of all calls")
    const latency = h("div", "latency", main)
    latency.setAttribute("title", "latency over the last minute: median, 99th percentile")
    const p50 = latencyLine(latency, "p50")
    const p99 = latencyLine(latency, "p99")
    const outcomeRow = h("div", "op-outcomes", root)
    const outcomeNodes = outcomes.map(([key, label, title]) => {
      const span = h("span", "outcome", outcomeRow)
      span.setAttribute("data-outcome", key)
      span.setAttribute("title", title)
      const b = h("b", "", span, "0")
      span.appendChild(doc.createTextNode(" " + label))
      return { key, span, b }
    })
    const extra = h("div", "op-extra", root)
    extra.hidden = true
    const hedgeBox = h("span", "hedges", extra)
    hedgeBox.setAttribute("title", "hedged calls since start: won by the hedge / lost to the first call / not started")
    hedgeBox.appendChild(doc.createTextNode("hedges "))
    const hedgeWon = fact(hedgeBox, "won")
    hedgeBox.appendChild(doc.createTextNode(" · "))
    const hedgeLost = fact(hedgeBox, "lost")
    hedgeBox.appendChild(doc.createTextNode(" · "))
    const hedgeSuppressed = fact(hedgeBox, "held")
    const suppressedBox = h("span", "suppressed", extra)
    suppressedBox.setAttribute("title", "retries suppressed since start: by the retry budget / by server pushback")
    suppressedBox.appendChild(doc.createTextNode("retries held "))
    const byBudget = fact(suppressedBox, "budget")
    suppressedBox.appendChild(doc.createTextNode(" · "))
    const byPushback = fact(suppressedBox, "pushback")
    const chaosBox = h("span", "chaos-box", extra)
    chaosBox.appendChild(doc.createTextNode("chaos "))
    const chaosKinds = CHAOS_KINDS.map((kind, i) => {
      const span = h("span", "", chaosBox)
      span.setAttribute("data-kind", kind)
      const b = h("b", "", span, "0")
      span.appendChild(doc.createTextNode(" " + kind + (i < CHAOS_KINDS.length - 1 ? " " : "")))
      return { kind, span, b }
    })
    const card = {
      name, lower: name.toLowerCase(), root, nameNode, breaker, circle, area, line, peak, rate, errorRate, p50, p99,
      outcomeNodes, extra, hedgeBox, hedgeWon, hedgeLost, hedgeSuppressed, suppressedBox, byBudget, byPushback,
      chaosBadge, chaosBox, chaosKinds,
      op: null, step: undefined, sparkVersion: -1, sparkKey: "", onScreen: true, stale: true, hidden: false
    }
    root._card = card
    if (observer) observer.observe(root)
    return card
  }

  const updateCardBreaker = (card, status) => {
    if (status == null) { setHidden(card.breaker, true); return }
    setHidden(card.breaker, false)
    setAttr(card.breaker, "data-status", str(status))
    setText(card.breaker, statusLabel(status))
    setAttr(card.breaker, "title", "breaker " + statusLabel(status))
  }

  const updateCard = (card, maxRate, hist, histKey, breakerStatus) => {
    const op = card.op
    const rate = num(op.rate)
    const errorRate = num(op.errorRate)
    setAttr(card.root, "data-health", health(rate, errorRate))
    // area grows with traffic: radius by the square root of the rate over the busiest one's, clamped
    const radius = rate > 0 ? 7 + 23 * Math.sqrt(Math.min(1, rate / maxRate)) : 4
    setAttr(card.circle, "r", radius.toFixed(1))
    setText(card.rate, fmtRate(rate))
    setText(card.errorRate, fmtPct(errorRate))
    const latency = op.latency
    setText(card.p50, latency ? fmtMs(latency.p50) : "–")
    setText(card.p99, latency ? fmtMs(latency.p99) : "–")
    for (const o of card.outcomeNodes) {
      const value = num(op.perSecond[o.key])
      setText(o.b, fmtRate(value))
      o.span.classList.toggle("zero", value <= 0)
    }
    const hedges = op.hedges && typeof op.hedges === "object" ? op.hedges : null
    const suppressed = op.suppressed && typeof op.suppressed === "object" ? op.suppressed : null
    const chaos = chaosOf(op)
    setHidden(card.extra, !hedges && !suppressed && !chaos)
    setAttr(card.root, "data-chaos", chaos ? "on" : "off")
    setHidden(card.chaosBadge, !chaos)
    setHidden(card.chaosBox, !chaos)
    if (chaos) {
      const parts = []
      for (const k of card.chaosKinds) {
        const n = num(chaos.injected[k.kind])
        setHidden(k.span, n <= 0)
        setText(k.b, fmtCount(n))
        if (n > 0) parts.push(fmtCount(n) + " " + k.kind)
      }
      const title = "a rehearsal, not an outage: faults the chaos layer injected in the last " +
        fmtMs(windowMillis()) + ": " + parts.join(", ") + " (" + fmtRate(chaos.rate) + "/s)"
      setAttr(card.chaosBadge, "title", title)
      setAttr(card.chaosBox, "title", title)
    }
    setHidden(card.hedgeBox, !hedges)
    setHidden(card.suppressedBox, !suppressed)
    if (hedges) {
      setText(card.hedgeWon, fmtCount(hedges.won))
      setText(card.hedgeLost, fmtCount(hedges.lost))
      setText(card.hedgeSuppressed, fmtCount(hedges.suppressed))
    }
    if (suppressed) {
      setText(card.byBudget, fmtCount(suppressed.budget))
      setText(card.byPushback, fmtCount(suppressed.pushback))
    }
    updateCardBreaker(card, breakerStatus)
    if (hist && (hist.version !== card.sparkVersion || histKey !== card.sparkKey)) {
      card.sparkVersion = hist.version
      card.sparkKey = histKey
      drawSpark(card, hist.points)
    } else if (!hist && card.sparkVersion !== -1) {
      card.sparkVersion = -1
      drawSpark(card, [])
    }
    card.stale = false
  }

  const drawSpark = (card, points) => {
    const n = points.length
    let max = 0
    for (let i = 0; i < n; i++) if (points[i] > max) max = points[i]
    if (n < 2) {
      card.line.setAttribute("points", "")
      card.area.setAttribute("points", "")
      setText(card.peak, "")
      return
    }
    const scale = max > 0 ? 37 / max : 0
    const x0 = HISTORY - n
    let text = ""
    for (let i = 0; i < n; i++) text += (x0 + i) + "," + (39 - points[i] * scale).toFixed(1) + " "
    card.line.setAttribute("points", text)
    card.area.setAttribute("points", text + (HISTORY - 1) + ",40 " + x0 + ",40")
    setText(card.peak, "max " + fmtRate(max) + "/s")
  }

  // Sorting compares rates in steps of about 25 % (error rates in steps of half a point), so two operations of
  // nearly the same traffic do not swap places at every re-sort: a moved card costs a restyle and a layout.
  // A card keeps its step until its rate leaves the step with a margin, so one at a step's edge does not flap.
  const trafficStep = (card) => {
    const r = num(card.op.rate)
    if (!(r > 0)) return (card.step = -Infinity)
    const exact = Math.log(r) / Math.LN2 * 3
    if (card.step === undefined || Math.abs(exact - card.step) > 0.75) card.step = Math.round(exact)
    return card.step
  }
  const errorStep = (errorRate) => Math.round(num(errorRate) * 200)
  const compareCards = (a, b) => {
    if (sortKey === "name") return collator.compare(a.name, b.name)
    const ra = a.step
    const rb = b.step
    if (sortKey === "errors") {
      const ea = ra > -Infinity ? errorStep(a.op.errorRate) : -1
      const eb = rb > -Infinity ? errorStep(b.op.errorRate) : -1
      if (ea !== eb) return eb - ea
    }
    if (ra !== rb) return rb - ra
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  }

  // the positions (of seq) on one longest increasing run, ignoring -1: the nodes that need not move
  const longestRun = (seq) => {
    const n = seq.length
    const keep = new Array(n).fill(false)
    const tails = []
    const prev = new Array(n).fill(-1)
    for (let k = 0; k < n; k++) {
      const v = seq[k]
      if (v < 0) continue
      let lo = 0
      let hi = tails.length
      while (lo < hi) { const mid = (lo + hi) >> 1; if (seq[tails[mid]] < v) lo = mid + 1; else hi = mid }
      if (lo > 0) prev[k] = tails[lo - 1]
      tails[lo] = k
    }
    for (let k = tails.length ? tails[tails.length - 1] : -1; k !== -1; k = prev[k]) keep[k] = true
    return keep
  }

  // make a container's children exactly roots, in order, moving as few nodes as it can (a moved node is
  // restyled and relaid out, so a re-sort where one card overtakes another moves one node, not the run between)
  const arrange = (container, roots) => {
    const wanted = new Set(roots)
    for (let node = container.firstChild; node;) {
      const next = node.nextSibling
      if (!wanted.has(node)) container.removeChild(node)
      node = next
    }
    const index = new Map()
    let i = 0
    for (let node = container.firstChild; node; node = node.nextSibling) index.set(node, i++)
    const n = roots.length
    const seq = new Array(n)
    let sorted = index.size === n
    let last = -1
    for (let k = 0; k < n; k++) {
      const p = index.has(roots[k]) ? index.get(roots[k]) : -1
      seq[k] = p
      if (p <= last) sorted = false
      else last = p
    }
    if (sorted) return
    const keep = longestRun(seq)
    let next = null
    for (let k = n - 1; k >= 0; k--) {
      if (!keep[k]) container.insertBefore(roots[k], next)
      next = roots[k]
    }
  }

  const renderOperations = (frame) => {
    const seen = new Set()
    const list = []
    let maxRate = 0
    for (const op of frame.operations) {
      if (seen.has(op.name)) continue
      seen.add(op.name)
      let card = cards.get(op.name)
      if (!card) { card = createCard(op.name); cards.set(op.name, card); orderDirty = true }
      card.op = op
      list.push(card)
      const r = num(op.rate)
      if (r > maxRate) maxRate = r
    }
    for (const [name, card] of cards) {
      if (seen.has(name)) continue
      if (observer) observer.unobserve(card.root)
      card.root.remove()
      cards.delete(name)
      orderDirty = true
    }
    const now = Date.now()
    if (orderDirty || now - lastSortAt > RESORT_MILLIS) {
      for (const card of list) trafficStep(card)
      list.sort(compareCards)
      arrange(ui.operations, list.map((c) => c.root))
      orderDirty = false
      lastSortAt = now
    }
    const breakerStatus = new Map()
    for (const b of frame.breakers) breakerStatus.set(b.name, b.status)
    const histKey = keyOf(view, frame)
    const hist = histories.get(histKey)
    const capture = doc.documentElement.classList.contains("capture")
    let shown = 0
    for (const card of list) {
      const hidden = nameFilter !== "" && card.lower.indexOf(nameFilter) === -1
      if (hidden !== card.hidden) { card.hidden = hidden; card.root.hidden = hidden }
      if (hidden) { card.stale = true; continue }
      shown++
      if (!card.onScreen && !capture) { card.stale = true; continue }
      updateCard(card, maxRate || 1, hist ? hist.get(card.name) : undefined, histKey, breakerStatus.get(card.name))
    }
    stats.operations = list.length
    setHidden(ui.opsEmpty, list.length > 0)
    if (list.length === 0) setText(ui.opsEmpty, "no operations yet")
    setText(ui.opCount, list.length === shown ? plural(list.length, "operation") : shown + " of " + plural(list.length, "operation"))
  }

  // -- breakers
  const createBreaker = (name) => {
    const root = h("div", "row breaker")
    root.setAttribute("data-breaker", "")
    root.setAttribute("data-name", name)
    const head = h("div", "row-head", root)
    const nameNode = userText("span", "name", head, name)
    const status = h("span", "status", head)
    const countdown = h("span", "countdown", head)
    countdown.setAttribute("title", "until it lets a probe through")
    const shared = h("span", "shared", head)
    shared.hidden = true
    const facts = h("div", "facts calls", root)
    const openings = fact(facts, "openings")
    const success = fact(facts, "ok")
    const failure = fact(facts, "failed")
    const slow = fact(facts, "slow")
    const rejected = fact(facts, "rejected")
    const ignored = fact(facts, "ignored")
    facts.setAttribute("title", "calls since start, by outcome")
    return { name, root, nameNode, status, countdown, shared, openings, success, failure, slow, rejected, ignored, deadline: null, changedTimer: 0 }
  }

  const updateBreaker = (row, b) => {
    const status = str(b.status)
    setAttr(row.root, "data-status", status)
    setText(row.status, statusLabel(status))
    const calls = b.calls && typeof b.calls === "object" ? b.calls : {}
    setText(row.openings, fmtCount(b.openings))
    setText(row.success, fmtCount(calls.success))
    setText(row.failure, fmtCount(calls.failure))
    setText(row.slow, fmtCount(calls.slow))
    setText(row.rejected, fmtCount(calls.rejected))
    setText(row.ignored, fmtCount(calls.ignored))
    row.failure.classList.toggle("hot", num(calls.failure) > 0)
    setHidden(row.shared, b.shared == null)
    if (b.shared != null) { setText(row.shared, clean(b.shared)); setAttr(row.shared, "title", "store: " + clean(b.shared)) }
    setAttr(row.nameNode, "title", clean(row.name) + (b.note ? "\nlast change: " + b.note : ""))
    row.deadline = status !== "closed" && b.deadline != null ? b.deadline : null
    if (row.deadline != null) counting.add(row); else counting.delete(row)
    tickCountdown(row, Date.now())
  }

  const tickCountdown = (row, now) => {
    if (row.deadline == null) { setText(row.countdown, ""); setHidden(row.countdown, true); return }
    setHidden(row.countdown, false)
    setText(row.countdown, fmtCountdown(row.deadline - now))
  }

  const renderBreakers = (frame) => {
    const list = []
    const seen = new Set()
    for (const b of frame.breakers) {
      if (seen.has(b.name)) continue
      seen.add(b.name)
      let row = breakerRows.get(b.name)
      if (!row) { row = createBreaker(b.name); breakerRows.set(b.name, row) }
      updateBreaker(row, b)
      list.push({ row, rank: statusRank(b.status) })
    }
    for (const [name, row] of breakerRows) if (!seen.has(name)) { breakerRows.delete(name); counting.delete(row) }
    list.sort((a, b) => a.rank - b.rank || collator.compare(a.row.name, b.row.name))
    arrange(ui.breakers, list.map((x) => x.row.root))
    setHidden(ui.breakersEmpty, list.length > 0)
    setText(ui.breakerCount, list.length ? String(list.length) : "")
  }

  // -- bulkheads, limiters, budgets
  const gauge = (parent, labelText, title) => {
    const row = h("div", "gauge", parent)
    row.setAttribute("title", title)
    h("span", "label", row, labelText)
    const bar = h("div", "bar", row)
    const fill = h("div", "fill", bar)
    const value = h("span", "num", row)
    return { bar, fill, value, level: -1 }
  }
  const setGauge = (g, value, limit) => {
    const v = num(value)
    const l = num(limit)
    const ratio = l > 0 ? Math.min(1, Math.max(0, v / l)) : 0
    const rounded = Math.round(ratio * 200) / 200
    if (rounded !== g.level) { g.level = rounded; g.fill.style.transform = "scaleX(" + rounded + ")" }
    setAttr(g.bar, "data-level", l <= 0 ? "none" : ratio >= 1 ? "full" : ratio >= 0.75 ? "high" : "ok")
    setText(g.value, l > 0 ? fmtCount(v) + " / " + fmtCount(l) : fmtCount(v))
  }

  const createBulkhead = (name) => {
    const root = h("div", "row resource")
    root.setAttribute("data-bulkhead", "")
    root.setAttribute("data-name", name)
    const head = h("div", "row-head", root)
    userText("span", "name", head, name)
    const rejectedPerSecond = h("span", "sub", head)
    const inFlight = gauge(root, "in flight", "calls running, of the limit")
    const queued = gauge(root, "queued", "calls waiting, of the queue")
    const facts = h("div", "facts", root)
    const admitted = fact(facts, "admitted")
    const rejected = fact(facts, "rejected")
    return { root, rejectedPerSecond, inFlight, queued, admitted, rejected }
  }
  const updateBulkhead = (row, b) => {
    setGauge(row.inFlight, b.inFlight, b.limit)
    setGauge(row.queued, b.queued, b.queue)
    setText(row.rejectedPerSecond, fmtRate(b.rejectedPerSecond) + " rejected/s")
    row.rejectedPerSecond.classList.toggle("hot", num(b.rejectedPerSecond) > 0)
    setText(row.admitted, fmtCount(b.admitted))
    setText(row.rejected, fmtCount(b.rejected))
  }

  const createLimiter = (name) => {
    const root = h("div", "row resource")
    root.setAttribute("data-limiter", "")
    root.setAttribute("data-name", name)
    const head = h("div", "row-head", root)
    userText("span", "name", head, name)
    const mode = h("span", "badge", head)
    const rejectedPerSecond = h("span", "sub", head)
    const facts = h("div", "facts", root)
    const limit = h("span", "", facts)
    const granted = fact(facts, "granted")
    const rejected = fact(facts, "rejected")
    return { root, mode, rejectedPerSecond, limit, granted, rejected }
  }
  const updateLimiter = (row, l) => {
    setText(row.mode, clean(l.mode))
    setAttr(row.mode, "title", "mode: " + clean(l.mode))
    setText(row.rejectedPerSecond, fmtRate(l.rejectedPerSecond) + " rejected/s")
    row.rejectedPerSecond.classList.toggle("hot", num(l.rejectedPerSecond) > 0)
    setText(row.limit, clean(l.algorithm) + ": " + fmtCount(l.limit) + " per " + fmtMs(num(l.windowMillis)))
    setText(row.granted, fmtCount(l.granted))
    setText(row.rejected, fmtCount(l.rejected))
  }

  const createBudget = (name) => {
    const root = h("div", "row resource")
    root.setAttribute("data-budget", "")
    root.setAttribute("data-name", name)
    const head = h("div", "row-head", root)
    userText("span", "name", head, name)
    const kind = h("span", "badge", head)
    const refusedPerSecond = h("span", "sub", head)
    const level = gauge(root, "available", "retries it would grant now, of the most seen")
    const facts = h("div", "facts", root)
    const granted = fact(facts, "granted")
    const refused = fact(facts, "refused")
    return { root, kind, refusedPerSecond, level, granted, refused, peak: 0 }
  }
  const updateBudget = (row, b) => {
    setText(row.kind, clean(b.kind))
    const available = num(b.available)
    if (available > row.peak) row.peak = available
    setGauge(row.level, available, row.peak)
    setText(row.level.value, fmtRate(available))
    // an empty budget is the alarming state: colour the bar by how little is left
    setAttr(row.level.bar, "data-level", row.peak <= 0 ? "none" : available <= 0 ? "full" : available / row.peak < 0.25 ? "high" : "ok")
    setText(row.refusedPerSecond, fmtRate(b.refusedPerSecond) + " refused/s")
    row.refusedPerSecond.classList.toggle("hot", num(b.refusedPerSecond) > 0)
    setText(row.granted, fmtCount(b.granted))
    setText(row.refused, fmtCount(b.refused))
  }

  const renderRows = (container, section, rows, items, create, update) => {
    const seen = new Set()
    const roots = []
    for (const item of items) {
      if (seen.has(item.name)) continue
      seen.add(item.name)
      let row = rows.get(item.name)
      if (!row) { row = create(item.name); rows.set(item.name, row) }
      update(row, item)
      roots.push(row.root)
    }
    for (const name of Array.from(rows.keys())) if (!seen.has(name)) rows.delete(name)
    arrange(container, roots)
    setHidden(section, roots.length === 0)
  }

  const renderResources = (frame) => {
    renderRows(ui.bulkheads, ui.bulkheadsSection, bulkheadRows, frame.bulkheads, createBulkhead, updateBulkhead)
    renderRows(ui.limiters, ui.limitersSection, limiterRows, frame.limiters, createLimiter, updateLimiter)
    renderRows(ui.budgets, ui.budgetsSection, budgetRows, frame.budgets, createBudget, updateBudget)
  }

  // -- error events
  const createEvent = (e) => {
    const li = h("li", "event")
    li.setAttribute("data-severity", e.severity)
    li.setAttribute("data-chaos", e.chaos ? "on" : "off")
    const time = h("time", "time", li, fmtTime(e.at))
    const date = new Date(num(e.at))
    if (Number.isFinite(date.getTime())) time.setAttribute("datetime", date.toISOString())
    userText("span", "severity", li, e.severity)
    userText("span", "tag", li, e.tag)
    const meta = h("div", "meta", li)
    userText("span", "code", meta, e.code)
    if (e.operation) userText("span", "operation", meta, e.operation)
    if (e.chaos) {
      const tag = h("span", "badge chaos", meta, "chaos")
      tag.setAttribute("data-chaos-tag", "")
      tag.setAttribute("title", "injected by a chaos layer: a rehearsal, not an outage")
    }
    if (e.gaveUp) h("span", "gave-up", meta, "gave up")
    if (e.replica && view && view.frames.length > 1) userText("span", "replica", meta, e.replica)
    userText("div", "message", li, e.message)
    return li
  }

  const renderEvents = (frame) => {
    const roots = []
    const wanted = new Set()
    const replica = frame && view && frame !== view.fleet && view.frames.length > 1 ? frame.replica : null
    for (const e of events) {
      if (roots.length >= SHOWN_EVENTS) break
      if (replica !== null && e.replica !== replica) continue
      if (severities[e.severity] === false) continue
      if (tagFilter !== "" && e.tagLower.indexOf(tagFilter) === -1) continue
      let li = eventItems.get(e.key)
      if (!li) { li = createEvent(e); eventItems.set(e.key, li) }
      wanted.add(e.key)
      roots.push(li)
    }
    for (const key of Array.from(eventItems.keys())) if (!wanted.has(key)) eventItems.delete(key)
    arrange(ui.events, roots)
    setHidden(ui.eventsEmpty, roots.length > 0)
    setText(ui.eventsEmpty, events.length === 0 ? "no error events" : "no error events match")
    if (frame) {
      const by = frame.errors.bySeverity
      for (const button of ui.severityButtons) {
        const n = button.querySelector(".n")
        if (n) setText(n, fmtCount(by[button.getAttribute("data-severity")]))
      }
      setText(ui.errorsTotal, plural(frame.errors.total, "error") + " tracked")
    }
  }

  // ---- controls
  ui.sort.addEventListener("change", () => { sortKey = ui.sort.value; orderDirty = true; scheduleRender() })
  ui.filter.addEventListener("input", () => { nameFilter = ui.filter.value.trim().toLowerCase(); scheduleRender() })
  ui.tagFilter.addEventListener("input", () => { tagFilter = ui.tagFilter.value.trim().toLowerCase(); scheduleRender() })
  ui.replica.addEventListener("change", () => {
    selected = ui.replica.value
    orderDirty = true
    for (const card of cards.values()) card.stale = true
    scheduleRender()
  })
  for (const button of ui.severityButtons) {
    button.addEventListener("click", () => {
      const s = button.getAttribute("data-severity")
      severities[s] = !severities[s]
      button.setAttribute("aria-pressed", String(severities[s]))
      scheduleRender()
    })
  }
  const setWall = (on) => {
    doc.documentElement.classList.toggle("wall", on)
    ui.wall.setAttribute("aria-pressed", String(on))
  }
  const params = new URLSearchParams(location.search)
  setWall(params.has("wall") && params.get("wall") !== "0" && params.get("wall") !== "false")
  if (params.has("capture")) doc.documentElement.classList.add("capture")
  if (params.get("sort") === "errors" || params.get("sort") === "name") { sortKey = params.get("sort"); ui.sort.value = sortKey }
  ui.wall.addEventListener("click", () => {
    const on = !doc.documentElement.classList.contains("wall")
    setWall(on)
    const next = new URLSearchParams(location.search)
    if (on) next.set("wall", ""); else next.delete("wall")
    const query = next.toString().replace(/=(&|$)/g, "$1")
    try { history.replaceState(history.state, "", location.pathname + (query ? "?" + query : "") + location.hash) } catch (e) { /* ignore */ }
  })
  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault()
    token = ui.tokenInput.value.trim() || null
    ui.tokenInput.value = ""
    storeToken(token)
    attempt = 0
    setState("connecting")
    connect()
  })
  window.addEventListener("hashchange", () => {
    if (location.hash.indexOf("token=") === -1) return
    token = readToken()
    attempt = 0
    setState("connecting")
    connect()
  })

  // the sticky header's height, for the sticky side column below it (CSSOM, which the CSP allows)
  const top = doc.querySelector("header.top")
  const setTop = () => doc.documentElement.style.setProperty("--top", top.offsetHeight + "px")
  if (typeof ResizeObserver === "function") new ResizeObserver(setTop).observe(top)
  else setTop()

  // countdowns, the age of the data, the reconnect countdown, a stalled stream (the server pings every 15 s)
  setInterval(() => {
    const now = Date.now()
    for (const row of counting) tickCountdown(row, now)
    if (state === "reconnecting") setState("reconnecting")
    if (view) ui.updated.classList.toggle("stale", now - num(view.at) > 5000 || state !== "live")
    if (noticeUntil && now > noticeUntil) { noticeUntil = 0; setHidden(ui.notice, true) }
    if (controller && state === "live" && now - lastByteAt > 45000) controller.abort()
  }, 250)

  setState("connecting")
  connect()
})()
`

const attributeEscapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** `&`, `<`, `>`, `"` and `'` as entities: safe in text and in a quoted attribute value. */
const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => attributeEscapes[c] ?? c)

/**
 * The complete dashboard document. `events` is the URL of the event stream, relative to the page (`"events"`) or
 * absolute (`"/ops/events"`); it is put, escaped, in `<meta name="resilience-events">`. `title` is the page's
 * title and heading (`"Resilience"` by default). The inline `<style>` and `<script>` hold exactly {@link style}
 * and {@link script}, so a CSP can allow them by their sha256 hashes; the markup has no inline handler and no
 * `style` attribute.
 *
 * @internal
 */
export const html = (options: { readonly events: string; readonly title?: string | undefined }): string => {
  const title = escape(options.title ?? "Resilience")
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="dark">
<meta name="resilience-events" content="${escape(options.events)}">
<title>${title}</title>
<link rel="icon" href="data:,">
<style>${style}</style>
</head>
<body data-state="connecting">
<header class="top">
  <div class="brand">
    <h1 id="title">${title}</h1>
    <span id="status" data-state="connecting" role="status" aria-live="polite">connecting…</span>
  </div>
  <div class="kpis">
    <div class="kpi"><span class="kpi-label">replica</span><span id="replica-name" class="kpi-value">–</span><select id="replica" aria-label="replica" hidden></select></div>
    <div class="kpi"><span class="kpi-label">calls/s</span><span id="total-rate" class="kpi-value">–</span></div>
    <div class="kpi"><span class="kpi-label">errors</span><span id="total-errors" class="kpi-value">–</span></div>
    <div class="kpi"><span class="kpi-label">open breakers</span><span id="open-breakers" class="kpi-value">–</span></div>
    <div id="chaos-kpi" class="kpi" title="operations a chaos layer injects faults into: their failures are a rehearsal" hidden><span class="kpi-label">chaos rehearsal</span><span id="chaos-ops" class="kpi-value">–</span></div>
    <div class="kpi"><span class="kpi-label">updated</span><span id="updated" class="kpi-value">–</span></div>
  </div>
  <div class="controls">
    <input id="filter" type="search" placeholder="filter operations" aria-label="filter operations by name" autocomplete="off" spellcheck="false">
    <select id="sort" aria-label="sort operations">
      <option value="traffic">by traffic</option>
      <option value="errors">by error rate</option>
      <option value="name">by name</option>
    </select>
    <button id="wall-toggle" type="button" aria-pressed="false" title="larger cards, for a wall display">wall</button>
  </div>
</header>
<p id="notice" class="notice" role="status" hidden></p>
<section id="auth" class="auth" hidden>
  <p id="auth-message"></p>
  <form id="token-form">
    <input id="token-input" type="password" autocomplete="off" spellcheck="false" placeholder="bearer token" aria-label="bearer token">
    <button type="submit">connect</button>
  </form>
</section>
<main>
  <section id="operations-section" aria-labelledby="operations-heading">
    <div class="section-head">
      <h2 id="operations-heading">Operations</h2>
      <span id="op-count" class="count"></span>
      <ul class="legend" aria-label="legend">
        <li><span class="swatch" data-health="ok"></span>errors &lt; 1 %</li>
        <li><span class="swatch" data-health="warn"></span>&lt; 5 %</li>
        <li><span class="swatch" data-health="degraded"></span>&lt; 25 %</li>
        <li><span class="swatch" data-health="failing"></span>&ge; 25 %</li>
        <li><span class="swatch" data-health="idle"></span>no calls</li>
        <li>circle area: calls/s, against the busiest</li>
      </ul>
    </div>
    <p id="truncated" class="notice" hidden></p>
    <div id="operations"></div>
    <p id="ops-empty" class="empty">waiting for the first frame…</p>
  </section>
  <aside>
    <section id="breakers-section" aria-labelledby="breakers-heading">
      <div class="section-head"><h2 id="breakers-heading">Breakers</h2><span id="breaker-count" class="count"></span></div>
      <div id="breakers" class="rows"></div>
      <p id="breakers-empty" class="empty">no breakers</p>
    </section>
    <section id="bulkheads-section" aria-labelledby="bulkheads-heading" hidden>
      <div class="section-head"><h2 id="bulkheads-heading">Bulkheads</h2></div>
      <div id="bulkheads" class="rows"></div>
    </section>
    <section id="limiters-section" aria-labelledby="limiters-heading" hidden>
      <div class="section-head"><h2 id="limiters-heading">Rate limiters</h2></div>
      <div id="limiters" class="rows"></div>
    </section>
    <section id="budgets-section" aria-labelledby="budgets-heading" hidden>
      <div class="section-head"><h2 id="budgets-heading">Retry budgets</h2></div>
      <div id="budgets" class="rows"></div>
    </section>
    <section id="events-section" aria-labelledby="events-heading">
      <div class="section-head"><h2 id="events-heading">Error events</h2><span id="errors-total" class="count"></span></div>
      <div class="event-filters">
        <div id="severity-filter" role="group" aria-label="severities shown">
          <button type="button" class="sev" data-severity="critical" aria-pressed="true">critical<span class="n">0</span></button>
          <button type="button" class="sev" data-severity="high" aria-pressed="true">high<span class="n">0</span></button>
          <button type="button" class="sev" data-severity="medium" aria-pressed="true">medium<span class="n">0</span></button>
          <button type="button" class="sev" data-severity="low" aria-pressed="true">low<span class="n">0</span></button>
        </div>
        <input id="tag-filter" type="search" placeholder="filter by tag" aria-label="filter events by tag or code" autocomplete="off" spellcheck="false">
      </div>
      <ol id="events"></ol>
      <p id="events-empty" class="empty">no error events</p>
    </section>
  </aside>
</main>
<noscript><p class="notice">This dashboard needs JavaScript.</p></noscript>
<script>${script}</script>
</body>
</html>
`
}
