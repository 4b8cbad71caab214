package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stream of `go test -json` as Go 1.26 writes it: a skipped test that logged before its
// skip, a skipped subtest, a failed test, a benchmark and the package lines.
const stream = `{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestA","Output":"    a_test.go:3: hello\n"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestA","Output":"    redistest.go:29: REDIS_URL is not set\n"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}
{"Action":"skip","Package":"github.com/reverbd/reverbd/registry","Test":"TestA"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestB/sub","Output":"    b_test.go:9: redis-server is not installed\n"}
{"Action":"skip","Package":"github.com/reverbd/reverbd/registry","Test":"TestB/sub"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestC","Output":"=== RUN   TestC\n"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestC","Output":"    c_test.go:4: boom\n"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestC","Output":"--- FAIL: TestC (0.00s)\n"}
{"Action":"fail","Package":"github.com/reverbd/reverbd/registry","Test":"TestC"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"TestD","Output":"--- PASS: TestD (0.00s)\n"}
{"Action":"pass","Package":"github.com/reverbd/reverbd/registry","Test":"TestD"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"BenchmarkX","Output":"BenchmarkX-2   \t"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Test":"BenchmarkX","Output":"       1\t       232.0 ns/op\n"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry/redistest","Output":"?   \tgithub.com/reverbd/reverbd/registry/redistest\t[no test files]\n"}
{"Action":"skip","Package":"github.com/reverbd/reverbd/registry/redistest"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Output":"FAIL\n"}
{"Action":"output","Package":"github.com/reverbd/reverbd/registry","Output":"FAIL\tgithub.com/reverbd/reverbd/registry\t0.01s\n"}
{"Action":"fail","Package":"github.com/reverbd/reverbd/registry"}
`

func TestReport(t *testing.T) {
	var out strings.Builder
	skips, failed, err := report(strings.NewReader(stream), &out)
	if err != nil || !failed {
		t.Fatalf("failed = %v, err = %v; want a failure", failed, err)
	}
	wantOut := "    c_test.go:4: boom\n--- FAIL: TestC (0.00s)\n" +
		"BenchmarkX-2   \t       1\t       232.0 ns/op\n" +
		"?   \tgithub.com/reverbd/reverbd/registry/redistest\t[no test files]\n" +
		"FAIL\nFAIL\tgithub.com/reverbd/reverbd/registry\t0.01s\n"
	if out.String() != wantOut {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	wantSkips := []string{
		"go test\tregistry.TestA\tREDIS_URL is not set\n",
		"go test\tregistry.TestB/sub\tredis-server is not installed\n",
	}
	if strings.Join(skips, "") != strings.Join(wantSkips, "") {
		t.Errorf("skips = %q, want %q", skips, wantSkips)
	}

	path := filepath.Join(t.TempDir(), "skipped.txt")
	if err := os.WriteFile(path, []byte(strings.Join(append(skips, "e2e\tRedis pass\tno Redis\n"), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	var summary strings.Builder
	if err := printSummary(&summary, path); err != nil {
		t.Fatal(err)
	}
	wantSummary := `Skipped (3):
  e2e: no Redis (1)
      Redis pass
  go test: REDIS_URL is not set (1)
      registry.TestA
  go test: redis-server is not installed (1)
      registry.TestB/sub
`
	if summary.String() != wantSummary {
		t.Errorf("summary:\n%s\nwant:\n%s", summary.String(), wantSummary)
	}
}
