package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry/redistest"
)

// reverbdBinary builds the reverbd binary into the test's temp dir, removed with the test.
func reverbdBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reverbd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// doctorSetup is a Laravel-style deployment for the doctor to check: reverbd on a loopback
// port behind nginx with the shipped site file on https, a self-signed certificate the
// doctor trusts through SSL_CERT_FILE, and the .env both read.
type doctorSetup struct {
	bin        string // the reverbd binary
	dir        string
	serverPort string
	httpsPort  string
	certFile   string
	env        []string // the .env's lines
}

// setupOptions describe what a test breaks.
type setupOptions struct {
	env      []string            // extra .env lines (they win over the defaults)
	expired  bool                // the certificate expired yesterday
	editSite func(string) string // changes the nginx site after the mechanical rewrite
}

// newDoctorSetup starts reverbd and nginx and writes the .env.
func newDoctorSetup(t *testing.T, bin string, o setupOptions) *doctorSetup {
	t.Helper()
	dir, err := os.MkdirTemp("", "reverbd-doctor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &doctorSetup{bin: bin, dir: dir, serverPort: freePort(t), httpsPort: freePort(t)}
	notAfter := time.Now().Add(48 * time.Hour)
	if o.expired {
		notAfter = time.Now().Add(-24 * time.Hour)
	}
	cert, key := writeCert(t, dir, time.Now().Add(-72*time.Hour), notAfter)
	s.certFile = cert
	s.env = append([]string{
		"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret,
		"REVERB_SERVER_HOST=127.0.0.1", "REVERB_SERVER_PORT=" + s.serverPort,
		"REVERB_HOST=localhost", "REVERB_PORT=" + s.httpsPort, "REVERB_SCHEME=https",
	}, o.env...)
	startNginx(t, dir, nginxSite(t, s.serverPort, s.httpsPort, freePort(t), cert, key, o.editSite), s.httpsPort)
	s.startServer(t)
	return s
}

// childEnv is the environment of the processes a doctor test starts: nothing of the test's
// own (REDIS_URL and friends would win over the .env), only what they need.
func childEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, extra...)
}

// writeEnv writes the .env with lines after the setup's and returns its path.
func (s *doctorSetup) writeEnv(t *testing.T, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(s.dir, name)
	if err := writeFile(path, strings.Join(append(append([]string(nil), s.env...), lines...), "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServer runs `reverbd start` with the setup's .env and stops it with the test.
func (s *doctorSetup) startServer(t *testing.T) {
	t.Helper()
	cmd := exec.Command(s.bin, "start", "--env-file", s.writeEnv(t, "server.env"))
	cmd.Env = childEnv()
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	exited := startWatched(t, cmd)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("reverbd log:\n%s", logs.String())
		}
	})
	prefix := ""
	for _, line := range s.env {
		if p, ok := strings.CutPrefix(line, "REVERB_SERVER_PATH="); ok {
			prefix = p
		}
	}
	waitUp(t, &process{addr: "127.0.0.1:" + s.serverPort + prefix}, 200) // GET {prefix}/up
}

// doctorRun is one `reverbd doctor --json` run.
type doctorRun struct {
	code  int
	steps map[string]checkResult
	out   string // the results as the text output shows them
}

