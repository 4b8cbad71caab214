package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// appEnvFile is an env file with the test app and the given extra lines.
func appEnvFile(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	content := strings.Join(append([]string{
		"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret,
	}, lines...), "\n") + "\n"
	if err := writeFile(path, content); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCommand runs `reverbd args...` to its end and returns the exit code, stdout and stderr.
func runCommand(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpNamesTheCommand(t *testing.T) {
	code, _, stderr := runCommand("worker", "--help")
	if code != 0 || !strings.Contains(stderr, "Usage: reverbd worker [--env-file PATH] [--debug]") ||
		strings.Contains(stderr, "start") || strings.Contains(stderr, "-port") {
		t.Errorf("worker --help: exit %d, output:\n%s", code, stderr)
	}
	code, _, stderr = runCommand("start", "-h")
	if code != 0 || !strings.Contains(stderr, "Usage: reverbd start [--env-file PATH] [--host HOST]") ||
		!strings.Contains(stderr, "-port int") {
		t.Errorf("start -h: exit %d, output:\n%s", code, stderr)
	}
}

// A positional argument stops the flag package, so the flags after it would be ignored: it
// is refused with a usage line, and nothing starts.
func TestStrayArgumentIsRefused(t *testing.T) {
	envFile := appEnvFile(t)
	for _, tc := range []struct {
		args []string
		arg  string // the argument refused
	}{
		{[]string{"start", "extra", "--env-file", envFile}, "extra"},
		{[]string{"start", "--env-file", envFile, "--debug", "false"}, "false"},
		{[]string{"worker", "--env-file", envFile, "now"}, "now"},
	} {
		code, _, stderr := runCommand(tc.args...)
		want := fmt.Sprintf("reverbd %s: unexpected argument %q", tc.args[0], tc.arg)
		if code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "Usage: reverbd "+tc.args[0]+" [--env-file PATH]") {
			t.Errorf("%q: exit %d, stderr %q; want 2, %q and a usage line", tc.args, code, stderr, want)
		}
	}
	code, _, stderr := runCommand("worker", "--port", "9000")
	if code != 2 || !strings.Contains(stderr, "flag provided but not defined: -port") || strings.Contains(stderr, "reverbd: usage") {
		t.Errorf("worker --port: exit %d, stderr %q", code, stderr)
	}
}

// A port already taken is reported with what usually holds it and the setting that moves
// reverbd elsewhere.
func TestListenAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	code, _, stderr := runCommand("start", "--env-file", appEnvFile(t), "--host", "127.0.0.1", "--port", port)
	for _, want := range []string{"listen on 127.0.0.1:" + port + ": address already in use", "another reverbd", "php artisan reverb:start", "REVERB_SERVER_PORT or --port"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("public port: exit %d, stderr %q; want 1 and %q", code, stderr, want)
		}
	}

	envFile := appEnvFile(t, "REVERB_ADMIN_PORT="+port, "REVERB_ADMIN_USERNAME=ops", "REVERB_ADMIN_PASSWORD=pw")
	code, _, stderr = runCommand("start", "--env-file", envFile, "--host", "127.0.0.1", "--port", "0")
	if code != 1 || !strings.Contains(stderr, "admin listener: listen on 127.0.0.1:"+port+": address already in use") ||
		!strings.Contains(stderr, "(REVERB_ADMIN_PORT)") {
		t.Errorf("admin port: exit %d, stderr %q", code, stderr)
	}
}

// The admin listener exposes every queued payload: start-up refuses it without both
// credentials, on loopback too.
func TestAdminListenerRequiresCredentials(t *testing.T) {
	for _, lines := range [][]string{
		{"REVERB_ADMIN_PORT=18081"},
		{"REVERB_ADMIN_PORT=18081", "REVERB_ADMIN_HOST=localhost", "REVERB_ADMIN_USERNAME=ops"},
	} {
		code, _, stderr := runCommand("start", "--env-file", appEnvFile(t, lines...), "--port", "0")
		if code != 1 || !strings.Contains(stderr, "REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD") {
			t.Errorf("%q: exit %d, stderr %q; want 1 and both variables named", lines, code, stderr)
		}
	}
}

