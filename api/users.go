package api

import (
	"net/http"

	"github.com/reverbd/reverbd/registry"
)

// user is one entry of GET /channels/{channel_name}/users. ID is always a JSON string:
// SDK-go declares it string and fails on numbers (Pusher's HTTP API reference).
type user struct {
	ID string `json:"id"`
}

type usersResponse struct {
	Users []user `json:"users"` // never nil: no members is {"users":[]}
}

// users serves GET /apps/{app_id}/channels/{channel_name}/users: the distinct members of a
// presence channel in join order; any other channel is a 400.
func (a *API) users(w http.ResponseWriter, r *http.Request) {
	v := verifiedFrom(r)
	name, e := a.channelParam(r)
	if e != nil {
		a.rejectError(w, r, e)
		return
	}
	if !registry.KindOf(name).IsPresence() {
		a.reject(w, r, http.StatusBadRequest, "users are only available for presence channels")
		return
	}
	p, err := a.occupancy.Members(r.Context(), v.app.ID, name)
	if err != nil {
		a.internalError(w, r, "occupancy", err)
		return
	}
	resp := usersResponse{Users: make([]user, 0, len(p.Members))}
	for _, m := range p.Members {
		resp.Users = append(resp.Users, user{ID: m.UserID})
	}
	writeJSON(w, http.StatusOK, resp)
}

// terminate serves POST /apps/{app_id}/users/{user_id}/terminate_connections: every
// connection of the user is closed through the Terminator; the body ({}) is ignored.
func (a *API) terminate(w http.ResponseWriter, r *http.Request) {
	v := verifiedFrom(r)
	userID, err := pathParam(r, "user_id")
	if err != nil || userID == "" {
		a.reject(w, r, http.StatusBadRequest, "invalid user_id")
		return
	}
	if a.terminator == nil {
		a.reject(w, r, http.StatusNotImplemented, "terminate_connections is not supported")
		return
	}
	if err := a.terminator.TerminateUser(r.Context(), v.app.ID, userID); err != nil {
		a.internalError(w, r, "terminate", err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
