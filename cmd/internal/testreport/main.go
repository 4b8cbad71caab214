// Command testreport reads `go test -json` on stdin and prints it the way plain `go test`
// does: one line per package, and the output of failed tests in full. It also prints the
// output of benchmarks. Skipped tests are appended to a file with their reason, and
// `testreport -summary FILE` lists them grouped by reason, so `make test` ends by saying
// what did not run and why. It exits 1 when a test or a build failed.
//
//	go test -json ./... | testreport -skipped bin/test-skipped.txt
//	testreport -summary bin/test-skipped.txt
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// module is stripped from package names in the summary.
const module = "github.com/reverbd/reverbd/"

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action     string
	Package    string
	ImportPath string // build events
	Test       string
	Output     string
}

func main() {
	skipped := flag.String("skipped", "", "file to append skipped tests to (one per line: kind, name, reason, tab-separated)")
	summary := flag.String("summary", "", "print the skipped tests listed in this file, grouped by reason, and exit")
	flag.Parse()
	if *summary != "" {
		if err := printSummary(os.Stdout, *summary); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
		return
	}
	skips, failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	if *skipped != "" && len(skips) > 0 {
		f, err := os.OpenFile(*skipped, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = io.WriteString(f, strings.Join(skips, ""))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// logLine is a line a test logged (t.Log, t.Skip): "    file_test.go:12: text".
var logLine = regexp.MustCompile(`^ {4}\S+\.go:\d+: (.*)`)

// report copies the stream to w as plain `go test` would print it and returns the skipped
// tests as summary lines, and whether anything failed.
func report(r io.Reader, w io.Writer) (skips []string, failed bool, err error) {
	output := make(map[string]*strings.Builder) // package + test → its output so far
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		var e event
		if json.Unmarshal(in.Bytes(), &e) != nil {
			fmt.Fprintln(w, in.Text()) // not an event: pass it on
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "build-fail":
			failed = true
		case e.Test == "" && e.Action == "output":
			if e.Output != "PASS\n" {
				fmt.Fprint(w, e.Output)
			}
		case e.Test == "" && e.Action == "fail":
			failed = true
		case e.Test == "":
			// start, pass, and skip (a package without test files): nothing to say
		case e.Action == "output" && strings.HasPrefix(e.Test, "Benchmark"):
			if !strings.HasPrefix(e.Output, "=== ") && e.Output != e.Test+"\n" {
				fmt.Fprint(w, e.Output)
			}
			fallthrough
		case e.Action == "output":
			b := output[key]
			if b == nil {
				b = new(strings.Builder)
				output[key] = b
			}
			b.WriteString(e.Output)
		case e.Action == "fail":
			failed = true
			if b := output[key]; b != nil && !strings.HasPrefix(e.Test, "Benchmark") {
				for line := range strings.Lines(b.String()) {
					if !strings.HasPrefix(line, "=== ") { // RUN, PAUSE, CONT, NAME
						fmt.Fprint(w, line)
					}
				}
			}
			delete(output, key)
		case e.Action == "skip":
			name := strings.TrimPrefix(e.Package, module) + "." + e.Test
			skips = append(skips, "go test\t"+name+"\t"+skipReason(output[key])+"\n")
			delete(output, key)
		case e.Action == "pass":
			delete(output, key)
		}
	}
	return skips, failed, in.Err()
}

// skipReason is the last line the test logged before its "--- SKIP" line: t.Skip's message.
func skipReason(out *strings.Builder) string {
	if out == nil {
		return "no reason given"
	}
	reason := "no reason given"
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(line, "--- SKIP") {
			break
		}
		if m := logLine.FindStringSubmatch(strings.TrimRight(line, "\n")); m != nil {
			reason = m[1]
		}
	}
	return reason
}

// printSummary lists the skipped tests of the file, grouped by reason.
func printSummary(w io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		fmt.Fprintln(w, "Skipped: nothing.")
		return nil
	}
	if err != nil {
		return err
	}
	byReason := make(map[string][]string)
	total := 0
	for line := range strings.Lines(string(data)) {
		kind, rest, _ := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		name, reason, _ := strings.Cut(rest, "\t")
		byReason[kind+": "+reason] = append(byReason[kind+": "+reason], name)
		total++
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	fmt.Fprintf(w, "Skipped (%d):\n", total)
	for _, r := range reasons {
		names := byReason[r]
		sort.Strings(names)
		fmt.Fprintf(w, "  %s (%d)\n", r, len(names))
		for _, n := range names {
			fmt.Fprintf(w, "      %s\n", n)
		}
	}
	return nil
}