// runDoctor runs the doctor binary with the setup's .env (and extra lines), trusting the
// setup's certificate through SSL_CERT_FILE.
func (s *doctorSetup) runDoctor(t *testing.T, extraEnv []string, args ...string) doctorRun {
	t.Helper()
	envFile := s.writeEnv(t, "doctor.env", extraEnv...)
	cmd := exec.Command(s.bin, append([]string{"doctor", "--env-file", envFile, "--json"}, args...)...)
	cmd.Env = childEnv("SSL_CERT_FILE=" + s.certFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var results []checkResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("doctor --json: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var text bytes.Buffer
	printResults(&text, results)
	run := doctorRun{code: code, steps: map[string]checkResult{}, out: text.String()}
	for _, r := range results {
		run.steps[r.Name] = r
	}
	if len(results) != len(doctorSteps) {
		t.Errorf("doctor printed %d steps, want %d", len(results), len(doctorSteps))
	}
	return run
}

// expect checks every step's status (steps not named must be ok) and, for the named ones,
// that the detail and the fix match the patterns given as "status", "status detail-pattern"
// or "status detail-pattern | fix-pattern".
func (r doctorRun) expect(t *testing.T, want map[string]string) {
	t.Helper()
	failed := false
	for _, step := range doctorSteps {
		spec := want[step.name]
		if spec == "" {
			spec = statusOK
		}
		status, rest, _ := strings.Cut(spec, " ")
		detailRE, fixRE, _ := strings.Cut(rest, " | ")
		got := r.steps[step.name]
		if got.Status != status {
			t.Errorf("step %s: status %s, want %s: %s (fix: %s)", step.name, got.Status, status, got.Detail, got.Fix)
			failed = true
			continue
		}
		if wantOK := status != statusFail && !strings.HasPrefix(got.Detail, "not tried"); got.OK != wantOK {
			t.Errorf("step %s: ok %v, want %v", step.name, got.OK, wantOK)
		}
		if detailRE != "" && !regexp.MustCompile(detailRE).MatchString(got.Detail) {
			t.Errorf("step %s: detail %q does not match %q", step.name, got.Detail, detailRE)
			failed = true
		}
		if fixRE != "" && !regexp.MustCompile(fixRE).MatchString(got.Fix) {
			t.Errorf("step %s: fix %q does not match %q", step.name, got.Fix, fixRE)
			failed = true
		}
	}
	wantCode := 0
	for _, spec := range want {
		if strings.HasPrefix(spec, statusFail) || strings.HasPrefix(spec, statusSkip+" not tried") {
			wantCode = 1
		}
	}
	if r.code != wantCode {
		t.Errorf("exit code %d, want %d", r.code, wantCode)
		failed = true
	}
	if failed || os.Getenv("SHOW") != "" {
		t.Logf("doctor output:\n%s", r.out)
	}
}

// notTried is the status of a step a failed one stopped.
const notTried = "skip ^not tried: the "

// Behind real nginx with the shipped site file: a correct setup passes every step, and each
// broken link is named by the step that checks it, with the other steps still telling what
// works (the direct trigger passes whatever the proxy does).
func TestDoctorBehindNginx(t *testing.T) {
	t.Parallel()
	bin := reverbdBinary(t)
	t.Run("correct setup", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{})
		run := s.runDoctor(t, nil, "--idle", "1500ms")
		run.expect(t, map[string]string{
			"tls":            "ok certificate for localhost, 127.0.0.1, .*chain verified",
			"websocket":      "ok ^wss://localhost:[0-9]+/app: 101 Switching Protocols",
			"idle":           "ok idle for 1.5s",
			"trigger-public": `ok ^POST https://localhost:[0-9]+/apps/3/events answered 200; the event reached`,
			"trigger-direct": `ok ^POST http://127.0.0.1:[0-9]+/apps/3/events answered 200`,
			"redis":          "skip ^not used",
		})
	})
	t.Run("nginx without the upgrade headers", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{editSite: func(site string) string {
			site = replaceExactly(t, site, `(?m)^\s*proxy_set_header Upgrade \$http_upgrade;\n`, 1, "")
			return replaceExactly(t, site, `(?m)^\s*proxy_set_header Connection \$connection_upgrade;\n`, 1, "")
		}})
		s.runDoctor(t, nil).expect(t, map[string]string{
			"websocket":      "fail answered 400 Bad Request instead of 101 .*Server: nginx | without its Upgrade/Connection headers.*proxy_set_header Upgrade \\$http_upgrade",
			"idle":           notTried + "WebSocket upgrade",
			"trigger-public": notTried + "WebSocket upgrade",
			"redis":          "skip",
		})
	})
	t.Run("wrong REVERB_PORT", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{})
		s.runDoctor(t, []string{"REVERB_PORT=" + freePort(t)}).expect(t, map[string]string{
			"public-address": "fail does not accept TCP: connection refused | REVERB_PORT is the port of the TLS proxy",
			"tls":            notTried + "public address",
			"websocket":      notTried + "public address",
			"idle":           notTried + "WebSocket upgrade",
			"trigger-public": notTried + "WebSocket upgrade",
			"redis":          "skip",
		})
	})
	t.Run("expired certificate", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{expired: true})
		s.runDoctor(t, nil).expect(t, map[string]string{
			"tls":            "fail the certificate for localhost, 127.0.0.1 expired on .* ago | renew it",
			"websocket":      notTried + "TLS certificate",
			"idle":           notTried + "WebSocket upgrade",
			"trigger-public": notTried + "WebSocket upgrade",
			"redis":          "skip",
		})
	})
	t.Run("proxy read timeout shorter than the idle time", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{editSite: func(site string) string {
			return replaceExactly(t, site, `proxy_read_timeout 180s;`, 1, "proxy_read_timeout 1s;")
		}})
		s.runDoctor(t, nil, "--idle", "3s").expect(t, map[string]string{
			"idle":  "fail cut after 1.* idle .*read timeout shorter than 3s | proxy_read_timeout 180s",
			"redis": "skip",
		})
	})
	t.Run("REVERB_SERVER_PATH the proxy does not have", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{env: []string{"REVERB_SERVER_PATH=/ws"}})
		s.runDoctor(t, nil).expect(t, map[string]string{
			"websocket":      "fail ^wss://localhost:[0-9]+/ws/app answered 404 Not Found | wrong path.*location /ws/app/",
			"idle":           notTried + "WebSocket upgrade",
			"trigger-public": notTried + "WebSocket upgrade",
			"trigger-direct": "ok ^POST http://127.0.0.1:[0-9]+/ws/apps/3/events answered 200",
			"redis":          "skip",
		})
	})
}

