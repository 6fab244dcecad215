package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// The usage API's tests build a Server with only what POST /api/v1/events
// needs, and serve that route through the same middleware as the real
// server, so that they and the benchmarks run before the route is wired.

type usageMeters map[string]bool

func (m usageMeters) Meter(name string) (usage.Meter, bool) {
	return usage.Meter{Name: name}, m[name]
}

// usageApp is POST /api/v1/events on a real database, with two
// organizations and a key for each.
type usageApp struct {
	db       *store.DB
	srv      *httptest.Server
	server   *Server
	orgs     *org.Service
	ing      *usage.Ingester
	user     int64
	orgA     int64
	orgB     int64
	keyA     string
	keyAID   int64
	keyB     string
	now      func() time.Time
	stopping context.CancelFunc
}

func newUsageApp(t testing.TB, db *store.DB, now func() time.Time) *usageApp {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	a := &usageApp{db: db, now: now}
	var err error
	a.orgs, err = org.New(org.Config{DB: db, Mailer: mail.NewOutbox(db, now), Logger: logger, Now: now, BaseURL: "http://console.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at)
		VALUES ('dev@example.com', 'dev', 'x', $1, $1) RETURNING id`, now()).Scan(&a.user); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		id, keyID *int64
		key       *string
	}{{&a.orgA, &a.keyAID, &a.keyA}, {&a.orgB, new(int64), &a.keyB}} {
		created, err := a.orgs.Create(ctx, a.user, org.CreateInput{Name: "Org"})
		if err != nil {
			t.Fatal(err)
		}
		k, secret, err := a.orgs.CreateKey(ctx, a.user, created.ID, org.CreateKeyInput{Name: "product"})
		if err != nil {
			t.Fatal(err)
		}
		*o.id, *o.keyID, *o.key = created.ID, k.ID, secret
	}
	a.ing, err = usage.New(usage.Config{DB: db, Logger: logger, Now: now,
		Meters: usageMeters{"api-calls": true, "storage-gb-hours": true, "compute-seconds": true}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.ing.Run(runCtx) }()
	a.stopping = cancel

	metrics, err := newHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a.server = &Server{cfg: Config{Logger: logger, Orgs: a.orgs, RequestTimeout: 30 * time.Second}, logger: logger, metrics: metrics}
	a.srv = a.serve(a.ing)
	t.Cleanup(func() { a.srv.Close(); cancel(); <-done })
	return a
}

// serve is POST /api/v1/events of a's server, with its middleware, storing
// events in sink.
func (a *usageApp) serve(sink eventSink) *httptest.Server {
	s := a.server
	mux := http.NewServeMux()
	s.handle(mux, "POST /api/v1/events", s.usageEvents(sink))
	return httptest.NewServer(s.withRequestID(s.withTimeout(s.withSecurityHeaders(mux))))
}

type usageReply struct {
	status int
	body   usageResultJSON
	raw    string
}

func (a *usageApp) post(t testing.TB, key, contentType string, body []byte) usageReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/api/v1/events", bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := usageReply{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

const (
	ctSingle = "application/cloudevents+json"
	ctBatch  = "application/cloudevents-batch+json"
)

func usageEvent(id, when string, quantity string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"//product.example.com","type":"api-calls","subject":"svc-1","time":%q,"data":{"quantity":%s}}`,
		id, when, quantity)
}

var usageTestNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

func TestUsageAPI_Statuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newUsageApp(t, db, func() time.Time { return usageTestNow })
		good := usageEvent("e1", "2026-11-23T09:00:00Z", "2.5")
		bad := usageEvent("e2", "2026-11-23T09:00:00Z", `"2.5"`)
		many := "[" + strings.TrimSuffix(strings.Repeat(good+",", usage.MaxBatch+1), ",") + "]"
		cases := []struct {
			name        string
			key         string
			contentType string
			body        string
			status      int
			want        string // in the body
		}{
			{"single", a.keyA, ctSingle, good, http.StatusOK, `"accepted":1,"duplicates":0,"rejected":[]`},
			{"single resent", a.keyA, ctSingle, good, http.StatusOK, `"accepted":0,"duplicates":1,"rejected":[]`},
			{"single with charset", a.keyA, ctSingle + "; charset=utf-8", usageEvent("e3", "2026-11-23T09:00:00Z", "1"), http.StatusOK, `"accepted":1`},
			{"single rejected", a.keyA, ctSingle, bad, http.StatusBadRequest, `"rejected":[{"index":0,"id":"e2","error":"data.quantity: must be a JSON number, e.g. 12.5","status":400}],"error":"data.quantity`},
			{"batch", a.keyA, ctBatch, "[" + good + "," + usageEvent("e4", "2026-11-23T09:00:00Z", "1") + "]", http.StatusOK, `"accepted":1,"duplicates":1,"rejected":[]`},
			{"batch with a bad event", a.keyA, ctBatch, "[" + bad + "," + usageEvent("e5", "2026-11-23T09:00:00Z", "1") + "]", http.StatusMultiStatus,
				`"accepted":1,"duplicates":0,"rejected":[{"index":0,"id":"e2","error":"data.quantity: must be a JSON number, e.g. 12.5","status":400}]`},
			{"empty batch", a.keyA, ctBatch, "[]", http.StatusOK, `"accepted":0`},
			{"no key", "", ctSingle, good, http.StatusUnauthorized, "API key"},
			{"unknown key", "mbk_nope", ctSingle, good, http.StatusUnauthorized, "API key"},
			{"not a marketbridge key", "hello", ctSingle, good, http.StatusUnauthorized, "API key"},
			{"plain JSON", a.keyA, "application/json", good, http.StatusUnsupportedMediaType, "application/cloudevents+json"},
			{"no content type", a.keyA, "", good, http.StatusUnsupportedMediaType, "application/cloudevents+json"},
			{"array as single", a.keyA, ctSingle, "[" + good + "]", http.StatusBadRequest, "not valid CloudEvents JSON"},
			{"object as batch", a.keyA, ctBatch, good, http.StatusBadRequest, "not valid CloudEvents JSON"},
			{"broken JSON", a.keyA, ctBatch, "[" + good, http.StatusBadRequest, "not valid CloudEvents JSON"},
			{"too many events", a.keyA, ctBatch, many, http.StatusRequestEntityTooLarge, "at most 10000 events"},
			{"too many bytes", a.keyA, ctBatch, "[" + strings.Repeat(" ", maxUsageBatchBytes) + "]", http.StatusRequestEntityTooLarge, "too large"},
			{"single too many bytes", a.keyA, ctSingle, good + strings.Repeat(" ", maxUsageEventBytes), http.StatusRequestEntityTooLarge, "too large"},
		}
		for _, c := range cases {
			r := a.post(t, c.key, c.contentType, []byte(c.body))
			if r.status != c.status || !strings.Contains(r.raw, c.want) {
				t.Errorf("%s: %d %s; want %d with %s", c.name, r.status, r.raw, c.status, c.want)
			}
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_events`).Scan(&n); err != nil || n != 4 {
			t.Errorf("%d events stored (%v), want 4", n, err)
		}
	})
}

func TestUsageAPI_RevokedKeyIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newUsageApp(t, db, func() time.Time { return usageTestNow })
		if err := a.orgs.RevokeKey(context.Background(), a.user, a.orgA, a.keyAID); err != nil {
			t.Fatal(err)
		}
		r := a.post(t, a.keyA, ctSingle, []byte(usageEvent("e1", "2026-11-23T09:00:00Z", "1")))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("revoked key: %d %s, want 401", r.status, r.raw)
		}
	})
}

// TestUsageAPI_EventsBelongToTheKeysOrganization: an event carries no
// organization; nothing in it can make it count for another one, and the
// same event sent with two organizations' keys is two events.
func TestUsageAPI_EventsBelongToTheKeysOrganization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newUsageApp(t, db, func() time.Time { return usageTestNow })
		withOrg := `{"specversion":"1.0","id":"x","source":"s","type":"api-calls","time":"2026-11-23T09:00:00Z","data":{"quantity":1},` +
			fmt.Sprintf(`"organization":%d,"orgid":%d}`, a.orgA, a.orgA)
		for _, key := range []string{a.keyB, a.keyA} {
			if r := a.post(t, key, ctSingle, []byte(withOrg)); r.status != http.StatusOK || r.body.Accepted != 1 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		}
		for _, o := range []int64{a.orgA, a.orgB} {
			var n int
			if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_events WHERE org_id = $1`, o).Scan(&n); err != nil || n != 1 {
				t.Errorf("organization %d has %d events (%v), want 1", o, n, err)
			}
		}
	})
}

