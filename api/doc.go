// Package api serves the Pusher Channels HTTP API on chi, as the
// pusher-http SDKs and Laravel's reverb/pusher broadcaster call it (Pusher's HTTP API reference,
// https://pusher.com/docs/channels/library_auth_reference/rest-api/):
//
//	POST /apps/{app_id}/events                              trigger one event
//	POST /apps/{app_id}/batch_events                        trigger several events (10 by default)
//	GET  /apps/{app_id}/channels                            occupied channels
//	GET  /apps/{app_id}/channels/{channel_name}             one channel
//	GET  /apps/{app_id}/channels/{channel_name}/users       presence members
//	POST /apps/{app_id}/users/{user_id}/terminate_connections
//	GET  /apps/{app_id}/connections                         open connections
//	GET  /up                                                health, unsigned
//
// Every /apps route goes through one middleware (signature.go) that finds the app, reads the
// body under the size cap, and checks auth_key, auth_version, auth_timestamp, body_md5 and
// auth_signature. The handlers then validate, apply the limits of [Params] (Pusher's documented
// ones by default) and answer 200 with JSON; every error is {"error":"<message>","code":<status>},
// also for unknown paths once [API.NotFound] and [API.MethodNotAllowed] are on the root router.
//
// The package owns no state. An accepted event is handed to an [Enqueuer] (a jobs.Queue)
// and forgotten: the answer means "queued", not "delivered". Counts come from
// registry.Occupancy, cached events from registry.Cache, and terminate_connections goes to a
// [Terminator] (the ws layer). api never imports ws or jobs; cmd/reverbd wires them.
package api
