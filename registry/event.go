package registry

import "time"

// Event is one accepted trigger on its way from the HTTP API to the sockets. It is the
// payload of a delivery task and is never modified after it is queued.
type Event struct {
	AppID    string   `json:"app_id"`
	Channels []string `json:"channels"`
	Name     string   `json:"name"`
	// Data is relayed byte for byte as the string value of the frame's data.
	Data string `json:"data"`
	// SocketID, when set, is the connection that must not receive the event.
	SocketID string `json:"socket_id,omitempty"`
	// QueuedAt is when the API accepted the trigger; the delivery deadline counts from it.
	QueuedAt time.Time `json:"queued_at"`
}
