package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry/redistest"
)

// runRestart runs `reverbd restart args...` through the binary with the test app's
// credentials and env and returns its exit code and output.
func runRestart(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), append([]string{"restart"}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// One node, no Redis: `reverbd restart` run with the server's own .env finds the server
// through its control socket (named after the port in that file); the server drains (its
// client is closed with 4200) and exits 0. With nothing running, restart says so and exits 1.
func TestRestartSingleNode(t *testing.T) {
	port := freePort(t)
	envFile := appEnvFile(t, "REVERB_SERVER_HOST=127.0.0.1", "REVERB_SERVER_PORT="+port, "REVERB_SHUTDOWN_DRAIN=200ms")
	p := runBinary(t, "127.0.0.1:"+port, nil, "start", "--env-file", envFile)
	client, err := dialDrainClient(p.addr, "news")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.conn.Close() })
	done := make(chan struct{})
	go func() { client.read(); close(done) }()

	code, stdout, stderr := runRestart(t, nil, "--env-file", envFile)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("reverbd (pid %d, control socket @reverbd-%s) is draining", p.cmd.Process.Pid, port)) {
		t.Fatalf("reverbd restart: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, code := waitExit(t, p.cmd, 10*time.Second); code != 0 {
		t.Errorf("the server exited with %d after reverbd restart, want 0:\n%s", code, p.log.String())
	}
	<-done
	if client.code != 4200 {
		t.Errorf("the client was closed with %d (%v), want 4200", client.code, client.err)
	}
	if !strings.Contains(p.log.String(), `msg="reverbd draining" reason="restart (control socket)"`) {
		t.Errorf("no draining line naming the restart in the log:\n%s", p.log.String())
	}

	code, _, stderr = runRestart(t, nil, "--env-file", envFile)
	if code != 1 || !strings.Contains(stderr, "no reverbd answers on the control socket @reverbd-"+port) {
		t.Errorf("reverbd restart with nothing running: exit %d, stderr %q; want 1 and the socket named", code, stderr)
	}
}

