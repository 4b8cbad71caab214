package main

import (
	"crypto/tls"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/reverbd/reverbd/config"
)

// reloadOn reloads the configuration each time a signal arrives on sig (SIGHUP), with load
// reading it as the process started with it, until the returned stop is called; stop waits
// for a reload in progress.
func (s *server) reloadOn(sig <-chan os.Signal, load func() (*config.Config, error)) (stop func()) {
	return onSignal(sig, func() {
		next, err := load()
		s.reload(next, err)
	})
}

// onSignal calls f, on a goroutine of its own, for each signal that arrives on sig, until the
// returned stop is called; stop waits for a call in progress.
func onSignal(sig <-chan os.Signal, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-sig:
				f()
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// reload applies next, the configuration read again (or the error reading it), to the
// running server, without dropping a connection:
//
//   - the apps (REVERB_APP_*, REVERB_CHANNELS_* and REVERB_APPS_FILE, with the channel
//     catalogues they name, read again): an added app is served at once; a
//     removed app's connections are closed with 4001; a changed key, secret or limit applies
//     to what comes next (new connections, the next message, subscribe or API request); the
//     metrics label an added app with its app_id and stop exporting a removed app's series;
//   - the TLS certificate and key (read again even when their paths are the same): new
//     handshakes get the new certificate, open connections keep theirs;
//   - the log level (REVERB_DEBUG, unless --debug was given).
//
// Everything is checked before anything is applied: a reload that fails keeps the running
// configuration whole and logs one error line. Other settings changed since the start are
// named in the log line (restart_needed) and wait for a restart.
func (s *server) reload(next *config.Config, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	log := s.log.With("reload", s.reloads.Add(1)) // each reload's lines are its own, never merged as repeats
	var cert *tls.Certificate
	if err == nil && s.cert != nil && next.TLS() {
		cert, err = next.Certificate()
	}
	if err != nil {
		log.Error("reload failed: the running configuration is kept", "err", err)
		return
	}
	// The metrics first: an added app's first connection counts under its own app_id.
	s.metrics.SetApps(appIDs(next))
	change := s.apps.Replace(next.Apps)
	closed := s.ws.AppsReplaced()
	if cert != nil {
		s.cert.store(cert, log)
	}
	if s.level != nil {
		s.level.Set(next.SlogLevel())
	}
	attrs := []any{"apps", len(next.Apps), "log_level", next.SlogLevel().String()}
	for _, a := range []struct {
		key string
		ids []string
	}{{"added", change.Added}, {"removed", change.Removed}, {"changed", change.Changed}} {
		if len(a.ids) > 0 {
			attrs = append(attrs, a.key, strings.Join(a.ids, ","))
		}
	}
	if closed > 0 {
		attrs = append(attrs, "closed_connections", closed)
	}
	if names := restartNeeded(s.cfg, next); len(names) > 0 {
		attrs = append(attrs, "restart_needed", strings.Join(names, ","))
	}
	log.Info("configuration reloaded", attrs...)
	warnConfig(log, next)
}

// restartNeeded names the variables whose value in next differs from running's and that a
// reload does not apply. Turning TLS on or off is one of them: the listener serves one or
// the other from its start.
func restartNeeded(running, next *config.Config) []string {
	var names []string
	a, b := reflect.ValueOf(running).Elem(), reflect.ValueOf(next).Elem()
	t := a.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("envconfig")
		if key == "" || reloaded(key) || reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			continue
		}
		names = append(names, key)
	}
	if running.TLS() != next.TLS() {
		names = append(names, "REVERB_SERVER_TLS_CERT", "REVERB_SERVER_TLS_KEY")
	}
	return names
}

// reloaded reports whether a reload applies the variable key.
func reloaded(key string) bool {
	return strings.HasPrefix(key, "REVERB_APP_") || strings.HasPrefix(key, "REVERB_SERVER_TLS_") ||
		strings.HasPrefix(key, "REVERB_CHANNELS_") || key == "REVERB_APPS_FILE" || key == "REVERB_DEBUG"
}
