// Package redistest gives tests a real Redis: the shared one named by REDIS_URL, or a private
// redis-server a test can stop and start again. Without REDIS_URL a test is skipped, except
// under CI=true, where a missing Redis fails it.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL returns REDIS_URL, skipping the test when it is unset (failing it under CI=true).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	switch {
	case u != "":
		return u
	case os.Getenv("CI") == "true":
		t.Fatal("REDIS_URL is not set; CI runs every Redis test")
	default:
		t.Skip("REDIS_URL is not set")
	}
	return ""
}

// Client returns a client of REDIS_URL that is closed with the test. The test fails when
// Redis does not answer.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true // as reverbd builds its clients: a context's deadline applies
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at REDIS_URL does not answer: %v", err)
	}
	return c
}

var seq atomic.Uint64

// Name returns a name unique to this test run, for queue names and key prefixes, so tests
// sharing one Redis database never see each other's keys.
func Name(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "-")
	return fmt.Sprintf("test-%s-%d-%d", r.Replace(t.Name()), os.Getpid(), seq.Add(1))
}

// Server is a private redis-server process on a loopback port, for tests that stop Redis.
type Server struct {
	t    testing.TB
	Port int
	cmd  *exec.Cmd
}

// StartServer starts a private redis-server (no persistence) and stops it with the test.
// It needs the redis-server binary; without it the test is skipped, or fails under CI=true.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; CI runs every Redis test")
		}
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{t: t, Port: port}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the redis:// URL of the private server.
func (s *Server) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(s.Port) + "/0" }

// Client returns a client of the private server that is closed with the test. Like reverbd's
// clients it honours a context's deadline; it does not retry a command that failed.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:" + strconv.Itoa(s.Port), MaxRetries: -1, ContextTimeoutEnabled: true,
	})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Start starts the server (again) on its port and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--logfile", "")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(s.Port)})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not answer within 10s", s.Port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit; stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
