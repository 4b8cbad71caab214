package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testCatalogue is the seed's catalogue with a presence kind, a cache channel and the other
// placeholder types.
const testCatalogue = `# The example app's channels.
- {name: tenant, pattern: "tenant.{id}", kind: [private, presence]}
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}
- {name: user, pattern: "user.{id}", kind: private}
- {name: order, pattern: "order.{id}", kind: private, cache: true}
- {name: room, pattern: "room.{room:uuid}", kind: presence}
- {name: team, pattern: "team.{team:slug}.{code:re:[A-Z]{3}}", kind: [public, encrypted]}
- {name: quote, pattern: "quote.{default:re:[a-z'~]+}", kind: public}
`

// catalogueFile writes a catalogue into a temporary directory.
func catalogueFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := writeFile(path, content); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestChannelsCheck(t *testing.T) {
	good := catalogueFile(t, "channels.yaml", testCatalogue)
	code, stdout, stderr := runCommand("channels", "check", good)
	if code != 0 || stderr != "" || !strings.Contains(stdout, "tenant               private-tenant.{id} presence-tenant.{id}\n") ||
		!strings.Contains(stdout, "order                private-cache-order.{id}\n") || !strings.HasSuffix(stdout, good+": 7 entries, no problem\n") {
		t.Errorf("check good: %d\n%s\n%s", code, stdout, stderr)
	}

	bad := catalogueFile(t, "channels.json", `[
  {"name": "tenant", "pattern": "tenant.{id}", "kind": "private"},
  {"name": "tenant-any", "pattern": "private-tenant.{key:slug}", "kind": "private"},
  {"name": "user", "pattern": "user.{id", "kind": "private"}
]`)
	code, stdout, stderr = runCommand("channels", "check", bad)
	if code != 1 || stdout != "" || stderr != bad+`: entry 3 (user, line 4): pattern "user.{id": the placeholder at 6 has no closing }`+"\nreverbd: "+bad+": 1 problem\n" {
		t.Errorf("check unparsable: %d\n%s\n%s", code, stdout, stderr)
	}
	if err := writeFile(bad, strings.Replace(readFile(t, bad), "user.{id", "user.{id}", 1)); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCommand("channels", "check", bad)
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != 1 || len(lines) != 3 || !strings.HasPrefix(lines[0], bad+`: entry 2 (tenant-any, line 3): the name "tenant-any" is not an identifier`) ||
		!strings.HasPrefix(lines[1], bad+`: entry 2 (tenant-any, line 3): the pattern "private-tenant.{key:slug}" starts with the wire prefix "private-"`) ||
		lines[2] != "reverbd: "+bad+": 2 problems" {
		t.Errorf("check problems: %d\n%s", code, stderr)
	}

	overlapping := catalogueFile(t, "channels.yaml", testCatalogue+`- {name: tenantSlug, pattern: "tenant.{key:re:[0-9a-z]+}", kind: presence}`+"\n")
	code, _, stderr = runCommand("channels", "check", overlapping)
	if code != 1 || !strings.Contains(stderr, `entry 8 (tenantSlug, line 9): the pattern "tenant.{key:re:[0-9a-z]+}" overlaps "tenant.{id}" of entry 1 (tenant, line 2): both match "tenant.0" as presence ("presence-tenant.0")`) {
		t.Errorf("check overlap: %d\n%s", code, stderr)
	}

	code, _, stderr = runCommand("channels", "check", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("check missing: %d\n%s", code, stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestChannelsCheckFindsTheFileInTheEnvFile(t *testing.T) {
	good := catalogueFile(t, "channels.yaml", testCatalogue)
	env := appEnvFile(t, "REVERB_CHANNELS_FILE="+good)
	if code, stdout, stderr := runCommand("channels", "check", "--env-file", env); code != 0 || !strings.HasSuffix(stdout, good+": 7 entries, no problem\n") {
		t.Errorf("from --env-file: %d\n%s\n%s", code, stdout, stderr)
	}
	// FILE wins, flags go before or after it.
	other := catalogueFile(t, "other.yaml", "- {name: a, pattern: a, kind: public}\n")
	if code, stdout, stderr := runCommand("channels", "check", other, "--env-file", env); code != 0 || !strings.HasSuffix(stdout, other+": 1 entry, no problem\n") {
		t.Errorf("FILE and --env-file: %d\n%s\n%s", code, stdout, stderr)
	}
	if os.Getenv("REVERB_CHANNELS_FILE") == "" {
		if code, _, stderr := runCommand("channels", "check", "--env-file", appEnvFile(t)); code != 1 || !strings.Contains(stderr, "no catalogue: give its FILE or set REVERB_CHANNELS_FILE") {
			t.Errorf("no catalogue: %d\n%s", code, stderr)
		}
	}
}

func TestChannelsUsage(t *testing.T) {
	// `reverbd channels` alone lists the live channels (channels_list_test.go).
	for _, args := range [][]string{
		{"channels", "frobnicate"},
		{"channels", "check", "a.yaml", "b.yaml"},
		{"channels", "check", "--bogus"},
		{"channels", "generate"},
		{"channels", "generate", "go"},
		{"channels", "generate", "php", "--namespace", "App/Broadcasting", "x.yaml"},
		{"channels", "generate", "php", "--class", "Channel-Registry", "x.yaml"},
		{"channels", "generate", "ts", "--namespace", "X", "x.yaml"},
	} {
		if code, stdout, stderr := runCommand(args...); code != 2 || stdout != "" || !strings.Contains(stderr, "Usage") && !strings.Contains(stderr, "--namespace") && !strings.Contains(stderr, "--class") {
			t.Errorf("%q: %d\n%s\n%s", args, code, stdout, stderr)
		}
	}
	if code, _, stderr := runCommand("channels", "check", "--help"); code != 0 || !strings.Contains(stderr, "Usage: reverbd channels check [--env-file PATH] [FILE]") {
		t.Errorf("--help: %d\n%s", code, stderr)
	}
}

func TestChannelsGenerateIsStable(t *testing.T) {
	path := catalogueFile(t, "channels.yaml", testCatalogue)
	for _, lang := range []string{"php", "ts"} {
		code, first, stderr := runCommand("channels", "generate", lang, path)
		if code != 0 || stderr != "" {
			t.Fatalf("generate %s: %d %s", lang, code, stderr)
		}
		out := filepath.Join(t.TempDir(), "out."+lang)
		if code, stdout, stderr := runCommand("channels", "generate", lang, "--out", out, path); code != 0 || stdout != "" || stderr != "" {
			t.Fatalf("generate %s --out: %d %s %s", lang, code, stdout, stderr)
		}
		if second := readFile(t, out); second != first {
			t.Errorf("generate %s: two runs differ:\n%s\n%s", lang, first, second)
		}
		header := "Generated by `reverbd channels generate " + lang
		if lang == "php" {
			header += ` --namespace 'App\Broadcasting' --class ChannelRegistry`
		}
		header += " " + path + "`\n// from the channel catalogue " + path + ". Do not edit"
		if !strings.Contains(first, header) {
			t.Errorf("generate %s: the header does not say %q:\n%s", lang, header, first)
		}
	}
	code, stdout, stderr := runCommand("channels", "generate", "php", "--namespace", `Acme\Realtime`, "--class", "Channels", path)
	if code != 0 || !strings.Contains(stdout, "\nnamespace Acme\\Realtime;\n") || !strings.Contains(stdout, "\nfinal class Channels\n") {
		t.Errorf("--namespace --class: %d\n%s\n%s", code, stdout, stderr)
	}
	// A catalogue with problems generates nothing.
	bad := catalogueFile(t, "channels.yaml", testCatalogue+"- {name: tenant, pattern: \"x.{id}\", kind: private}\n")
	if code, stdout, stderr := runCommand("channels", "generate", "ts", bad); code != 1 || stdout != "" || !strings.Contains(stderr, `the name "tenant" is already the name of entry 1`) {
		t.Errorf("generate with problems: %d\n%s\n%s", code, stdout, stderr)
	}
}

// requireTool returns a program's path; a missing one skips the test, or fails it under
// CI=true.
func requireTool(t *testing.T, name, path string) string {
	t.Helper()
	if path == "" {
		path = name
	}
	found, err := exec.LookPath(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (%v); CI runs this test", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return found
}

func TestChannelsGeneratedPHP(t *testing.T) {
	php := requireTool(t, "php", "")
	path := catalogueFile(t, "channels.yaml", testCatalogue)
	out := filepath.Join(t.TempDir(), "ChannelRegistry.php")
	if code, _, stderr := runCommand("channels", "generate", "php", "--out", out, path); code != 0 {
		t.Fatalf("generate: %d %s", code, stderr)
	}
	script := `declare(strict_types=1);
require $argv[1];
use App\Broadcasting\ChannelRegistry;
echo ChannelRegistry::TENANT_CHANNEL_PATTERN, "\n";
echo ChannelRegistry::TENANT_ADMINS_CHANNEL_PATTERN, "\n";
echo ChannelRegistry::ROOM_CHANNEL_PATTERN, "\n";
echo ChannelRegistry::TEAM_CHANNEL_PATTERN, "\n";
echo ChannelRegistry::tenant(5), "\n";
echo ChannelRegistry::tenantAdmins(5), "\n";
echo ChannelRegistry::user(42), "\n";
echo ChannelRegistry::order(7), "\n";
echo ChannelRegistry::room('123e4567-e89b-12d3-a456-426614174000'), "\n";
echo ChannelRegistry::team('my-team', 'ABC'), "\n";
echo ChannelRegistry::quote("it's~"), "\n";
foreach ([fn () => ChannelRegistry::tenant(-1), fn () => ChannelRegistry::room('nope'), fn () => ChannelRegistry::team('My team', 'ABC'), fn () => ChannelRegistry::team('a', 'ABCD'), fn () => ChannelRegistry::tenant('5')] as $bad) {
    try { $bad(); echo "accepted\n"; } catch (\InvalidArgumentException $e) { echo $e->getMessage(), "\n"; } catch (\TypeError $e) { echo "TypeError\n"; }
}
`
	cmd := exec.Command(php, "-d", "display_errors=stderr", "-r", script, out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("php: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	want := `tenant.{id}
tenant.{id}.admins
room.{room}
team.{team}.{code}
tenant.5
tenant.5.admins
user.42
order.7
room.123e4567-e89b-12d3-a456-426614174000
team.my-team.ABC
quote.it's~
tenant: $id is 0 or more, not -1
room: $room is {room:uuid}, not nope
team: $team is {team:slug}, not My team
team: $code is {code:re:[A-Z]{3}}, not ABCD
TypeError
`
	if stdout.String() != want {
		t.Errorf("php printed:\n%s\nwant:\n%s", stdout.String(), want)
	}
}

func TestChannelsGeneratedTypeScript(t *testing.T) {
	node := requireTool(t, "node", "")
	tsc := requireTool(t, "tsc", filepath.Join("..", "..", "e2e", "node_modules", ".bin", "tsc"))
	path := catalogueFile(t, "channels.yaml", testCatalogue)
	dir := t.TempDir()
	if code, _, stderr := runCommand("channels", "generate", "ts", "--out", filepath.Join(dir, "channels.ts"), path); code != 0 {
		t.Fatalf("generate: %d %s", code, stderr)
	}
	use := `import { channels, channelKinds, channelPatterns, type ChannelKind } from "./channels";
const kind: ChannelKind = channelKinds.tenant[1];
const name: ` + "`tenant.${number}.admins`" + ` = channels.tenantAdmins(5);
for (const line of [
  channelPatterns.tenantAdmins, channelPatterns.room, kind, channelKinds.team.join(","),
  channels.tenant(5), name, channels.user(42), channels.order(7),
  channels.room("123e4567-e89b-12d3-a456-426614174000"), channels.team("my-team", "ABC"), channels.quote("it's~"),
]) {
  console.log(line);
}
for (const bad of [() => channels.tenant(-1), () => channels.tenant(1.5), () => channels.room("nope"), () => channels.team("a", "ABCD")]) {
  try {
    bad();
    console.log("accepted");
  } catch (e) {
    console.log((e as Error).message);
  }
}
`
	if err := writeFile(filepath.Join(dir, "use.ts"), use); err != nil {
		t.Fatal(err)
	}
	compile := func(files ...string) (string, error) {
		args := append([]string{"--strict", "--target", "es2020", "--module", "commonjs", "--outDir", filepath.Join(dir, "js")}, files...)
		b, err := exec.Command(tsc, args...).CombinedOutput()
		return string(b), err
	}
	if out, err := compile(filepath.Join(dir, "use.ts")); err != nil {
		t.Fatalf("tsc --strict: %v\n%s", err, out)
	}
	out, err := exec.Command(node, filepath.Join(dir, "js", "use.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := `tenant.{id}.admins
room.{room}
presence
public,encrypted
tenant.5
tenant.5.admins
user.42
order.7
room.123e4567-e89b-12d3-a456-426614174000
team.my-team.ABC
quote.it's~
tenant: id is an integer, 0 or more, not -1
tenant: id is an integer, 0 or more, not 1.5
room: room does not match /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/: "nope"
team: code does not match /^(?:[A-Z]{3})$/: "ABCD"
`
	if string(out) != want {
		t.Errorf("node printed:\n%s\nwant:\n%s", out, want)
	}
	// A misspelled channel or a string for a number does not compile.
	for _, wrong := range []string{`channels.tenantAdmin(5);`, `channels.tenant("5");`, "const n: `user.${number}` = channels.tenant(5);"} {
		file := filepath.Join(dir, "wrong.ts")
		if err := writeFile(file, `import { channels } from "./channels";`+"\n"+wrong+"\n"); err != nil {
			t.Fatal(err)
		}
		if out, err := compile(file); err == nil || !strings.Contains(out, "error TS") {
			t.Errorf("tsc compiled %s: %v\n%s", wrong, err, out)
		}
	}
}
