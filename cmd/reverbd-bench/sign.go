package main

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"

	"github.com/reverbd/reverbd/registry"
)

// channelAuth returns the "auth" value of a pusher:subscribe for a private or presence
// channel, as the app's auth endpoint would (Pusher's authentication signature docs):
// "{key}:{hmac(secret, socket_id:channel)}", with ":channel_data" appended to the signed
// string when channelData is not empty (presence channels).
func channelAuth(key, secret, socketID, channel, channelData string) string {
	msg := socketID + ":" + channel
	if channelData != "" {
		msg += ":" + channelData
	}
	return key + ":" + registry.Sign(secret, msg)
}

// signQuery returns the query string that authenticates an HTTP API request
// (Pusher's HTTP API reference): auth_key, auth_timestamp, auth_version=1.0 and, when body is
// not empty, body_md5 — already in key order, unescaped — followed by auth_signature, the
// HMAC of "METHOD\nPATH\nquery". path is the route without any server path prefix, e.g.
// /apps/3/events. key must not need URL escaping (Pusher keys are alphanumeric).
func signQuery(key, secret, method, path string, body []byte, ts int64) string {
	q := "auth_key=" + key + "&auth_timestamp=" + strconv.FormatInt(ts, 10) + "&auth_version=1.0"
	if len(body) > 0 {
		sum := md5.Sum(body)
		q += "&body_md5=" + hex.EncodeToString(sum[:])
	}
	return q + "&auth_signature=" + registry.Sign(secret, method+"\n"+path+"\n"+q)
}
