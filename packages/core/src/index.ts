/**
 * @effect-resilience/core: typed error families, Schedule-based retry policies held by a Layer-provided
 * service, `protect`, alerts and error logging for Effect programs.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Alerts from "./Alerts.js"

/**
 * @since 0.1.0
 */
export * as CommonErrors from "./CommonErrors.js"

/**
 * @since 0.1.0
 */
export * as ErrorFamily from "./ErrorFamily.js"

/**
 * @since 0.1.0
 */
export * as ErrorLayer from "./ErrorLayer.js"

/**
 * @since 0.1.0
 */
export * as ErrorLogger from "./ErrorLogger.js"

/**
 * @since 0.1.0
 */
export * as ErrorRegistry from "./ErrorRegistry.js"

/**
 * @since 0.1.0
 */
export * as Policy from "./Policy.js"

/**
 * @since 0.1.0
 */
export * as PolicyService from "./PolicyService.js"

/**
 * @since 0.1.0
 */
export * as Protect from "./Protect.js"

/**
 * `protect`, re-exported at the top level: the one call that applies the whole rule set to an operation.
 *
 * @since 0.1.0
 */
export { protect } from "./Protect.js"
