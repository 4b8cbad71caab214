// Command reverbd is a Pusher Channels protocol server for Laravel apps, a drop-in
// replacement for Laravel Reverb.
//
//	reverbd start [--env-file PATH] [--host HOST] [--port PORT] [--path PREFIX] [--hostname NAME] [--debug]
//	reverbd worker [--env-file PATH] [--debug]
//	reverbd doctor [--env-file PATH] [--json] [--idle DURATION] [--origin URL]
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

// run is the command line; a long-lived command serves until SIGINT or SIGTERM. It returns
// the exit code: 0, 1 when the command failed, 2 for a usage mistake.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

// runContext is run with the long-lived commands stopped by ctx instead of a signal.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "start":
		return exitCode(start(ctx, args[1:], stderr), stderr)
	case "worker":
		return exitCode(work(ctx, args[1:], stderr), stderr)
	case "doctor":
		return doctor(ctx, args[1:], stdout, stderr)
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

// errUsage is a usage mistake whose explanation was already written to stderr.
var errUsage = errors.New("usage")

// exitCode turns a command's error into an exit code, writing the error on one line.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "reverbd:", err)
		return 1
	}
}

// Synopses of the commands, for the usage texts.
const (
	startSynopsis  = "[--env-file PATH] [--host HOST] [--port PORT] [--path PREFIX] [--hostname NAME] [--debug]"
	workerSynopsis = "[--env-file PATH] [--debug]"
)

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  reverbd start `+startSynopsis+`
  reverbd worker `+workerSynopsis+`   (scaling: delivery workers only, no sockets)
  reverbd doctor `+doctorSynopsis+`   (check .env, proxy, TLS and delivery)
  reverbd version

Configuration comes from the REVERB_* variables of the Laravel app's .env (see .env.example);
flags win over the environment, and the environment wins over the env file.
`)
}