// SIGINT ends a run at once, even in the middle of a long --idle wait: the step is reported
// as not finished (not as a proxy fault), the later ones as not tried, and the exit code is 1.
func TestDoctorInterrupted(t *testing.T) {
	t.Parallel()
	bin := reverbdBinary(t)
	s := newDoctorSetup(t, bin, setupOptions{})
	cmd := exec.Command(s.bin, "doctor", "--env-file", s.writeEnv(t, "doctor.env"), "--json", "--idle", "1m")
	cmd.Env = childEnv("SSL_CERT_FILE=" + s.certFile)
	var stdout lockedBuffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the steps before the idle wait take milliseconds
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopped %s after SIGINT", took)
	}
	var results []checkResult
	if err := json.Unmarshal([]byte(stdout.String()), &results); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	// The steps before the signal passed, the one running (the idle wait, unless the machine
	// is very slow) did not finish, and the rest were not tried; none failed.
	phase := 0 // 0: passed, 1: interrupted
	var stopped string
	for _, r := range results {
		got := r.Status + " " + r.Detail
		switch {
		case phase == 0 && r.OK:
		case strings.HasPrefix(got, "skip not finished: the doctor was interrupted") && phase == 0,
			strings.HasPrefix(got, "skip not tried: the doctor was interrupted"):
			if phase == 0 {
				stopped = r.Name
			}
			phase = 1
		default:
			t.Errorf("step %s: %q after the steps before it", r.Name, got)
		}
	}
	if stopped == "" {
		t.Errorf("no step was interrupted")
	} else {
		t.Logf("interrupted at step %s", stopped)
	}
}

