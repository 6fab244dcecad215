package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// An attempt keeps the start of the receiver's answer for the operator
// view, whatever the receiver sends: NUL bytes (a binary or compressed
// answer), which PostgreSQL refuses in text, bytes that are not UTF-8, an
// empty body. The delivery is recorded as delivered all the same.
func TestDeliver_AnyAnswerIsRecorded(t *testing.T) {
	for _, tc := range []struct {
		name, answer, want string
	}{
		{"NUL bytes", "ok\x00\x00done", "ok\uFFFD\uFFFDdone"},
		{"not UTF-8", "ok\xff\xfe", "ok\uFFFD"},
		{"empty", "", ""},
		{"text", "thanks", "thanks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clock := newFakeClock()
				eps := newEndpoints(t, db, clock)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = w.Write([]byte(tc.answer))
				}))
				defer srv.Close()
				ep, _ := createEndpoint(t, eps, srv.URL)
				record(t, db, NewRecorder(clock.Now), newOrg(t, db, "acme", ""), TypeOrganizationLinked, nil)
				d := newDeliverer(t, db, clock)
				if _, err := d.DeliverDue(ctx); err != nil {
					t.Fatalf("DeliverDue: %v", err)
				}
				ds, err := eps.Deliveries(ctx, ep.ID, 10)
				if err != nil || len(ds) != 1 || ds[0].Status != StatusDelivered {
					t.Fatalf("deliveries = %+v, %v; want one delivered", ds, err)
				}
				as, err := eps.Attempts(ctx, ep.ID, 10)
				if err != nil || len(as) != 1 || as[0].StatusCode != 200 || !strings.HasPrefix(as[0].Response, tc.want) {
					t.Errorf("attempts = %+v, %v; want one 200 answering %q", as, err, tc.want)
				}
			})
		})
	}
}