// A control socket set by path works the same, and a file left behind by a server that died
// does not stop the next one from binding it.
func TestRestartControlSocketPath(t *testing.T) {
	socket := t.TempDir() + "/reverbd.sock"
	if err := writeFile(socket, ""); err != nil { // left behind
		t.Fatal(err)
	}
	port := freePort(t)
	env := []string{"REVERB_CONTROL_SOCKET=" + socket}
	p := runBinary(t, "127.0.0.1:"+port, env, "start", "--env-file", appEnvFile(t), "--host", "127.0.0.1", "--port", port)
	code, stdout, stderr := runRestart(t, env, "--env-file", appEnvFile(t))
	if code != 0 || !strings.Contains(stdout, "control socket "+socket) {
		t.Fatalf("reverbd restart: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, code := waitExit(t, p.cmd, 10*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("the socket file is still there after the exit: %v", err)
	}
}

// timeField reads the time= of a log line.
var timeField = regexp.MustCompile(`^time=(\S+) `)

// logTime returns when the first line of log containing msg was written.
func logTime(t *testing.T, log, msg string) time.Time {
	t.Helper()
	for line := range strings.Lines(log) {
		if strings.Contains(line, msg) {
			if m := timeField.FindStringSubmatch(line); m != nil {
				at, err := time.Parse(time.RFC3339Nano, m[1])
				if err != nil {
					t.Fatal(err)
				}
				return at
			}
		}
	}
	t.Fatalf("no log line with %q:\n%s", msg, log)
	return time.Time{}
}

// startWorkerBinary runs `reverbd worker` with env until the test ends and waits for its
// started line.
func startWorkerBinary(t *testing.T, env []string) *binaryProcess {
	t.Helper()
	cmd := exec.Command(buildBinary(t), "worker", "--env-file", os.DevNull)
	cmd.Env = append(os.Environ(), append([]string{"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret}, env...)...)
	p := &binaryProcess{cmd: cmd, log: new(lockedBuffer)}
	cmd.Stderr = p.log
	startUntilTestEnds(t, cmd)
	waitLog(t, p.log, `msg="reverbd worker started"`)
	return p
}

// With scaling on, `reverbd restart` makes every process of the deployment (three nodes and
// a worker) drain and exit in turn, one after another, never two at once; a node takes its
// turn only once the node before it is back up. The test restarts each process when it
// exits, as a process manager would; the new processes do not restart again.
func TestRestartClusterTakesTurns(t *testing.T) {
	srv := redistest.StartServer(t)
	env := append(clusterEnv(t, srv.URL()), "REVERB_SHUTDOWN_DRAIN=300ms")
	type member struct {
		name   string
		port   string // "" for the worker
		first  *binaryProcess
		second *binaryProcess
		code   int
	}
	start := func(m *member) *binaryProcess {
		if m.port == "" {
			return startWorkerBinary(t, env)
		}
		return runBinary(t, "127.0.0.1:"+m.port, env, "start", "--env-file", os.DevNull, "--host", "127.0.0.1", "--port", m.port)
	}
	members := []*member{{name: "worker"}}
	for i := range 3 {
		members = append(members, &member{name: fmt.Sprint("node ", i), port: freePort(t)})
	}
	for _, m := range members {
		m.first = start(m)
		if m.port != "" {
			c, err := dialDrainClient(m.first.addr, "news")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.conn.Close() })
		}
	}

	code, stdout, stderr := runRestart(t, env, "--env-file", os.DevNull)
	if code != 0 || !strings.Contains(stdout, "its 3 running nodes") {
		t.Fatalf("reverbd restart: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	exits := make(chan *member, len(members))
	for _, m := range members {
		go func() { _ = m.first.cmd.Wait(); exits <- m }()
	}
	for range members {
		select {
		case m := <-exits:
			m.code = m.first.cmd.ProcessState.ExitCode()
			m.second = start(m) // as Supervisor or systemd would
		case <-time.After(60 * time.Second):
			t.Fatal("the processes did not all exit within 60s of reverbd restart")
		}
	}

	// Each process's turn, from its log: when it took the turn and when it had stopped.
	type turn struct {
		name        string
		took, ended time.Time
	}
	var turns []turn
	for _, m := range members {
		if m.code != 0 {
			t.Errorf("%s exited with %d, want 0:\n%s", m.name, m.code, m.first.log.String())
		}
		log := m.first.log.String()
		stopped := `msg="reverbd stopped"`
		if m.port == "" {
			stopped = `msg="reverbd worker stopped"`
		}
		turns = append(turns, turn{m.name, logTime(t, log, `msg="restart: this process's turn to drain and exit"`), logTime(t, log, stopped)})
	}
	sort.Slice(turns, func(i, j int) bool { return turns[i].took.Before(turns[j].took) })
	for i := 1; i < len(turns); i++ {
		prev, next := turns[i-1], turns[i]
		t.Logf("%s: turn %s, stopped %s later", prev.name, prev.took.Format("15:04:05.000"), prev.ended.Sub(prev.took).Round(time.Millisecond))
		// The logs' times are to the millisecond: a turn taken in the millisecond the process
		// before stopped is one after another.
		if next.took.Before(prev.ended) {
			t.Errorf("%s took its turn at %s, before %s had stopped (%s): not one after another",
				next.name, next.took.Format("15:04:05.000"), prev.name, prev.ended.Format("15:04:05.000"))
		}
	}
	// A node takes its turn once the node before it is back: after that node's new process
	// started.
	byName := map[string]*member{}
	for _, m := range members {
		byName[m.name] = m
	}
	var prev *member
	for _, tr := range turns {
		m := byName[tr.name]
		if m.port == "" {
			continue
		}
		if prev != nil {
			if back := logTime(t, prev.second.log.String(), `msg="reverbd started"`); tr.took.Before(back) { // to the millisecond, as above
				t.Errorf("%s took its turn at %s, before %s was back up (%s)", tr.name, tr.took.Format("15:04:05.000"), prev.name, back.Format("15:04:05.000"))
			}
		}
		prev = m
	}
	// The new processes saw the request's generation at start: they do not take a turn.
	time.Sleep(4 * restartPoll)
	for _, m := range members {
		if m.second.cmd.ProcessState != nil || strings.Contains(m.second.log.String(), "turn to drain") {
			t.Errorf("%s's new process restarted too:\n%s", m.name, m.second.log.String())
		}
	}
}

// With nothing of the deployment running, `reverbd restart` says so and exits 1.
func TestRestartClusterWithNoNode(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	code, _, stderr := runRestart(t, env, "--env-file", os.DevNull)
	if code != 1 || !strings.Contains(stderr, "no reverbd node of REVERB_SCALING_PREFIX=") {
		t.Errorf("exit %d, stderr %q; want 1 and that no node runs", code, stderr)
	}
}
