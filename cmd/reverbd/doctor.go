package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/reverbd/reverbd/config"
)

// doctorSynopsis is the usage line of `reverbd doctor`.
const doctorSynopsis = "[--env-file PATH] [--json] [--idle DURATION] [--origin URL]"

// doctorTimeout bounds each network wait of a step: a dial, a handshake, an answer, a delivery.
const doctorTimeout = 10 * time.Second

// Step statuses. A step that did not run is "skip": passed when it does not apply (TLS with
// REVERB_SCHEME=http), not passed when a step it needs failed.
const (
	statusOK   = "ok"
	statusFail = "fail"
	statusSkip = "skip"
)

// checkResult is one step of `reverbd doctor`, as printed and as --json writes it.
type checkResult struct {
	Step   int    `json:"step"`
	Name   string `json:"name"`
	Title  string `json:"title"`
	Status string `json:"status"`
	OK     bool   `json:"ok"` // passed: status ok, or skip because the step does not apply
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// outcome is what a step's check found.
type outcome struct {
	status string
	detail string
	fix    string
}

func ok(format string, args ...any) outcome {
	return outcome{status: statusOK, detail: fmt.Sprintf(format, args...)}
}

func fail(detail, fix string) outcome { return outcome{status: statusFail, detail: detail, fix: fix} }

// notApplicable is a skip that counts as passed.
func notApplicable(detail string) outcome { return outcome{status: statusSkip, detail: detail} }

// doctorStep is one link of the chain the doctor walks.
type doctorStep struct {
	name, title string
	needs       []string // steps that must have passed for this one to run
	check       func(ctx context.Context, d *diagnosis) outcome
}

// doctorSteps is the chain in the order a browser and the Laravel app go through it.
var doctorSteps = []doctorStep{
	{"config", "configuration", nil, checkConfig},
	{"public-address", "public address", []string{"config"}, checkPublicAddress},
	{"tls", "TLS certificate", []string{"public-address"}, checkTLS},
	{"websocket", "WebSocket upgrade", []string{"public-address", "tls"}, checkUpgrade},
	{"idle", "proxy idle timeout", []string{"websocket"}, checkIdle},
	{"trigger-public", "trigger via public address", []string{"websocket"}, checkTriggerPublic},
	{"trigger-direct", "trigger direct to server", []string{"config"}, checkTriggerDirect},
	{"redis", "Redis and queue", []string{"config"}, checkRedisQueue},
}

// doctorOptions are the flags of `reverbd doctor`.
type doctorOptions struct {
	envFile string
	json    bool
	idle    time.Duration // hold a connection idle this long through the public address; 0: skip
	origin  string        // Origin header of the doctor's WebSocket connections
}

// diagnosis is the state one doctor run builds up, step by step.
type diagnosis struct {
	opts    doctorOptions
	environ []string
	cfg     *config.Config
	app     config.App
	public  endpoint // REVERB_HOST:REVERB_PORT over REVERB_SCHEME
	direct  endpoint // the server's own listener
}

// doctor is `reverbd doctor`: it walks the chain from the Laravel app's .env to a delivered
// event and prints one line per step. It returns the exit code: 0 when every step passed,
// 1 when one failed, 2 for a usage mistake.
func doctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseDoctorFlags(args, stderr)
	if err != nil {
		return exitCode(err, stderr)
	}
	d := &diagnosis{opts: opts, environ: os.Environ()}
	results := d.run(ctx)
	if opts.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			fmt.Fprintln(stderr, "reverbd doctor:", err)
			return 1
		}
	} else {
		printResults(stdout, results)
	}
	for _, r := range results {
		if !r.OK {
			return 1
		}
	}
	return 0
}

// parseDoctorFlags parses the flags of `reverbd doctor`; like the other commands it takes no
// positional argument.
func parseDoctorFlags(args []string, stderr io.Writer) (doctorOptions, error) {
	var o doctorOptions
	fs := flag.NewFlagSet("reverbd doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.envFile, "env-file", "", "Laravel-style .env file to read first (default .env in the working directory, if present)")
	fs.BoolVar(&o.json, "json", false, "print the steps as a JSON array (step, name, title, status, ok, detail, fix)")
	fs.DurationVar(&o.idle, "idle", 0, "hold a WebSocket idle this long through the public address, to catch a proxy timeout shorter than the clients' pings (e.g. 40s); 0 skips the check")
	fs.StringVar(&o.origin, "origin", "", "Origin header for the doctor's WebSocket connections, when allowed_origins restricts them (e.g. https://app.example.com)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: reverbd doctor %s\n\nFlags:\n", doctorSynopsis)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reverbd doctor: unexpected argument %q: the command takes flags only\n", fs.Arg(0))
		fmt.Fprintf(stderr, "Usage: reverbd doctor %s\n", doctorSynopsis)
		return o, errUsage
	}
	if o.idle < 0 {
		fmt.Fprintln(stderr, "reverbd doctor: --idle must be 0 (off) or a positive duration")
		return o, errUsage
	}
	return o, nil
}

// run checks every step in order. A step whose prerequisite did not pass is skipped, and the
// skip names the step that stopped it; once ctx ends (Ctrl-C), the remaining steps are skipped.
func (d *diagnosis) run(ctx context.Context) []checkResult {
	results := make([]checkResult, 0, len(doctorSteps))
	passed := make(map[string]bool, len(doctorSteps))
	titles := make(map[string]string, len(doctorSteps))
	for i, s := range doctorSteps {
		titles[s.name] = s.title
		var out outcome
		blocker := ""
		for _, need := range s.needs {
			if !passed[need] {
				blocker = need
				break
			}
		}
		tried := false
		switch {
		case ctx.Err() != nil:
			out = outcome{status: statusSkip, detail: "not tried: the doctor was interrupted"}
		case blocker != "":
			out = outcome{status: statusSkip, detail: "not tried: the " + titles[blocker] + " step did not pass"}
		default:
			out, tried = s.check(ctx, d), true
			if out.status == statusFail && ctx.Err() != nil {
				// What failed was the interruption, not the step.
				out, tried = outcome{status: statusSkip, detail: "not finished: the doctor was interrupted"}, false
			}
		}
		pass := out.status == statusOK || (out.status == statusSkip && tried)
		passed[s.name] = pass
		results = append(results, checkResult{
			Step: i + 1, Name: s.name, Title: s.title, Status: out.status, OK: pass,
			Detail: out.detail, Fix: out.fix,
		})
	}
	return results
}

// printResults writes one line per step, the fix indented under a failed one, and a summary.
func printResults(w io.Writer, results []checkResult) {
	var failed []string
	for _, r := range results {
		label := map[string]string{statusOK: "OK", statusFail: "FAIL", statusSkip: "SKIP"}[r.Status]
		fmt.Fprintf(w, "%d. %-4s  %-26s  %s\n", r.Step, label, r.Title, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(w, "   %4s  %-26s  fix: %s\n", "", "", r.Fix)
		}
		if r.Status == statusFail {
			failed = append(failed, r.Title)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintln(w, "Every step passed.")
		return
	}
	fmt.Fprintf(w, "Failed: %s.\n", strings.Join(failed, ", "))
}
