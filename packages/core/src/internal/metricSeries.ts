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

interface WithSeries {
  [seriesKey]?: Map<string, Shared>
}

const seriesOf = (registry: Metric.MetricRegistry): Map<string, Shared> => {
  const holder = registry as Metric.MetricRegistry & WithSeries
  let series = holder[seriesKey]
  if (series === undefined) {
    series = new Map()
    Object.defineProperty(holder, seriesKey, { value: series })
  }
  return series
}

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
 * current values, and a removed source's value leaves it.
 */
export const addGaugeSource = (
  context: Context.Context<never>,
  name: string,
  description: string,
  attributes: Readonly<Record<string, string>>,
  get: () => number
): () => void => addSource("gauge", context, name, description, attributes, get)

const addSource = (
  kind: "counter" | "gauge",
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
    const sum = () => {
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
