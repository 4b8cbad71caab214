package config

import "fmt"

// Warnings returns what c accepts but an operator should hear about at start, one line each
// and without secrets:
//
//   - an app whose accept_client_events_from is not members, all or none: like Reverb, it
//     refuses every client event with 4301, as none does;
//   - an event data limit that REVERB_MAX_REQUEST_SIZE leaves no room for, so such triggers
//     get 413 from the request size first.
//
// Call it on a Config that passed Validate.
func (c *Config) Warnings() []string {
	var lines []string
	for i := range c.Apps {
		a := &c.Apps[i]
		switch a.AcceptClientEventsFrom {
		case ClientEventsMembers, ClientEventsAll, ClientEventsNone:
			continue
		}
		name := c.appFieldName(i)("accept_client_events_from")
		lines = append(lines, fmt.Sprintf("%s is %q, not members, all or none: app %q refuses every client event with 4301, as with none",
			name, a.AcceptClientEventsFrom, a.ID))
	}
	if c.MaxRequestSize > 0 && c.MaxEventDataSize > 0 && int64(c.MaxEventDataSize) >= c.MaxRequestSize {
		lines = append(lines, fmt.Sprintf("REVERB_MAX_EVENT_DATA_SIZE (%d bytes) does not fit REVERB_MAX_REQUEST_SIZE (%d bytes, the whole request with its headers): a trigger with that much data gets 413 from the request size first",
			c.MaxEventDataSize, c.MaxRequestSize))
	}
	return lines
}
