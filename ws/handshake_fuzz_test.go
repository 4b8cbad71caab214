package ws_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	rws "github.com/reverbd/reverbd/ws"
)

// fuzzMaxHeaderBytes is small so that the fuzzer reaches oversized handshakes.
const fuzzMaxHeaderBytes = 512

// FuzzHandshake sends arbitrary bytes as the first request of a connection to the real
// Listener, then shuts the write side: the server never panics, never answers 101 to an
// oversized handshake or to one that lacks what RFC 6455 section 4.2.1 requires, and always
// answers and closes, or closes, within the handshake timeout.
func FuzzHandshake(f *testing.F) {
	for _, seed := range []string{
		upgradeRequest(""),
		upgradeRequest("Origin: https://example.com\r\n"),
		upgradeRequest("X-Pad: " + strings.Repeat("a", 600) + "\r\n"),
		strings.ReplaceAll(upgradeRequest(""), "\r\n", "\n"),
		strings.Replace(upgradeRequest(""), "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1),
		strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/1.0", 1),
		upgradeRequest("") + "\x81\x80garbage",
		"GET /app/",
		"GET /app/" + strings.Repeat("k", 2000),
		"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /app/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
		"",
	} {
		f.Add([]byte(seed))
	}
	const handshakeTimeout = 2 * time.Second
	e := newListenerEnv(f, rws.Params{HandshakeTimeout: handshakeTimeout, MaxHeaderBytes: fuzzMaxHeaderBytes})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetWriteDeadline(time.Now().Add(handshakeTimeout))
		_, _ = c.Write(in) // the server may stop reading and close: a failed write is fine
		_ = c.(*net.TCPConn).CloseWrite()
		got := readClosed(t, c, handshakeTimeout+3*time.Second)
		if n := e.logs.count("panic"); n > 0 {
			t.Fatalf("the server panicked on %q:\n%s", in, e.logs.dump())
		}
		if bytes.HasPrefix(got, []byte("HTTP/1.1 101")) {
			if why := notUpgradable(in); why != "" {
				t.Fatalf("101 for a handshake that %s: %q", why, in)
			}
		}
	})
}

// notUpgradable says why a first request must not be upgraded, or returns "". It reads lines
// as gobwas/ws does (ended by "\n", an optional "\r" dropped), so it accepts what that reader
// may: it checks the size bound and what RFC 6455 section 4.2.1 requires of the handshake.
func notUpgradable(in []byte) string {
	var lines []string
	size := 0
	for rest := in; ; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return "has no end of headers"
		}
		line := strings.TrimSuffix(string(rest[:i]), "\r")
		size += i + 1
		rest = rest[i+1:]
		if line == "" && len(lines) > 0 {
			break
		}
		lines = append(lines, line)
	}
	limit := fuzzMaxHeaderBytes
	if !bytes.HasPrefix(in, []byte("GET /app/")) {
		limit += 4096 // served by net/http, which allows 4 KiB over MaxHeaderBytes
	}
	if size > limit {
		return "passes the header limit"
	}
	if requestLine := lines[0]; !strings.HasPrefix(requestLine, "GET ") || !strings.Contains(requestLine, " HTTP/1.") {
		return "is not an HTTP/1.1 GET"
	}
	header := map[string]string{}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return "has a header line without a colon"
		}
		header[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	switch {
	case !hasKey(header, "host"):
		return "lacks Host"
	case !strings.EqualFold(header["upgrade"], "websocket"):
		return "lacks Upgrade: websocket"
	case !strings.Contains(strings.ToLower(header["connection"]), "upgrade"):
		return "lacks Connection: Upgrade"
	case header["sec-websocket-version"] != "13":
		return "lacks Sec-WebSocket-Version: 13"
	case len(header["sec-websocket-key"]) != 24:
		return "lacks a Sec-WebSocket-Key"
	}
	return ""
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }
