import { Context, Metric } from "effect"

interface Shared {
  readonly sources: Set<() => number>
  readonly registration: Metric.Registration
  /** Counters only: the last values of the sources removed while others remained. */
  retired: number
}

// One entry per series per registry: two sources (two ErrorLayer builds) exporting the same series add up,
// instead of the second replacing the first and the first's close removing both. The entries live on the
// registry itself, under a property of their own that no iteration of the registry's series sees: they belong to
// the registry (one registry per context that provides its own), so the module keeps no state of its own.
const seriesKey: unique symbol = Symbol("@effect-resilience/core/internal/metricSeries")

// the entries of a registry under `key`, made on first use
const entriesOf = <E>(registry: Metric.MetricRegistry, key: symbol): Map<string, E> => {
  const holder = registry as Metric.MetricRegistry & { [key]?: Map<string, E> }
  let entries = holder[key]
  if (entries === undefined) {
    entries = new Map()
    Object.defineProperty(holder, key, { value: entries })
  }
  return entries
}

const seriesOf = (registry: Metric.MetricRegistry): Map<string, Shared> => entriesOf<Shared>(registry, seriesKey)

/**
 * Adds a source to a counter series read at export time, in the registry of `context`. The series reports the sum
 * of its sources and is removed from the registry with its last source. Returns the function that removes this
 * source.
 *
 * A counter never goes down while it is exported: `get` must never decrease (a level that can is a gauge, see
 * {@link addGaugeSource}), and a source removed while others remain leaves its last value in the series, so that
 * closing one of two `ResilienceMetrics` services sharing a registry is not read by Prometheus as a counter reset.
 */
export const addCounterSource = (
  context: Context.Context<never>,
  name: string,
  description: string,
  attributes: Readonly<Record<string, string>>,
  get: () => number
): () => void => addSource("counter", context, name, description, attributes, get)

/**
 * As {@link addCounterSource}, for a gauge series: a level, which may go down. It reports the sum of its sources'
 * current values (or with `combine: "max"`, for a level that does not add up, the highest), and a removed
 * source's value leaves it.
 */
export const addGaugeSource = (
  context: Context.Context<never>,
  name: string,
  description: string,
  attributes: Readonly<Record<string, string>>,
  get: () => number,
  combine: "sum" | "max" = "sum"
): () => void => addSource(combine === "max" ? "gauge-max" : "gauge", context, name, description, attributes, get)

const addSource = (
  kind: "counter" | "gauge" | "gauge-max",
  context: Context.Context<never>,
  name: string,
  description: string,
  attributes: Readonly<Record<string, string>>,
  get: () => number
): () => void => {
  const registry = Context.get(context, Metric.MetricRegistry)
  const key = JSON.stringify([kind, name, attributes, Context.get(context, Metric.CurrentMetricAttributes)])
  const series = seriesOf(registry)
  let entry = series.get(key)
  if (entry === undefined) {
    const sources = new Set<() => number>()
    const sum = kind === "gauge-max"
      ? () => {
        let highest = 0
        for (const source of sources) highest = Math.max(highest, source())
        return highest
      }
      : () => {
        let total = created.retired
        for (const source of sources) total += source()
        return total
      }
    const hooks = { update: () => {}, modify: () => {} }
    const registration = kind === "counter"
      ? Metric.registerUnsafe(Metric.counter(name, { description, attributes, incremental: true }), context, {
        ...hooks,
        get: () => ({ count: sum(), incremental: true })
      })
      : Metric.registerUnsafe(Metric.gauge(name, { description, attributes }), context, {
        ...hooks,
        get: () => ({ value: sum() })
      })
    const created: Shared = { sources, registration, retired: 0 }
    entry = created
    series.set(key, entry)
  }
  const found = entry
  const { sources, registration } = found
  const source = () => get()
  sources.add(source)
  return () => {
    if (!sources.has(source)) return
    // read before it leaves: a counter keeps what this source counted
    if (kind === "counter" && sources.size > 1) found.retired += source()
    sources.delete(source)
    if (sources.size > 0) return
    registration.remove()
    if (series.get(key) === found) series.delete(key)
  }
}

/** The duration histograms' boundaries, in seconds. */
export const durationBoundaries: ReadonlyArray<number> = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60
]

/** One histogram series of a registry, shared by the services recording into it. */
interface SharedHistogram {
  readonly update: (seconds: number) => void
  readonly registration: Metric.Registration
  users: number
}

// as for the counters and gauges: one entry per series per registry, so that two services recording into one
// series share it and the first one's close does not remove it from under the second
const histogramsKey: unique symbol = Symbol("@effect-resilience/core/internal/metricSeries/histograms")

/**
 * Joins the duration histogram `name{attributes}` of the registry of `context` (made, and registered, by its first
 * user): returns its update, which takes seconds, runs synchronously and allocates nothing, and the function that
 * leaves it (the last user to leave removes it from the registry).
 *
 * The histogram's state and hooks are effect's own (`Metric.histogram`), made in a registry of their own and then
 * registered with `Metric.registerUnsafe`, so that the update is the hook itself, with no lookup per call.
 */
export const joinHistogram = (
  context: Context.Context<never>,
  name: string,
  description: string,
  attributes: Readonly<Record<string, string>>
): { readonly update: (seconds: number) => void; readonly leave: () => void } => {
  const registry = Context.get(context, Metric.MetricRegistry)
  const key = JSON.stringify([name, attributes, Context.get(context, Metric.CurrentMetricAttributes)])
  const histograms = entriesOf<SharedHistogram>(registry, histogramsKey)
  let entry = histograms.get(key)
  if (entry === undefined) {
    const metric = Metric.histogram(name, { description, attributes, boundaries: durationBoundaries })
    const own = Context.make(Metric.MetricRegistry, new Map())
    metric.valueUnsafe(own) // effect makes the series' state and hooks in `own`
    const hooks: Metric.Metric.Hooks<number, Metric.HistogramState> = Context.get(own, Metric.MetricRegistry)
      .values().next().value!.hooks
    const update = hooks.update
    entry = {
      update: (seconds) => update(seconds, context),
      registration: Metric.registerUnsafe(metric, context, hooks),
      users: 0
    }
    histograms.set(key, entry)
  }
  const found = entry
  found.users++
  let left = false
  return {
    update: found.update,
    leave: () => {
      if (left) return
      left = true
      if (--found.users > 0) return
      found.registration.remove()
      if (histograms.get(key) === found) histograms.delete(key)
    }
  }
}
