package ws

import "sync/atomic"

// AppsReplaced brings the open connections in step with the apps after a reload (see
// registry.Apps.Replace): a connection whose app is gone is closed with 4001, as a new
// connection with its key would be refused; the others take their app's new settings (its
// secret, its limits) for what they do next. It returns how many connections it closed.
func (s *Server) AppsReplaced() int {
	var closed atomic.Int64
	s.conns.each(func(c *Conn) {
		if !c.refreshApp() {
			closed.Add(1)
		}
	})
	return int(closed.Load())
}

// refreshApp gives c its app's current settings, or closes c with 4001 when the app is no
// longer configured; it reports whether c stays. A connection registered while the apps were
// replaced calls it too, so that neither it nor AppsReplaced misses the change.
func (c *Conn) refreshApp() bool {
	for {
		old := c.App()
		app, err := c.srv.apps.ByID(old.ID)
		if err != nil {
			c.close(errUnknownApp)
			return false
		}
		// Two refreshes may race (a registration and a reload): the one that read the older
		// set must not win, so a lost swap reads again.
		if app == old || c.app.CompareAndSwap(old, app) {
			return true
		}
	}
}
