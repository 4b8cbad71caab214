// Package ws owns the sockets: the WebSocket upgrade (gobwas/ws), each connection, the Pusher
// protocol v7 spoken on it, and this node's Hub, which fans events out to local subscribers.
// It does not know the HTTP API or the queue; events reach it through [Hub.Deliver], the
// jobs.Deliverer of this node, and the shared state it writes lives in registry.
//
// A connection's life (Pusher's WebSocket protocol docs,
// https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol/):
//
//  1. GET /app/{key} is upgraded. The key, the protocol version, the Origin (allowed_origins)
//     and the app's max_connections are checked right after the upgrade; a refusal is a
//     pusher:error (4001, 4007, 4009 or 4004) followed by a close frame with the same code.
//  2. pusher:connection_established carries the socket id ("123.456") and activity_timeout.
//     The HTTP handler then returns: an idle connection has no goroutine. Its socket is
//     registered with an epoll instance (internal/netpoll, one-shot, level-triggered), and a
//     readiness event hands it to one reader goroutine (an idle one kept from earlier
//     wake-ups, or a new one), which reads the messages that arrived, at most 16, then
//     re-arms the socket.
//  3. pusher:subscribe checks the name and, for private, presence and encrypted channels, the
//     HMAC of "socket_id:channel[:channel_data]". Success is subscription_succeeded (with the
//     member list on presence channels, after member_added went to the others) and, on cache
//     channels, the last event or pusher:cache_miss. A refusal is a channel-scoped
//     pusher:subscription_error, and the connection stays open.
//  4. client-* events are relayed to the other subscribers of a private or presence channel,
//     with user_id on presence channels; pusher:signin makes the connection a user, which
//     receives #server-to-user-{id} events.
//  5. Every received frame counts as activity. After ping_interval of silence the server
//     pings (pusher:ping, or a control ping for clients that use control frames); without
//     an answer within the pong window it sends 4201 and closes.
//  6. Malformed input gets pusher:error 4200 and the connection stays; an oversized message
//     closes it with 1009. Shutdown closes every connection with 4200 (reconnect at once).
//
// Writing: every frame goes through [Conn.Send], which only queues it. A pool of writer
// goroutines (one per core) writes each connection's whole queue with one non-blocking
// writev, so frames queued meanwhile leave together; a socket whose buffer is full gets a
// goroutine that waits for it, and a connection whose queue passes the limit is dropped as a
// slow consumer (4100). Channels of a few subscribers are written inline by the delivering
// goroutine. An event is encoded once; the same bytes go to every subscriber.
//
// Redis (the shared occupancy, the cache, the publisher to the other nodes) is never waited
// for on the fan-out path or under a connection's lock or a Hub shard's. Frames for the
// other nodes are queued just before the local delivery and published in the background, each
// channel's in order (see publishRemote). A release closes the socket and leaves the Hub at
// once, on the goroutine that found the connection gone; its unsubscribes and
// member_removed run on the server's releasers (see Conn.release). A subscribe reserves,
// calls the occupancy, then commits or rolls back; presence member events are told by the
// occupancy in the order it decided them, and applied here through a per-channel view
// without a lock held across Redis (see hub_members.go).
//
// Memory: what a connection keeps is small and has no buffer of its own; a queue array that a
// burst of frames grew is dropped once written. After a burst of connections the liveness
// sweep returns the heap's free pages to the kernel (see burstRelease).
//
// Lock order: a MemoryOccupancy's lock (it tells member events while deciding them), then
// Conn.mu, then a Hub shard, then a connection's write lock (Conn.wmu), then its socket lock
// (Conn.fdmu), then the poller's (its read lock, then the socket's shard). Only the poller's
// are locked while fdmu is held, and no goroutine waits on a socket, or calls the
// occupancy, while holding any of the ws locks.
package ws
