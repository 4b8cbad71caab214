package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// BenchmarkTriggerCatalogue is one signed POST /apps/{id}/events on three channels through the
// router, with the app's catalogue off and strict: the cost of matching every channel.
func BenchmarkTriggerCatalogue(b *testing.B) {
	for _, mode := range []string{config.ChannelsOff, config.ChannelsStrict} {
		b.Run(mode, func(b *testing.B) {
			a := api.New(api.Params{
				Apps: registry.NewApps([]config.App{{ID: appID, Key: appKey, Secret: appSecret,
					Channels: testCatalogue(b), ChannelsMode: mode}}),
				Queue:     discardQueue{},
				Occupancy: registry.NewMemoryOccupancy(),
			})
			r := chi.NewRouter()
			a.Routes(r)
			e := &env{now: time.Now}
			body := `{"name":"OrderShipped","data":"{\"id\":1}","channels":["private-tenant.5","private-tenant.5.admins","private-user.9"]}`
			q := e.signQuery(http.MethodPost, "/apps/"+appID+"/events", nil, body, sig{}).Encode()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/apps/"+appID+"/events?"+q, strings.NewReader(body))
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
