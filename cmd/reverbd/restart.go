package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// restartTimeout bounds `reverbd restart`'s own Redis calls.
const restartTimeout = 5 * time.Second

// restart is `reverbd restart`, as `php artisan reverb:restart`: it asks the running
// processes of the deployment the configuration describes to drain and exit, for their
// process manager to start them again. With scaling on, the request goes through Redis and
// every `reverbd start` and `reverbd worker` process of the deployment takes its turn (see
// restartTurns); otherwise the one local server is asked through its control socket. It
// returns once the request is taken, without waiting for the processes to exit.
func restart(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, _, err := parseFlags("restart", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(f.envFile, os.Environ())
	if err != nil {
		return err
	}
	if cfg.ScalingEnabled {
		return restartCluster(ctx, cfg, stdout)
	}
	if cfg.ControlSocket == "" && cfg.ServerPort == 0 {
		return errors.New("restart: REVERB_SERVER_PORT=0 names no control socket: set REVERB_CONTROL_SOCKET for the server and for reverbd restart")
	}
	name := cfg.ControlSocketAt(cfg.ServerPort)
	pid, err := askRestart(name)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	fmt.Fprintf(stdout, "reverbd (pid %d, control socket %s) is draining and will exit; its process manager starts it again\n", pid, name)
	return nil
}

// restartCluster asks every process of the deployment, through Redis, to drain and exit in
// turn.
func restartCluster(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	rdb, err := newRedis(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, restartTimeout)
	defer cancel()
	prefix := cfg.ScalingKeyPrefix()
	nodes, err := registry.LiveNodes(ctx, rdb, prefix)
	if err != nil {
		setting, _ := redisSetting(cfg)
		return fmt.Errorf("restart: %w (%s)", err, setting)
	}
	if nodes == 0 {
		return fmt.Errorf("restart: no reverbd node of REVERB_SCALING_PREFIX=%s is running on this Redis", cfg.ScalingPrefix)
	}
	gen, err := requestRestart(ctx, rdb, prefix, nodes)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	fmt.Fprintf(stdout, "restart %d of REVERB_SCALING_PREFIX=%s asked: its %d running nodes (and its reverbd worker processes) drain and exit one after another; their process managers start them again\n",
		gen, cfg.ScalingPrefix, nodes)
	return nil
}
