package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/reverbd/reverbd/config"
)

// endpoint is an address the doctor reaches reverbd at: the public one the browser and the
// Laravel app use, or the server's own listener.
type endpoint struct {
	host   string // a name or an IP address, as configured
	port   int
	tls    bool   // wss:// and https://
	name   string // the name the certificate must hold, when not host
	prefix string // REVERB_SERVER_PATH, "" or "/prefix"
}

// addr is host:port.
func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// wsURL is the URL pusher-js opens for app key at e.
func (e endpoint) wsURL(key string) string {
	scheme := "ws"
	if e.tls {
		scheme = "wss"
	}
	q := url.Values{"protocol": {"7"}, "client": {"reverbd-doctor"}, "version": {version}, "flash": {"false"}}
	return scheme + "://" + e.addr() + e.prefix + "/app/" + url.PathEscape(key) + "?" + q.Encode()
}

// checkConfig loads the configuration as `reverbd start` does and picks the app the doctor
// checks: the REVERB_APP_* one, else the apps file's first.
func checkConfig(_ context.Context, d *diagnosis) outcome {
	cfg, err := config.Load(d.opts.envFile, d.environ)
	if err != nil {
		return fail(err.Error(), "correct the variable named above in the Laravel app's .env (or the environment, which wins over it); .env.example lists every setting")
	}
	d.cfg = cfg
	d.app = cfg.Apps[0]
	prefix := routePrefix(cfg.ServerPath)
	d.public = endpoint{host: cfg.Hostname, port: cfg.PublicPort, tls: strings.EqualFold(cfg.Scheme, "https"), prefix: prefix}
	// With built-in TLS the server's own port speaks TLS too, with the public name's
	// certificate.
	d.direct = endpoint{host: directHost(cfg.ServerHost), port: cfg.ServerPort, tls: cfg.TLS(), name: cfg.Hostname, prefix: prefix}
	apps := ""
	if len(cfg.Apps) > 1 {
		apps = fmt.Sprintf(" (first of %d apps)", len(cfg.Apps))
	}
	return ok("app id %s, key %s%s; server binds %s%s; queue %s", d.app.ID, d.app.Key, apps,
		cfg.Addr(), prefix, cfg.QueueConnection)
}

// directHost is where this host reaches a server bound to host: loopback for a wildcard or
// loopback bind, the address itself otherwise.
func directHost(host string) string {
	switch host {
	case "", "0.0.0.0", "::", "[::]", "localhost":
		return "127.0.0.1"
	}
	return strings.Trim(host, "[]")
}
