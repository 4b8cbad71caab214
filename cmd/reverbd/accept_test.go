package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fdLimit is the open-file limit the binary runs under in TestAcceptBackoff: a few dozen
// connections exhaust it.
const fdLimit = 64

// lockedBuffer is a bytes.Buffer safe to write from the child's output copier and read here.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// When the process runs out of file descriptors, accept fails with EMFILE: the node backs
// off and retries instead of stopping, logs the condition once for the whole burst, and
// once descriptors are free it serves WebSockets and GET /up again. The started line shows
// the configured host (0.0.0.0, not [::]).
func TestAcceptBackoff(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "reverbd")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	empty := filepath.Join(dir, ".env")
	if err := writeFile(empty, ""); err != nil {
		t.Fatal(err)
	}
	// ulimit -n sets the soft and the hard limit: Go cannot raise it at start.
	cmd := exec.Command("sh", "-c", `ulimit -n "$1" && exec "$2" start --env-file "$3"`, "sh",
		strconv.Itoa(fdLimit), binary, empty)
	cmd.Env = append(os.Environ(), "REVERB_APP_ID="+e2eID, "REVERB_APP_KEY="+e2eKey, "REVERB_APP_SECRET="+e2eSecret,
		"REVERB_SERVER_HOST=0.0.0.0", "REVERB_SERVER_PORT=0")
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("reverbd output:\n%s", logs.String())
		}
	})
	// The started line shows the configured host (0.0.0.0, not [::]) and the bound port.
	started := regexp.MustCompile(`reverbd started.* addr=0\.0\.0\.0:(\d+) `)
	var port string
	for deadline := time.Now().Add(10 * time.Second); port == ""; time.Sleep(20 * time.Millisecond) {
		if m := started.FindStringSubmatch(logs.String()); m != nil {
			port = m[1]
		} else if time.Now().After(deadline) {
			t.Fatal("no started line with addr=0.0.0.0:<port>")
		}
	}
	p := &process{addr: "127.0.0.1:" + port}
	waitUp(t, p, http.StatusOK)

	// Idle connections hold one descriptor each in the server until they send a request.
	var idle []net.Conn
	for range 2 * fdLimit {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitLog(t, &logs, "accept failing")
	// Hold them through several retries (5 ms doubling: eight within 1.3 s).
	time.Sleep(1500 * time.Millisecond)
	if n := strings.Count(logs.String(), "accept failing"); n != 1 {
		t.Errorf("the accept failure was logged %d times, want once for the burst", n)
	}
	select {
	case err := <-exited:
		t.Fatalf("reverbd exited while out of descriptors: %v", err)
	default:
	}
	for _, c := range idle {
		c.Close()
	}
	waitUp(t, p, http.StatusOK)
	c := p.dial(t)
	c.subscribe("orders")
	waitLog(t, &logs, "accepting again")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("reverbd stopped with %v", err)
	}
	exited <- nil // for the cleanup
}

// waitLog waits up to 10 s for a line containing s in logs.
func waitLog(t *testing.T, logs *lockedBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", s, logs.String())
		}
	}
}
