// Package api serves the Pusher Channels HTTP API (pusher-protocol.md §8) on chi, as the
// pusher-http SDKs and Laravel's reverb/pusher broadcaster call it:
//
//	POST /apps/{app_id}/events                              trigger one event (§8.3)
//	POST /apps/{app_id}/batch_events                        trigger up to 10 events (§8.4)
//	GET  /apps/{app_id}/channels                            occupied channels (§8.5)
//	GET  /apps/{app_id}/channels/{channel_name}             one channel (§8.6)
//	GET  /apps/{app_id}/channels/{channel_name}/users       presence members (§8.7)
//	POST /apps/{app_id}/users/{user_id}/terminate_connections  (§8.9)
//	GET  /apps/{app_id}/connections                         open connections (§8.8)
//	GET  /up                                                health, unsigned (§8.10)
//
// Every /apps route goes through one middleware (signature.go) that finds the app, reads the
// body under the size cap, and checks auth_key, auth_version, auth_timestamp, body_md5 and
// auth_signature (§8.2). The handlers then validate, apply the limits of §8.11 and answer
// 200 with JSON; every error is {"error":"<message>","code":<status>}.
//
// The package owns no state. An accepted event is handed to an [Enqueuer] (a jobs.Queue)
// and forgotten: the answer means "queued", not "delivered". Counts come from
// registry.Occupancy, cached events from registry.Cache, and terminate_connections goes to a
// [Terminator] (the ws layer). api never imports ws or jobs; cmd/reverbd wires them.
package api
