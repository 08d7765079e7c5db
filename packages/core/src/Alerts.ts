/**
 * Alert events: raised when an unrecoverable error ends an operation, published to every subscriber without ever
 * blocking the code that raised them.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, PubSub, Schema, Stream } from "effect"
import * as ErrorFamily from "./ErrorFamily.js"

/**
 * One alert: what failed (tag, code, kind, severity and the public message only, nothing internal), in which
 * operation, and when (milliseconds from `Clock`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Alert = Schema.Struct({
  ...ErrorFamily.PublicView.fields, // tag, code, kind, severity, public message
  operation: Schema.optional(Schema.String),
  timestamp: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Alert = typeof Alert.Type

/**
 * The alert hub.
 *
 * @since 0.1.0
 * @category models
 */
export interface AlertsShape {
  /** Publishes an alert. Never blocks: when subscribers fall behind, their oldest alerts are dropped. */
  readonly publish: (alert: Alert) => Effect.Effect<void>
  /** The alerts published while the stream runs. */
  readonly stream: Stream.Stream<Alert>
}

/**
 * The alert hub service, provided by `ErrorLayer`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Alerts } from "@effect-resilience/core"
 *
 * const pageOnCall = Alerts.Alerts.use((alerts) =>
 *   alerts.stream.pipe(Stream.runForEach((alert) => Effect.logError(`ALERT ${alert.code}: ${alert.message}`)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Alerts extends Context.Service<Alerts, AlertsShape>()("@effect-resilience/core/Alerts") {}

/**
 * Makes an alert hub. Each subscriber buffers up to `capacity` alerts (default 1024) and then drops its oldest.
 * The hub shuts down with the scope.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Alerts } from "@effect-resilience/core"
 *
 * const hub = Effect.scoped(Alerts.make({ capacity: 64 }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: { readonly capacity?: number | undefined }) =>
  Effect.gen(function*() {
    const hub = yield* PubSub.sliding<Alert>(options?.capacity ?? 1024)
    yield* Effect.addFinalizer(() => PubSub.shutdown(hub))
    return Alerts.of({
      publish: (alert) => Effect.asVoid(PubSub.publish(hub, alert)),
      stream: Stream.fromPubSub(hub)
    })
  })

/**
 * A layer providing the alert hub.
 *
 * **Example**
 *
 * ```ts
 * import { Alerts } from "@effect-resilience/core"
 *
 * const AlertsLive = Alerts.layer({ capacity: 256 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: { readonly capacity?: number | undefined }): Layer.Layer<Alerts> =>
  Layer.effect(Alerts, make(options))

/**
 * Builds the alert for an error and publishes it, if an `Alerts` hub is in the context; otherwise does nothing.
 *
 * **Example**
 *
 * ```ts
 * import { Alerts, CommonErrors } from "@effect-resilience/core"
 *
 * const raised = Alerts.raise(new CommonErrors.StorageError({ operation: "save" }), "items.save")
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const raise = (error: unknown, operation?: string): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(Alerts), (alerts) => {
    if (alerts._tag === "None") return Effect.void
    return Effect.flatMap(Clock.currentTimeMillis, (timestamp) => {
      const view = ErrorFamily.publicView(error)
      return alerts.value.publish({
        tag: ErrorFamily.tagOf(error) ?? view.tag,
        code: view.code,
        kind: view.kind,
        severity: view.severity,
        message: view.message,
        ...(operation === undefined ? {} : { operation }),
        timestamp
      })
    })
  })
