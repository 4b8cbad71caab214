package api

import (
	"fmt"
	"net/http"

	"github.com/reverbd/reverbd/registry"
)

// channelsResponse is the answer of GET /channels; Channels is never nil, so an empty list
// is {"channels":{}} (Reverb's [] breaks SDK-go and SDK-php, Pusher's HTTP API reference).
type channelsResponse struct {
	Channels map[string]channelCounts `json:"channels"`
}

// channelResponse is the answer of GET /channels/{channel_name}.
type channelResponse struct {
	Occupied          bool                  `json:"occupied"`
	UserCount         *int                  `json:"user_count,omitempty"`
	SubscriptionCount *int                  `json:"subscription_count,omitempty"`
	Cache             *registry.CachedEvent `json:"cache,omitempty"`
}

// channels serves GET /apps/{app_id}/channels: the occupied channels whose names start with
// filter_by_prefix. info is lenient like Reverb's: user_count applies to presence channels,
// subscription_count to every channel, and neither is an error elsewhere.
func (a *API) channels(w http.ResponseWriter, r *http.Request) {
	v := verifiedFrom(r)
	inf := parseInfo(v.query["info"])
	list, err := a.occupancy.Channels(r.Context(), v.app.ID, v.query["filter_by_prefix"])
	if err != nil {
		a.internalError(w, r, "occupancy", err)
		return
	}
	out := make(map[string]channelCounts, len(list))
	for name, ci := range list {
		if ci.SubscriptionCount > 0 {
			out[name] = countsFor(name, ci, inf)
		}
	}
	writeJSON(w, http.StatusOK, channelsResponse{Channels: out})
}

// channel serves GET /apps/{app_id}/channels/{channel_name}. occupied is always there;
// user_count (presence channels only) and subscription_count when requested, 0 when
// unoccupied; cache, on a cache channel, the last event when there is one.
func (a *API) channel(w http.ResponseWriter, r *http.Request) {
	v := verifiedFrom(r)
	name, e := a.channelParam(r)
	if e != nil {
		a.rejectError(w, r, e)
		return
	}
	inf := parseInfo(v.query["info"])
	ci, err := a.occupancy.Channel(r.Context(), v.app.ID, name)
	if err != nil {
		a.internalError(w, r, "occupancy", err)
		return
	}
	c := countsFor(name, ci, inf)
	resp := channelResponse{
		Occupied:          ci.SubscriptionCount > 0,
		UserCount:         c.UserCount,
		SubscriptionCount: c.SubscriptionCount,
	}
	if inf.cache && a.cache != nil && registry.KindOf(name).IsCache() {
		ev, ok, err := a.cache.Get(r.Context(), v.app.ID, name)
		if err != nil {
			a.internalError(w, r, "cache", err)
			return
		}
		if ok {
			resp.Cache = &ev
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// channelParam returns the decoded {channel_name} of the path, checked against the naming
// rules and the length limit (400).
func (a *API) channelParam(r *http.Request) (string, *requestError) {
	name, err := pathParam(r, "channel_name")
	if err != nil {
		return "", badRequest("invalid channel name")
	}
	if registry.ValidateChannel(name, a.limits.channelName) != nil {
		return "", badRequest(fmt.Sprintf("invalid channel name %q", name))
	}
	return name, nil
}
