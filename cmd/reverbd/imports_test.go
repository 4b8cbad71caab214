package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The rooms api, ws and jobs meet only in registry and config; only cmd/reverbd wires them.
// This test keeps the import graph that way.
func TestRoomsDoNotImportEachOther(t *testing.T) {
	const module = "github.com/reverbd/reverbd/"
	forbidden := map[string][]string{
		"api":      {"ws", "jobs", "cmd"},
		"ws":       {"api", "jobs", "cmd"},
		"jobs":     {"api", "ws", "cmd"},
		"registry": {"api", "ws", "jobs", "cmd"},
		"config":   {"api", "ws", "jobs", "registry", "cmd"},
		// The metrics are counted by api, ws and jobs alike, and know none of them.
		"registry/metrics": {"api", "ws", "jobs", "cmd", "registry"},
	}
	for room, banned := range forbidden {
		files, err := filepath.Glob(filepath.Join("..", "..", room, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", room, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, b := range banned {
					if path == module+b || strings.HasPrefix(path, module+b+"/") {
						t.Errorf("%s imports %s: %s may not depend on %s", file, path, room, b)
					}
				}
			}
		}
	}
}
