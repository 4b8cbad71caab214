// Package registry holds the nouns every other room shares: configured apps by id and key,
// channel names and their kinds, the Event that travels from the HTTP API to the sockets,
// and the shared state of the cluster — connection counts, subscriptions, presence members
// (Occupancy) and the last event of each cache channel (Cache).
//
// It is the one place that knows channel prefixes (Pusher's WebSocket protocol docs). The api, ws and
// jobs packages meet here and never import each other.
package registry
