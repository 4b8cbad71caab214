// Package jobs carries an accepted trigger to its delivery. The HTTP API hands each event to
// a Queue, which answers at once; workers owned by the queue run it through a Worker under
// one set of Rules for every backend: one try, a timeout per delivery, and a deadline counted
// from the moment the event was queued. An event past its deadline is discarded and counted,
// never delivered late and never retried.
//
// Backends: MemoryQueue (in process, REVERB_QUEUE_CONNECTION=memory, the default) and, on
// Redis, the asynq queue. Delivery goes to a Deliverer (ws.Hub on one node).
package jobs
