// Command reverbd is a Pusher Channels protocol server for Laravel apps, a drop-in
// replacement for Laravel Reverb.
//
//	reverbd start [--env-file PATH] [--host HOST] [--port PORT] [--path PREFIX] [--hostname NAME] [--debug]
//	reverbd worker [--env-file PATH] [--debug]
//	reverbd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "start":
		return serveCommand(start, args[1:], stderr)
	case "worker":
		return serveCommand(work, args[1:], stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "reverbd", version)
		return 0
	case "help", "--help", "-h":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "reverbd: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
}

// serveCommand runs a long-lived command until SIGINT or SIGTERM and turns its error into
// an exit code.
func serveCommand(cmd func(context.Context, []string, io.Writer) error, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "reverbd:", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  reverbd start [--env-file PATH] [--host HOST] [--port PORT] [--path PREFIX] [--hostname NAME] [--debug]
  reverbd worker [--env-file PATH] [--debug]   (scaling: delivery workers only, no sockets)
  reverbd version

Configuration comes from the REVERB_* variables of the Laravel app's .env (see .env.example);
flags win over the environment, and the environment wins over the env file.
`)
}