// With the redis queue: a consumed queue passes, Redis down and a queue nobody consumes are
// named by the Redis step (and the triggers say why they fail).
func TestDoctorRedisQueue(t *testing.T) {
	t.Parallel()
	bin := reverbdBinary(t)
	t.Run("correct setup", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{env: redisQueueEnv(t)})
		s.runDoctor(t, nil).expect(t, map[string]string{
			"idle":  "skip ^not checked: run with --idle 40s",
			"redis": `ok answers PING; the asynq queue "test-.*" is consumed by .* pid [0-9]+; backlog`,
		})
	})
	t.Run("Redis down", func(t *testing.T) {
		srv := redistest.StartServer(t)
		s := newDoctorSetup(t, bin, setupOptions{env: []string{"REVERB_QUEUE_CONNECTION=redis", "REDIS_URL=" + srv.URL()}})
		srv.Stop()
		s.runDoctor(t, nil).expect(t, map[string]string{
			"idle":           "skip",
			"trigger-public": "fail 503 | Redis step",
			"trigger-direct": "fail 503 | Redis step",
			"redis":          "fail ^Redis \\(REDIS_URL=redis://127.0.0.1:[0-9]+/0\\) does not answer PING | that Redis runs",
		})
	})
	t.Run("queue nobody consumes", func(t *testing.T) {
		s := newDoctorSetup(t, bin, setupOptions{env: append(redisQueueEnv(t), "REVERB_QUEUE_WORKERS=false")})
		s.runDoctor(t, nil).expect(t, map[string]string{
			"idle":           "skip",
			"trigger-public": "fail answered 200, but the event did not reach | must consume it",
			"trigger-direct": "fail answered 200, but the event did not reach",
			"redis":          "fail no process consumes the asynq queue | REVERB_QUEUE_WORKERS=true",
		})
	})
}

// The text output has one line per step, the fix under a failed one, and the exit code
// follows the steps.
func TestDoctorTextOutput(t *testing.T) {
	results := []checkResult{
		{Step: 1, Name: "config", Title: "configuration", Status: statusOK, OK: true, Detail: "fine"},
		{Step: 2, Name: "tls", Title: "TLS certificate", Status: statusFail, Detail: "expired", Fix: "renew it"},
		{Step: 3, Name: "websocket", Title: "WebSocket upgrade", Status: statusSkip, Detail: "not tried"},
	}
	var out bytes.Buffer
	printResults(&out, results)
	want := "1. OK    configuration               fine\n" +
		"2. FAIL  TLS certificate             expired\n" +
		"                                     fix: renew it\n" +
		"3. SKIP  WebSocket upgrade           not tried\n" +
		"Failed: TLS certificate.\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// A configuration that does not load fails the first step, names the variable, and stops
// every other step; usage mistakes exit 2.
func TestDoctorBadConfiguration(t *testing.T) {
	env := appEnvFile(t, "REVERB_SERVER_PORT=eighty")
	code, stdout, _ := runCommand("doctor", "--env-file", env, "--json")
	var results []checkResult
	if err := json.Unmarshal([]byte(stdout), &results); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if code != 1 || results[0].Status != statusFail || !strings.Contains(results[0].Detail, `REVERB_SERVER_PORT: "eighty" is not a number`) {
		t.Errorf("exit %d, first step %+v", code, results[0])
	}
	for _, r := range results[1:] {
		if r.Status != statusSkip || r.OK {
			t.Errorf("step %s after a bad configuration: %+v", r.Name, r)
		}
	}
	if code, _, stderr := runCommand("doctor", "extra"); code != 2 || !strings.Contains(stderr, "Usage: reverbd doctor [--env-file PATH] [--json]") {
		t.Errorf("doctor extra: exit %d, stderr %q", code, stderr)
	}
}

// With the built-in TLS and no proxy, the public address is the server's own port: every
// step passes, the direct one over TLS too.
func TestDoctorBuiltInTLS(t *testing.T) {
	t.Parallel()
	bin := reverbdBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	cert, key := writeCert(t, dir, time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour))
	s := &doctorSetup{bin: bin, dir: dir, serverPort: port, certFile: cert, env: []string{
		"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret,
		"REVERB_SERVER_HOST=127.0.0.1", "REVERB_SERVER_PORT=" + port,
		"REVERB_SERVER_TLS_CERT=" + cert, "REVERB_SERVER_TLS_KEY=" + key,
		"REVERB_HOST=localhost", "REVERB_PORT=" + port, "REVERB_SCHEME=https",
	}}
	cmd := exec.Command(bin, "start", "--env-file", s.writeEnv(t, "server.env"))
	cmd.Env = childEnv()
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	startUntilTestEnds(t, cmd)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reverbd did not listen: %v\n%s", err, logs.String())
		}
	}
	s.runDoctor(t, nil).expect(t, map[string]string{
		"idle":           "skip",
		"redis":          "skip",
		"trigger-direct": "ok .*https://127.0.0.1:" + port,
	})
}
