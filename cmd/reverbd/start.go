package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/reverbd/reverbd/config"
)

// start is `reverbd start`: it loads the configuration, applies the flags over it and serves
// until stops.graceful ends (or a restart request comes), then drains; stops.now cuts the
// drain short. SIGHUP reloads what can change without a restart (reload.go).
func start(stops stopRequests, args []string, stderr io.Writer) error {
	ctx := stops.graceful
	// SIGHUP is taken from now on, so that an early one does not end the process, which is
	// what SIGHUP does by default.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	f, fs, err := parseFlags("start", args, stderr)
	if err != nil {
		return err
	}
	load := func() (*config.Config, error) { return loadStart(f, fs) }
	cfg, err := load()
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(cfg.SlogLevel())
	log := newLevelLogger(cfg, level, stderr)
	warnConfig(log, cfg)
	srv, err := newServer(cfg, log)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	srv.level = level
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
	stopReloads := srv.reloadOn(hup, load)
	defer stopReloads()
	return srv.serve(ctx, ln, adminLn)
}

// loadStart is the configuration of `reverbd start`: the env file and the environment, then
// the flags over them, validated. A reload reads it again the same way.
func loadStart(f commandFlags, fs *flag.FlagSet) (*config.Config, error) {
	cfg, err := config.Load(f.envFile, os.Environ())
	if err != nil {
		return nil, err
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
		return nil, err
	}
	return cfg, nil
}

// warnConfig logs each of cfg's warnings (settings it accepts but an operator should hear
// about) as one Warn line, at start and at each reload.
func warnConfig(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
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