// Even wired without credentials (no start-up check), the admin listener serves nothing.
func TestAdminHandlerWithoutCredentialsRefusesAll(t *testing.T) {
	p := startProcess(t, "REVERB_ADMIN_USERNAME=null", "REVERB_ADMIN_PASSWORD=null")
	for _, auth := range []bool{false, true} {
		req, _ := http.NewRequest("GET", "http://"+p.adminAddr+"/debug/pprof/", nil)
		if auth {
			req.SetBasicAuth("", "")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /debug/pprof/ (empty basic auth: %v) = %d, want 401", auth, resp.StatusCode)
		}
	}
}

// command is `reverbd start` or `reverbd worker` running in this process through runContext.
type command struct {
	log  *lockedBuffer // stderr: the log
	addr string        // the public listener (start only)
	stop func() int    // stops the command and returns its exit code
}

var (
	startedLine       = regexp.MustCompile(`msg="reverbd started".* addr=(\S+)|"msg":"reverbd started".*"addr":"([^"]+)"`)
	workerStartedLine = regexp.MustCompile(`msg="reverbd worker started"`)
)

// startCommand runs `reverbd args...` until the test ends and waits for its "started" line.
func startCommand(t *testing.T, args ...string) *command {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{log: new(lockedBuffer)}
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, args, new(bytes.Buffer), c.log) }()
	var once sync.Once
	code := -1
	c.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { c.stop() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := startedLine.FindStringSubmatch(c.log.String()); m != nil {
			c.addr = m[1] + m[2] // text or JSON
			return c
		}
		if workerStartedLine.MatchString(c.log.String()) {
			return c
		}
		select {
		case code := <-done:
			t.Fatalf("%q exited with %d before it started:\n%s", args, code, c.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not start within 10s:\n%s", args, c.log.String())
		}
	}
}

// waitLog waits until the log contains want.
func (c *command) waitLog(t *testing.T, want string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); !strings.Contains(c.log.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %s:\n%s", want, within, c.log.String())
		}
	}
}

// logKeys returns the keys of one slog text line, in order.
func logKeys(line string) []string {
	var keys []string
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(line[i:], '=')
		if eq < 0 {
			break
		}
		keys = append(keys, line[i:i+eq])
		i += eq + 1
		if i < len(line) && line[i] == '"' { // a quoted value: skip to its closing quote
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				}
			}
			i++
			continue
		}
		for i < len(line) && line[i] != ' ' {
			i++
		}
	}
	return keys
}

func TestLogKeys(t *testing.T) {
	got := logKeys(`time=x level=INFO msg="a \"b=c\" d" component=api err="x y" n=1`)
	if want := []string{"time", "level", "msg", "component", "err", "n"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("logKeys = %q, want %q", got, want)
	}
}

// A warning repeated within the window is counted, and the next one logged carries the count;
// other loggers, other messages and info lines are not held back.
func TestRepeatLimiter(t *testing.T) {
	var out bytes.Buffer
	h := newRepeatLimiter(slog.NewTextHandler(&out, nil), time.Minute)
	api := h.WithAttrs([]slog.Attr{slog.String("component", "api")})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	logAt := func(h slog.Handler, at time.Duration, level slog.Level, msg string) {
		if err := h.Handle(context.Background(), slog.NewRecord(t0.Add(at), level, msg, 0)); err != nil {
			t.Fatal(err)
		}
	}
	logAt(h, 0, slog.LevelError, "redis down")
	logAt(h, time.Second, slog.LevelError, "redis down")   // suppressed
	logAt(h, 2*time.Second, slog.LevelError, "redis down") // suppressed
	logAt(api, 3*time.Second, slog.LevelError, "redis down")
	logAt(h, 4*time.Second, slog.LevelWarn, "redis down")
	logAt(h, 5*time.Second, slog.LevelInfo, "hello")
	logAt(h, 6*time.Second, slog.LevelInfo, "hello")
	logAt(h, 61*time.Second, slog.LevelError, "redis down")
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`level=ERROR msg="redis down"`,
		`level=ERROR msg="redis down" component=api`,
		`level=WARN msg="redis down"`,
		`level=INFO msg=hello`,
		`level=INFO msg=hello`,
		`level=ERROR msg="redis down" suppressed_repeats=2`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i := range want {
		if !strings.HasSuffix(got[i], want[i]) {
			t.Errorf("line %d = %q, want it to end with %q", i, got[i], want[i])
		}
	}
}
