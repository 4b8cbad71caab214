// Package metrics holds the Prometheus metrics of a reverbd process: their definitions, one
// registry whose every name starts with the configured prefix (REVERB_METRICS_PREFIX), and
// the handles the socket, API and delivery code count with.
//
// The ten families soketi and Sockudo export (connected, new_connections_total, …,
// http_transmitted_bytes) keep their names, types and labels (app_id, port), so those
// servers' dashboards read reverbd's with the prefix changed. Label values are bounded:
// configured app ids (any other id counts as "unknown"), channel kinds, channel shapes (see
// registry.Shape; at most MaxShapes per app, the rest as "other"), close codes, limits and
// routes. A channel name is never a label value.
//
// The configured apps follow a reload (SetApps): an added app gets its own app_id at once,
// a removed app's series are deleted, which Prometheus reads as the series ending.
//
// Handles are resolved once (an app's when Metrics is made or SetApps adds it, a channel
// shape's when the channel gets its first local subscriber), so counting on the fan-out is a
// few atomic adds per publish and never allocates. A nil *Metrics, *App or *Channels counts nothing: the
// code that counts needs no check for metrics being off.
package metrics
