package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/reverbd/reverbd/registry"
)

// panickingQueue is an Enqueuer with a bug.
type panickingQueue struct{}

func (panickingQueue) Enqueue(context.Context, registry.Event) error {
	panic("queue bug: index out of range")
}

// A panic in a handler is answered 500 with the JSON error body, logged once, and the server
// goes on serving, behind chi's Recoverer as cmd/reverbd mounts it.
func TestHandlerPanicIsContained(t *testing.T) {
	e := newEnv(t, options{queue: panickingQueue{}})
	e.logs.take()
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody([]string{"a"}, "d")),
		http.StatusInternalServerError, errBody(500, "internal error"))
	lines := e.logs.take()
	if len(lines) != 1 || !strings.Contains(lines[0], `"level":"ERROR"`) ||
		!strings.Contains(lines[0], `"msg":"request panicked"`) || !strings.Contains(lines[0], "queue bug") {
		t.Fatalf("log lines %q, want one error line with the panic", lines)
	}
	want(t, e.call(t, http.MethodPost, "/apps/3/batch_events", nil, batchBody(2)),
		http.StatusInternalServerError, errBody(500, "internal error"))
	want(t, e.call(t, http.MethodGet, "/apps/3/channels", nil, ""), http.StatusOK, `{"channels":{}}`)
}
