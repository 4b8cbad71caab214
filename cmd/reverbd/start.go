package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/reverbd/reverbd/config"
)

// start is `reverbd start`: it loads the configuration, applies the flags over it and serves
// until stops.graceful ends (or a restart request comes), then drains; stops.now cuts the
// drain short.
func start(stops stopRequests, args []string, stderr io.Writer) error {
	ctx := stops.graceful
	f, fs, err := parseFlags("start", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(f.envFile, os.Environ())
	if err != nil {
		return err
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "host":
			cfg.ServerHost = f.host
		case "port":
			cfg.ServerPort = f.port
		case "path":
			cfg.ServerPath = f.path
		case "hostname":
			cfg.Hostname = f.hostname
		case "debug":
			cfg.Debug = f.debug
		}
	})
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	srv, err := newServer(cfg, log)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	ln, err := listen(cfg.Addr(), "REVERB_SERVER_PORT or --port")
	if err != nil {
		return err
	}
	var adminLn net.Listener
	if cfg.AdminPort != 0 {
		if adminLn, err = listen(cfg.AdminAddr(), "REVERB_ADMIN_PORT"); err != nil {
			ln.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	checkRedis(ctx, cfg, log)
	srv.hardStop = stops.now
	return srv.serve(ctx, ln, adminLn)
}

// listen binds addr; when the port is taken, the error says what usually holds it and which
// setting moves reverbd elsewhere. Accepted connections get no TCP keep-alive: WebSockets
// have the protocol's ping, HTTP connections the server's idle timeout, and each accept
// would otherwise cost four more system calls and every idle socket a probe each 15 s.
func listen(addr, setting string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: address already in use: another reverbd, or Reverb's `php artisan reverb:start`, may be running on this port; stop it or choose another port (%s)", addr, setting)
	}
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}