// TestKeyCache_RevokedKeyStopsWithinTheTTL: a key that authenticated is
// trusted for keyCacheTTL and then asked about again; failures are never
// remembered.
func TestKeyCache_RevokedKeyStopsWithinTheTTL(t *testing.T) {
	now := usageTestNow
	revoked, calls := false, 0
	c := newKeyCache(func(ctx context.Context, key string) (int64, error) {
		calls++
		if revoked || key != "mbk_good" {
			return 0, org.ErrBadKey
		}
		return 42, nil
	}, func() time.Time { return now })
	ctx := context.Background()
	steps := []struct {
		name    string
		key     string
		advance time.Duration
		revoke  bool
		wantOrg int64
		wantErr bool
	}{
		{"first use asks", "mbk_good", 0, false, 42, false},
		{"then cached", "mbk_good", keyCacheTTL / 2, true, 42, false},
		{"after the TTL, asks again and sees the revocation", "mbk_good", keyCacheTTL, false, 0, true},
		{"a failure is not cached", "mbk_good", 0, false, 0, true},
		{"other keys are asked about", "mbk_bad", 0, false, 0, true},
	}
	wantCalls := []int{1, 1, 2, 3, 4}
	for i, s := range steps {
		now = now.Add(s.advance)
		if s.revoke {
			revoked = true
		}
		got, err := c.authenticate(ctx, s.key)
		if got != s.wantOrg || (err != nil) != s.wantErr || calls != wantCalls[i] {
			t.Errorf("%s: org %d, err %v, %d calls; want %d, error %v, %d calls", s.name, got, err, calls, s.wantOrg, s.wantErr, wantCalls[i])
		}
	}
}
