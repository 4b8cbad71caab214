// Package live is the admin listener's live page: a page of the server's own (HTML, CSS and
// a small script, embedded) and the JSON it polls every second, GET /stats.json.
//
// The JSON is computed from the process's Prometheus metrics, gathered in process as a scrape
// would gather them: rates from the change of counters between two readings, percentiles from
// the change of histogram buckets over a trailing window, as Prometheus's rate and
// histogram_quantile do. Presence channel sizes come from the occupancy (every node's, in a
// cluster). Readings are taken when the JSON is asked for, at most one a second, so nothing
// runs while nobody watches.
package live
