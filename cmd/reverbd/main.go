// Command reverbd is a Pusher Channels protocol server for Laravel apps, a drop-in
// replacement for Laravel Reverb.
//
//	reverbd start [--env-file PATH] [--host HOST] [--port PORT] [--path PREFIX] [--hostname NAME] [--debug]
//	reverbd worker [--env-file PATH] [--debug]
//	reverbd restart [--env-file PATH]
//	reverbd doctor [--env-file PATH] [--json] [--idle DURATION] [--origin URL]
//	reverbd channels [--env-file PATH]
//	reverbd channels check [--env-file PATH] [FILE]
//	reverbd channels generate php|ts [--namespace NS] [--class NAME] [--out FILE] [--env-file PATH] [FILE]
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
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command line; a long-lived command serves until SIGINT or SIGTERM, which
// starts its graceful stop; a second signal makes it stop at once. It returns the exit code:
// 0, 1 when the command failed, 2 for a usage mistake.
func run(args []string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	graceful, stopGraceful := context.WithCancel(context.Background())
	defer stopGraceful()
	now, done := make(chan struct{}), make(chan struct{})
	defer close(done) // ends the goroutine below
	go func() {
		for _, stop := range []func(){stopGraceful, func() { close(now) }} {
			select {
			case <-sigs:
				stop()
			case <-done:
				return
			}
		}
	}()
	return runStops(stopRequests{graceful: graceful, now: now}, args, stdout, stderr)
}

// stopRequests tell a long-lived command to stop: gracefully once graceful ends (the first
// signal), at once when now is closed (the second; nil: never).
type stopRequests struct {
	graceful context.Context
	now      <-chan struct{}
}

// runContext is run with the long-lived commands stopped gracefully by ctx instead of a
// signal, and never at once.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runStops(stopRequests{graceful: ctx}, args, stdout, stderr)
}

// runStops is run with the given stop requests.
func runStops(stops stopRequests, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "start":
		return exitCode(start(stops, args[1:], stderr), stderr)
	case "worker":
		return exitCode(work(stops.graceful, args[1:], stderr), stderr)
	case "restart":
		return exitCode(restart(stops.graceful, args[1:], stdout, stderr), stderr)
	case "doctor":
		return doctor(stops.graceful, args[1:], stdout, stderr)
	case "channels":
		// `reverbd channels` alone (or with flags only) lists the live channels.
		if len(args) == 1 || strings.HasPrefix(args[1], "-") {
			return exitCode(channelsList(stops.graceful, args[1:], stdout, stderr), stderr)
		}
		if code, ok := channelsCatalogueCommand(args[1:], stdout, stderr); ok {
			return code
		}
		fmt.Fprintf(stderr, "Usage:\n  reverbd channels %s\n  reverbd channels check %s\n  reverbd channels generate %s\n", channelsListSynopsis, channelsCheckSynopsis, channelsGenerateSynopsis)
		return 2
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
	startSynopsis   = "[--env-file PATH] [--host HOST] [--port PORT] [--path PREFIX] [--hostname NAME] [--debug]"
	workerSynopsis  = "[--env-file PATH] [--debug]"
	restartSynopsis = "[--env-file PATH]"
)

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  reverbd start `+startSynopsis+`
  reverbd worker `+workerSynopsis+`   (scaling: delivery workers only, no sockets)
  reverbd restart `+restartSynopsis+`   (the running servers drain and exit, for their process manager to restart)
  reverbd doctor `+doctorSynopsis+`   (check .env, proxy, TLS and delivery)
  reverbd channels `+channelsListSynopsis+`   (each app's channel catalogue with its live counts)
  reverbd channels check `+channelsCheckSynopsis+`   (check the channel catalogue)
  reverbd channels generate `+channelsGenerateSynopsis+`   (the app's channel helpers)
  reverbd version

Configuration comes from the REVERB_* variables of the Laravel app's .env (see .env.example);
flags win over the environment, and the environment wins over the env file.
`)
}
