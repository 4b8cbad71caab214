package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// eventFields is one trigger as the SDKs send it: the body of POST /events or one
// item of POST /batch_events.
type eventFields struct {
	Name *string `json:"name"`
	// Data is kept raw to tell a missing, non-string and empty data apart.
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"` // nil when absent or null
	Channel  *string         `json:"channel"`
	SocketID *string         `json:"socket_id"`
	Info     *string         `json:"info"`
}

// trigger is a validated eventFields.
type trigger struct {
	event registry.Event
	info  info
}

// triggerResponse is the answer of POST /events with info: one entry per requested channel.
type triggerResponse struct {
	Channels map[string]channelCounts `json:"channels"`
}

// batchResponse is the answer of POST /batch_events when some item asked for info.
type batchResponse struct {
	Batch []channelCounts `json:"batch"`
}

// events serves POST /apps/{app_id}/events.
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	v := verifiedFrom(r)
	var f eventFields
	if e := decodeBody(v.body, &f); e != nil {
		a.rejectError(w, r, e)
		return
	}
	// channels wins over channel (Reverb); SDK-php sends channel for a single channel.
	channels := f.Channels
	if channels == nil && f.Channel != nil {
		channels = []string{*f.Channel}
	}
	t, e := a.newTrigger(v.app.ID, &f, channels)
	if e == nil {
		e = a.checkCatalogue(v.app, channels)
	}
	if e != nil {
		a.countLimit(v.app.ID, e)
		a.rejectError(w, r, e)
		return
	}
	a.sawOutside(v.app, channels)
	// Counts are read before queueing, so a backend failure leaves nothing queued.
	var resp any = struct{}{}
	if t.info.requested {
		counts := make(map[string]channelCounts, len(channels))
		for _, ch := range channels {
			c, err := a.counts(r.Context(), v.app.ID, ch, t.info)
			if err != nil {
				a.internalError(w, r, "occupancy", err)
				return
			}
			counts[ch] = c
		}
		resp = triggerResponse{Channels: counts}
	}
	if err := a.queue.Enqueue(r.Context(), t.event); err != nil {
		a.rejectEnqueue(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// batchEvents serves POST /apps/{app_id}/batch_events. Every item is validated before any
// is queued: one bad item rejects the whole batch.
func (a *API) batchEvents(w http.ResponseWriter, r *http.Request) {
	v := verifiedFrom(r)
	var body struct {
		Batch []eventFields `json:"batch"`
	}
	if e := decodeBody(v.body, &body); e != nil {
		a.rejectError(w, r, e)
		return
	}
	if len(body.Batch) == 0 {
		a.reject(w, r, http.StatusBadRequest, a.batchSizeMessage())
		return
	}
	if n := a.limits.batch; n > 0 && len(body.Batch) > n {
		a.reject(w, r, http.StatusBadRequest, a.batchSizeMessage())
		return
	}
	triggers := make([]trigger, len(body.Batch))
	anyInfo := false
	for i := range body.Batch {
		f := &body.Batch[i]
		if f.Channel == nil {
			a.reject(w, r, http.StatusBadRequest, fmt.Sprintf("batch[%d]: channel is required", i))
			return
		}
		t, e := a.newTrigger(v.app.ID, f, []string{*f.Channel})
		if e == nil {
			e = a.checkCatalogue(v.app, t.event.Channels)
		}
		if e != nil {
			a.countLimit(v.app.ID, e)
			a.reject(w, r, e.status, fmt.Sprintf("batch[%d]: %s", i, e.msg))
			return
		}
		triggers[i] = t
		anyInfo = anyInfo || t.info.requested
	}
	for _, t := range triggers {
		a.sawOutside(v.app, t.event.Channels)
	}
	var resp any = struct{}{}
	if anyInfo {
		items := make([]channelCounts, len(triggers))
		for i, t := range triggers {
			if !t.info.requested {
				continue
			}
			c, err := a.counts(r.Context(), v.app.ID, t.event.Channels[0], t.info)
			if err != nil {
				a.internalError(w, r, "occupancy", err)
				return
			}
			items[i] = c
		}
		resp = batchResponse{Batch: items}
	}
	for _, t := range triggers {
		if err := a.queue.Enqueue(r.Context(), t.event); err != nil {
			a.rejectEnqueue(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// newTrigger validates f for channels and builds the event, within the API's limits
// (Pusher's documented ones by default).
func (a *API) newTrigger(appID string, f *eventFields, channels []string) (trigger, *requestError) {
	if f.Name == nil || *f.Name == "" {
		return trigger{}, badRequest("name is required")
	}
	// Any characters: Laravel sends App\Events\OrderShipped.
	if n := a.limits.eventName; n > 0 && utf8.RuneCountInString(*f.Name) > n {
		return trigger{}, badRequest(fmt.Sprintf("name is longer than %d characters", n))
	}
	data, e := a.eventData(f.Data)
	if e != nil {
		return trigger{}, e
	}
	if len(channels) == 0 {
		return trigger{}, badRequest("channels is required")
	}
	if n := a.limits.channels; n > 0 && len(channels) > n {
		return trigger{}, badRequest(fmt.Sprintf("more than %d channels", n))
	}
	for _, ch := range channels {
		if registry.ValidateChannel(ch, a.limits.channelName) != nil { // #server-to-user-{id} is valid
			return trigger{}, badRequest(fmt.Sprintf("invalid channel name %q", ch))
		}
	}
	socketID := ""
	if f.SocketID != nil {
		socketID = *f.SocketID
		if !validSocketID(socketID) {
			return trigger{}, badRequest("invalid socket_id")
		}
	}
	var inf info
	if f.Info != nil {
		inf = parseInfo(*f.Info)
	}
	return trigger{
		event: registry.Event{
			AppID:    appID,
			Channels: channels,
			Name:     *f.Name,
			Data:     data,
			SocketID: socketID,
			QueuedAt: a.now(),
		},
		info: inf,
	}, nil
}

// batchSizeMessage is the error of a batch that is empty or holds too many events.
func (a *API) batchSizeMessage() string {
	if a.limits.batch == 0 {
		return "batch must hold 1 event or more"
	}
	return fmt.Sprintf("batch must hold 1 to %d events", a.limits.batch)
}

// eventData returns the data field, which must be a non-empty JSON string (400) within the
// data size limit (413).
func (a *API) eventData(raw json.RawMessage) (string, *requestError) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", badRequest("data is required")
	}
	if raw[0] != '"' {
		return "", badRequest("data must be a string")
	}
	var data string
	if err := json.Unmarshal(raw, &data); err != nil {
		return "", badRequest("data must be a string")
	}
	if data == "" {
		return "", badRequest("data must not be empty")
	}
	if n := a.limits.eventData; n > 0 && len(data) > n {
		return "", &requestError{
			status: http.StatusRequestEntityTooLarge,
			msg:    fmt.Sprintf("data is larger than %d bytes", n),
		}
	}
	return data, nil
}

// validSocketID reports whether s matches ^\d+\.\d+$.
func validSocketID(s string) bool {
	dot := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && dot < 0:
			dot = i
		case c < '0' || c > '9':
			return false
		}
	}
	return dot > 0 && dot < len(s)-1
}

// counts reads the occupancy of one channel and keeps the requested attributes.
func (a *API) counts(ctx context.Context, appID, channel string, inf info) (channelCounts, error) {
	ci, err := a.occupancy.Channel(ctx, appID, channel)
	if err != nil {
		return channelCounts{}, err
	}
	return countsFor(channel, ci, inf), nil
}

// countLimit counts a trigger refused for its data's size, or by a strict channel catalogue,
// in limits_hit_total.
func (a *API) countLimit(appID string, e *requestError) {
	switch {
	case e.status == http.StatusRequestEntityTooLarge:
		a.metrics.App(appID).LimitHit(metrics.LimitEventDataSize)
	case e.catalogue:
		a.metrics.App(appID).LimitHit(metrics.LimitChannelCatalogue)
	}
}

// rejectEnqueue answers an event that was not queued: 503, never 200 (jobs.ErrQueueFull,
// jobs.ErrQueueClosed or a backend error alike).
func (a *API) rejectEnqueue(w http.ResponseWriter, r *http.Request, err error) {
	a.reject(w, r, http.StatusServiceUnavailable, "event queue unavailable", "err", err)
}

// decodeBody parses a JSON request body into v; malformed JSON is a 400, never a 500.
func decodeBody(body []byte, v any) *requestError {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return badRequest(fmt.Sprintf("%s has the wrong type", typeErr.Field))
	}
	return badRequest("malformed JSON body")
}
