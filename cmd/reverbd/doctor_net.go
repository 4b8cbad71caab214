package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// checkPublicAddress checks that REVERB_HOST, REVERB_PORT and REVERB_SCHEME describe an
// address browsers and the Laravel app can reach: the name resolves and the port accepts
// TCP. The doctor resolves from this host, which may see other DNS than browsers do.
func checkPublicAddress(ctx context.Context, d *diagnosis) outcome {
	cfg := d.cfg
	scheme := strings.ToLower(cfg.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return fail(fmt.Sprintf("REVERB_SCHEME=%q is neither http nor https", cfg.Scheme),
			"set REVERB_SCHEME=https behind a TLS proxy (REVERB_PORT=443), or http for a plain server")
	case cfg.Hostname == "":
		return fail("REVERB_HOST is not set: Laravel's broadcaster and Echo (VITE_REVERB_HOST) have no address to reach",
			"set REVERB_HOST to the public name browsers use, e.g. ws.example.com (REVERB_SERVER_HOST is what reverbd binds)")
	case cfg.Hostname == "0.0.0.0" || cfg.Hostname == "::" || cfg.Hostname == "[::]":
		return fail(fmt.Sprintf("REVERB_HOST=%s is a bind address, not one a browser can connect to", cfg.Hostname),
			"set REVERB_HOST to the public name browsers use and REVERB_SERVER_HOST=0.0.0.0 for the bind")
	case strings.Contains(cfg.Hostname, "://") || strings.ContainsAny(cfg.Hostname, "/:") && net.ParseIP(cfg.Hostname) == nil:
		return fail(fmt.Sprintf("REVERB_HOST=%q is not a bare host name", cfg.Hostname),
			"REVERB_HOST takes the name only (ws.example.com): the scheme goes in REVERB_SCHEME and the port in REVERB_PORT")
	}
	where := fmt.Sprintf("REVERB_HOST=%s REVERB_PORT=%d", cfg.Hostname, cfg.PublicPort)

	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, d.public.host)
	if err != nil {
		return fail(fmt.Sprintf("%s: the name does not resolve: %v", where, err),
			"create the DNS record for REVERB_HOST (or fix the name), pointing at the proxy or load balancer in front of reverbd")
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", d.public.addr())
	if err != nil {
		return fail(fmt.Sprintf("%s resolves to %s but does not accept TCP: %s", where, strings.Join(addrs, ", "), dialProblem(err)),
			publicPortFix(d))
	}
	remote := conn.RemoteAddr().String()
	conn.Close()
	return ok("%s resolves to %s; %s accepts TCP", where, strings.Join(addrs, ", "), remote)
}

// dialProblem says in plain words why a TCP dial failed.
func dialProblem(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens on that port)"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer within " + doctorTimeout.String() + " (a firewall dropping packets, or a wrong address)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host"
	}
	return err.Error()
}

// publicPortFix tells what REVERB_PORT usually has to be.
func publicPortFix(d *diagnosis) string {
	server := strconv.Itoa(d.cfg.ServerPort)
	if d.public.tls {
		return "REVERB_PORT is the port of the TLS proxy in front of reverbd (443 with deployment/nginx/reverbd.conf), not REVERB_SERVER_PORT (" +
			server + "); check that the proxy runs and that a firewall lets the port in"
	}
	return "with REVERB_SCHEME=http and no proxy, REVERB_PORT is REVERB_SERVER_PORT (" + server +
		"): check that reverbd runs (reverbd start) and that a firewall lets the port in"
}
