package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the binary that the tests of separate processes share (startBinary) once
// every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if binaryPath != "" {
		_ = os.RemoveAll(filepath.Dir(binaryPath))
	}
	os.Exit(code)
}
