package config

import (
	"reflect"
	"testing"

	"github.com/joho/godotenv"
)

// envExample is the repository's .env.example, relative to this package.
const envExample = "../.env.example"

// TestEnvExampleLoads checks that a fresh copy of .env.example starts a working server.
func TestEnvExampleLoads(t *testing.T) {
	t.Parallel()
	c, err := Load(envExample, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", envExample, err)
	}
	if c.ServerPort != 8080 || c.QueueConnection != "memory" || len(c.Apps) != 1 || c.Apps[0].ID != "1001" {
		t.Errorf("%s: port %d, queue %q, apps %v", envExample, c.ServerPort, c.QueueConnection, c.Apps)
	}
}

// TestEnvExampleListsEveryVariable keeps .env.example in step with Config: every envconfig tag
// must appear in it with its default, and it must hold no variable Config does not read.
func TestEnvExampleListsEveryVariable(t *testing.T) {
	t.Parallel()
	vars, err := godotenv.Read(envExample)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key := f.Tag.Get("envconfig")
		if key == "" {
			continue
		}
		tags[key] = true
		v, ok := vars[key]
		if !ok {
			t.Errorf("%s (Config.%s) is missing from %s", key, f.Name, envExample)
			continue
		}
		if def, ok := f.Tag.Lookup("default"); ok && v != def {
			t.Errorf("%s=%s in %s, but its default is %q", key, v, envExample, def)
		}
	}
	for key := range vars {
		if !tags[key] {
			t.Errorf("%s in %s is not read by Config", key, envExample)
		}
	}
}
