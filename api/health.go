package api

import "net/http"

type healthResponse struct {
	Health string `json:"health"`
}

type connectionsResponse struct {
	Connections int `json:"connections"`
}

// up serves GET /up, unsigned (Reverb's HealthCheckController, Pusher's HTTP API reference):
// 200 {"health":"OK"} while ready, 503 {"health":"draining"} from the moment the server
// starts to stop, 503 {"health":"unavailable"} otherwise.
func (a *API) up(w http.ResponseWriter, _ *http.Request) {
	if a.draining != nil && a.draining() {
		writeJSON(w, http.StatusServiceUnavailable, healthResponse{Health: "draining"})
		return
	}
	if a.ready == nil || a.ready() {
		writeJSON(w, http.StatusOK, healthResponse{Health: "OK"})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, healthResponse{Health: "unavailable"})
}

// connections serves GET /apps/{app_id}/connections (a Reverb extension): the number of
// open connections of the app across all nodes.
func (a *API) connections(w http.ResponseWriter, r *http.Request) {
	v := verifiedFrom(r)
	n, err := a.occupancy.Connections(r.Context(), v.app.ID)
	if err != nil {
		a.internalError(w, r, "occupancy", err)
		return
	}
	writeJSON(w, http.StatusOK, connectionsResponse{Connections: n})
}
