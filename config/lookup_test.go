package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLookupVar(t *testing.T) {
	env := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(env, []byte("REVERB_CHANNELS_FILE=\"channels.yaml\"\nOTHER=null\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := LookupVar(env, nil, "REVERB_CHANNELS_FILE"); err != nil || !ok || v != "channels.yaml" {
		t.Errorf("from the file: %q, %v, %v", v, ok, err)
	}
	if v, ok, err := LookupVar(env, []string{"REVERB_CHANNELS_FILE=other.yaml"}, "REVERB_CHANNELS_FILE"); err != nil || !ok || v != "other.yaml" {
		t.Errorf("the environment wins: %q, %v, %v", v, ok, err)
	}
	if _, ok, err := LookupVar(env, nil, "MISSING"); err != nil || ok {
		t.Errorf("missing: %v, %v", ok, err)
	}
	if _, _, err := LookupVar(filepath.Join(t.TempDir(), "none"), nil, "X"); err == nil {
		t.Error("a named env file that does not exist is no error")
	}
}
