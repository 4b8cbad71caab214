package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
)

// defaultEnvFile is read when Load is given no env file name; unlike a named one, it may be missing.
const defaultEnvFile = ".env"

// readVars returns the variables Load works from: those of the env file, overlaid by environ
// (the process environment wins, as in Laravel), after Laravel's value rules. A variable
// missing from the map is unset, so its default applies.
func readVars(envFile string, environ []string) (map[string]string, error) {
	env := environMap(environ)
	file, err := readEnvFile(envFile, env)
	if err != nil {
		return nil, err
	}
	vars := make(map[string]string, len(file)+len(env))
	for k, v := range file {
		vars[k] = v
	}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range vars {
		if v, ok := laravelValue(v); ok {
			vars[k] = v
		} else {
			delete(vars, k)
		}
	}
	return vars, nil
}

// environMap turns os.Environ-style "KEY=value" entries into a map; a later entry wins.
func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// readEnvFile parses the env file named name, or ./.env when name is empty.
func readEnvFile(name string, env map[string]string) (map[string]string, error) {
	explicit := name != ""
	if !explicit {
		name = defaultEnvFile
	}
	src, err := os.ReadFile(name)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("config: env file: %w", err) // *fs.PathError names the file
	}
	vars, err := parseDotenv(src, env)
	if err != nil {
		return nil, fmt.Errorf("config: %s%w", name, err) // err starts with ":<line>: "
	}
	return vars, nil
}

// utf8BOM is the byte order mark some editors put at the start of a file; Laravel ignores it.
var utf8BOM = []byte("\xEF\xBB\xBF")

// Stand-ins for "$" and "\$" while godotenv parses; see parseDotenv. Both are private-use
// runes, which godotenv passes through untouched.
const (
	dollar        = "\uE000"
	escapedDollar = "\uE001"
)

// refPattern matches an escaped dollar, ${NAME} or $NAME in a value parsed with the stand-ins.
// Names are upper case, as godotenv's own expansion requires.
var refPattern = regexp.MustCompile(escapedDollar + `|` + dollar + `\{([A-Z0-9_]+)\}|` + dollar + `([A-Z0-9_]+)`)

// parseDotenv parses a .env file with godotenv and expands ${NAME} references the way Laravel
// does: from env first, then from the file.
//
// godotenv expands a reference only from variables defined earlier in the same file, and a
// reference it cannot resolve becomes "". So the file is parsed twice: once as it is, and once
// with every "$" replaced by a stand-in that godotenv leaves alone. Where the two results
// agree, godotenv expanded nothing (no reference, or a single-quoted value, which stays
// literal), and its value is kept. Where they differ, the references in the second result are
// expanded here, with env winning over the file.
func parseDotenv(src []byte, env map[string]string) (map[string]string, error) {
	src = bytes.TrimPrefix(src, utf8BOM)
	plain, err := godotenv.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, dotenvSyntaxError(err, src)
	}
	if bytes.Contains(src, []byte(dollar)) || bytes.Contains(src, []byte(escapedDollar)) {
		return plain, nil // the stand-ins would be ambiguous; keep godotenv's expansion
	}
	marked := bytes.ReplaceAll(src, []byte(`\$`), []byte(escapedDollar))
	marked = bytes.ReplaceAll(marked, []byte("$"), []byte(dollar))
	refs, err := godotenv.Parse(bytes.NewReader(marked))
	if err != nil {
		return nil, dotenvSyntaxError(err, marked)
	}
	vars := make(map[string]string, len(plain))
	for k, v := range plain {
		vars[k] = v
		if r, ok := refs[k]; ok && unmark(r) != v {
			vars[k] = expandRefs(r, env, plain)
		}
	}
	return vars, nil
}

