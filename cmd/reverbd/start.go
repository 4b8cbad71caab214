package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/reverbd/reverbd/config"
)

// startFlags are the flags of `reverbd start`, named as `php artisan reverb:start`'s.
type startFlags struct {
	envFile  string
	host     string
	port     int
	path     string
	hostname string
	debug    bool
}

func parseStartFlags(args []string, stderr io.Writer) (startFlags, *flag.FlagSet, error) {
	var f startFlags
	fs := flag.NewFlagSet("reverbd start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.envFile, "env-file", "", "Laravel-style .env file to read first (default .env in the working directory, if present)")
	fs.StringVar(&f.host, "host", "", "address to bind (REVERB_SERVER_HOST)")
	fs.IntVar(&f.port, "port", 0, "port to bind (REVERB_SERVER_PORT)")
	fs.StringVar(&f.path, "path", "", "route prefix for every route (REVERB_SERVER_PATH)")
	fs.StringVar(&f.hostname, "hostname", "", "public host name (REVERB_HOST)")
	fs.BoolVar(&f.debug, "debug", false, "log every connection and message at debug level")
	err := fs.Parse(args)
	return f, fs, err
}

// start loads the configuration, applies the flags over it and serves until ctx ends.
func start(ctx context.Context, args []string, stderr io.Writer) error {
	f, fs, err := parseStartFlags(args, stderr)
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
	srv, err := newServer(cfg, newLogger(cfg, stderr))
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var adminLn net.Listener
	if cfg.AdminPort != 0 {
		if adminLn, err = net.Listen("tcp", cfg.AdminAddr()); err != nil {
			ln.Close()
			return fmt.Errorf("listen (admin): %w", err)
		}
	}
	return srv.serve(ctx, ln, adminLn)
}

// newLogger is the process logger: text on w, debug level with REVERB_DEBUG or --debug.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
