package main

import (
	"os"
	"os/exec"
	"testing"
)

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o600) }

// startUntilTestEnds starts cmd and kills it when the test ends.
func startUntilTestEnds(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// startWatched starts cmd and returns a channel closed once it has exited; stopping it is
// the caller's.
func startWatched(t *testing.T, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return exited
}