// expandRefs replaces the references in v, a value parsed with the stand-ins, with their
// values from env, else file, else "".
func expandRefs(v string, env, file map[string]string) string {
	v = refPattern.ReplaceAllStringFunc(v, func(ref string) string {
		if ref == escapedDollar {
			return "$" // godotenv drops the backslash of \$ in unquoted and double-quoted values
		}
		m := refPattern.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if val, ok := env[name]; ok {
			return val
		}
		return file[name]
	})
	return strings.ReplaceAll(v, dollar, "$")
}

// unmark puts back what the stand-ins replaced.
func unmark(v string) string {
	v = strings.ReplaceAll(v, escapedDollar, `\$`)
	return strings.ReplaceAll(v, dollar, "$")
}

// dotenvSyntaxError turns a godotenv parse error of src into ":<line>: <VAR>: <problem>",
// without the text that follows the mistake, which may hold a secret (godotenv quotes the
// rest of the line or of the file).
//
// godotenv stops at the first bad statement and reports no position, so it is found from
// what the error says: an unterminated quoted value starts at the last unescaped quote of
// its kind in the file (godotenv searched the whole rest of the file for its closing quote);
// a bad variable name starts where the rest of the file that godotenv quotes starts.
func dotenvSyntaxError(err error, src []byte) error {
	msg := err.Error()
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n")) // as godotenv reads it
	if rest, ok := strings.CutPrefix(msg, "unterminated quoted value "); ok && rest != "" {
		if at := lastUnescaped(src, rest[0]); at > 0 {
			return fmt.Errorf(":%d: %s: unterminated quoted value (the %c that opens it is never closed)",
				lineOf(src, at), keyBefore(src, at), rest[0])
		}
		return errors.New(": unterminated quoted value")
	}
	problem, near, _ := strings.Cut(msg, " near ")
	if !strings.Contains(problem, "in variable name") {
		return errors.New(": " + problem)
	}
	rest, uerr := strconv.Unquote(near)
	if uerr != nil || len(rest) > len(src) {
		return errors.New(": " + problem)
	}
	at := len(src) - len(rest)
	line, _, _ := strings.Cut(rest, "\n")
	name, _, hasEquals := strings.Cut(line, "=")
	if !hasEquals {
		if name, _, hasEquals = strings.Cut(line, ":"); !hasEquals {
			// The whole line is one word; it may be a value pasted on its own, so it is not echoed.
			return fmt.Errorf(":%d: the line has no \"=\" (expected NAME=value)", lineOf(src, at))
		}
	}
	return fmt.Errorf(":%d: %s: %s", lineOf(src, at), strings.TrimSpace(name), problem)
}

// lastUnescaped returns the index of the last quote in src that no backslash precedes, or -1.
func lastUnescaped(src []byte, quote byte) int {
	for i := len(src) - 1; i > 0; i-- {
		if src[i] == quote && src[i-1] != '\\' {
			return i
		}
	}
	return -1
}

// lineOf returns the 1-based line of src that holds byte at.
func lineOf(src []byte, at int) int { return 1 + bytes.Count(src[:at], []byte("\n")) }

// keyBefore returns the variable name of the statement whose value starts at byte at: the
// text of that line before the value, less the "=" (or ":") and an "export " prefix.
func keyBefore(src []byte, at int) string {
	start := bytes.LastIndexByte(src[:at], '\n') + 1
	key := strings.TrimSpace(string(src[start:at]))
	key = strings.TrimSpace(strings.TrimRight(key, "=:"))
	if k, ok := strings.CutPrefix(key, "export"); ok && k != strings.TrimLeft(k, " \t") {
		key = strings.TrimSpace(k)
	}
	return key
}

// laravelValue applies the rules of Laravel's env() helper (Illuminate\Support\Env::get) to
// one value. ok is false when the variable counts as unset: null, (null) or empty.
func laravelValue(v string) (value string, ok bool) {
	switch strings.ToLower(v) {
	case "true", "(true)":
		return "true", true
	case "false", "(false)":
		return "false", true
	case "empty", "(empty)":
		return "", true // set, but empty: the default does not apply
	case "null", "(null)", "":
		return "", false
	}
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return v, v != ""
}
