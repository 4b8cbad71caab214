package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLaravelValues(t *testing.T) {
	t.Parallel()
	queueName := func(c *Config) any { return c.QueueName }
	port := func(c *Config) any { return c.ServerPort }
	debug := func(c *Config) any { return c.Debug }
	tests := []struct {
		name    string
		dotenv  string   // the env file
		environ []string // added to appEnv()
		got     func(*Config) any
		want    any
	}{
		{"null is unset", "REVERB_SERVER_PORT=null", nil, port, 8080},
		{"(null) is unset", "REVERB_QUEUE_NAME=(null)", nil, queueName, "broadcasts"},
		{"NULL is unset", "REVERB_QUEUE_NAME=NULL", nil, queueName, "broadcasts"},
		{"empty value is unset", "REVERB_SERVER_PORT=", nil, port, 8080},
		{"empty quoted value is unset", `REVERB_SERVER_PORT=""`, nil, port, 8080},
		{"null in environment is unset", "", []string{"REVERB_SERVER_PORT=null"}, port, 8080},
		{"empty environment value wins, then is unset", "REVERB_SERVER_PORT=9000", []string{"REVERB_SERVER_PORT="}, port, 8080},
		{"empty is the empty string", "REVERB_SCHEME=empty", nil, func(c *Config) any { return c.Scheme }, ""},
		{"(empty) is the empty string", "REVERB_APP_ALLOWED_ORIGINS=(empty)", nil, func(c *Config) any { return len(c.Apps[0].AllowedOrigins) }, 0},
		{"(true)", "REVERB_DEBUG=(true)", nil, debug, true},
		{"TRUE", "REVERB_APP_RATE_LIMITING_ENABLED=TRUE", nil, func(c *Config) any { return c.Apps[0].RateLimiting.Enabled }, true},
		{"(false)", "REVERB_DEBUG=(false)", []string{}, debug, false},
		{"(true) in environment", "", []string{"REVERB_DEBUG=(true)"}, debug, true},
		{"double quotes", `REVERB_SERVER_HOST="127.0.0.1"`, nil, func(c *Config) any { return c.ServerHost }, "127.0.0.1"},
		{"single quotes", `REVERB_QUEUE_NAME='my queue'`, nil, queueName, "my queue"},
		{"quotes in environment", "", []string{`REVERB_QUEUE_NAME="q"`}, queueName, "q"},
		{"trailing comment", "REVERB_SERVER_PORT=9000 # the port", nil, port, 9000},
		{"hash inside quotes", `REVERB_QUEUE_NAME="a # b"`, nil, queueName, "a # b"},
		{"comment lines", "# REVERB_SERVER_PORT=1\n\nREVERB_SERVER_PORT=9002", nil, port, 9002},
		{"export", "export REVERB_QUEUE_TIMEOUT=45s", nil, func(c *Config) any { return c.QueueTimeout }, 45 * time.Second},
		{"${VAR} from the file", "BASE=q\nREVERB_QUEUE_NAME=\"${BASE}-x\"", nil, queueName, "q-x"},
		{"$VAR unquoted", "BASE=q\nREVERB_QUEUE_NAME=$BASE", nil, queueName, "q"},
		{"${VAR} from the environment", "REVERB_QUEUE_NAME=${PREFIX}-b", []string{"PREFIX=env"}, queueName, "env-b"},
		{"${VAR} environment wins over file", "BASE=file\nREVERB_QUEUE_NAME=\"${BASE}\"", []string{"BASE=env"}, queueName, "env"},
		{"${VAR} undefined is empty", "REVERB_QUEUE_NAME=a${NOPE}b", nil, queueName, "ab"},
		{"single quotes stay literal", "BASE=q\nREVERB_QUEUE_NAME='${BASE}'", []string{"BASE=env"}, queueName, "${BASE}"},
		{"escaped dollar", "BASE=q\nREVERB_QUEUE_NAME=\"\\${BASE} is ${BASE}\"", []string{"BASE=env"}, queueName, "${BASE} is env"},
		{"lone dollars", "REVERB_QUEUE_NAME=pa$$word", nil, queueName, "pa$$word"},
		{"environment wins", "REVERB_QUEUE_NAME=file", []string{"REVERB_QUEUE_NAME=env"}, queueName, "env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadEnv(t, tt.dotenv, appEnv(tt.environ...))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLaravelValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"x", "x", true},
		{"true", "true", true},
		{"(TRUE)", "true", true},
		{"False", "false", true},
		{"(false)", "false", true},
		{"empty", "", true},
		{"(empty)", "", true},
		{"null", "", false},
		{"(null)", "", false},
		{"", "", false},
		{`""`, "", false},
		{`"a b"`, "a b", true},
		{`'a'`, "a", true},
		{`"a'`, `"a'`, true},
		{`"`, `"`, true},
	}
	for _, tt := range tests {
		got, ok := laravelValue(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("laravelValue(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

// TestLoadEnvFileErrorsNameLineAndVariable checks that a syntax error in the env file says
// where it is (file, line, variable) and never echoes the value.
func TestLoadEnvFileErrorsNameLineAndVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		dotenv string
		want   string // after "config: <file>"
	}{
		{"unterminated double quote",
			"# comment\nREVERB_SERVER_PORT=9000\n\nREVERB_APP_SECRET=\"" + testSecret + "\nREVERB_DEBUG=true\n",
			`:4: REVERB_APP_SECRET: unterminated quoted value (the " that opens it is never closed)`},
		{"unterminated single quote after a multi-line value",
			"A=\"one\ntwo\"\nB='x'\nexport  REVERB_APP_SECRET='" + testSecret + "\n",
			`:4: REVERB_APP_SECRET: unterminated quoted value (the ' that opens it is never closed)`},
		{"escaped quote inside the value", "REVERB_APP_SECRET=\"" + testSecret + `\"` + "\n",
			`:1: REVERB_APP_SECRET: unterminated quoted value`},
		{"CRLF line ends", "A=1\r\nB=2\r\nREVERB_APP_SECRET=\"" + testSecret + "\r\n",
			`:3: REVERB_APP_SECRET: unterminated quoted value`},
		{"bad variable name", "REVERB_APP_SECRET=" + testSecret + "\n\nBAD(NAME)=" + testSecret + "\n",
			`:3: BAD(NAME): unexpected character "(" in variable name`},
		{"yaml-style separator", "A=1\nBAD-NAME: 2\n", `:2: BAD-NAME: unexpected character "-" in variable name`},
		{"a line without =", "A=1\n" + testSecret + "\nB=2\n", `:2: the line has no "=" (expected NAME=value)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, ".env", tt.dotenv)
			_, err := Load(path, appEnv())
			wantError(t, err, "config: "+path+tt.want)
		})
	}
}

// TestLoadEnvFileWithBOM checks that a UTF-8 byte order mark at the start of the file is
// ignored, as Laravel does, so the first variable keeps its name.
func TestLoadEnvFileWithBOM(t *testing.T) {
	t.Parallel()
	for _, dotenv := range []string{
		"\xEF\xBB\xBFREVERB_SERVER_PORT=9123\n",
		"\xEF\xBB\xBFREVERB_SERVER_PORT=9123\r\nREVERB_QUEUE_NAME=\"q-$REVERB_SERVER_PORT\"\r\n",
	} {
		c, err := loadEnv(t, dotenv, appEnv())
		if err != nil {
			t.Fatalf("%q: %v", dotenv, err)
		}
		if c.ServerPort != 9123 {
			t.Errorf("%q: REVERB_SERVER_PORT = %d, want 9123", dotenv, c.ServerPort)
		}
		if strings.Contains(dotenv, "REVERB_QUEUE_NAME") && c.QueueName != "q-9123" {
			t.Errorf("%q: REVERB_QUEUE_NAME = %q, want q-9123", dotenv, c.QueueName)
		}
	}
}
