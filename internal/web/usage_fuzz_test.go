package web

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// Real bodies: the README's example and the usage API tests' events.
var fuzzUsageBodies = []string{
	`{"specversion":"1.0","id":"evt-1","source":"my-service","type":"compute-seconds","subject":"db-1",
     "time":"2026-11-23T09:25:00Z","data":{"quantity":2.5}}`,
	usageEvent("e1", "2026-11-23T09:00:00Z", "2.5"),
	usageEvent("e2", "2026-11-23T09:00:00Z", `"2.5"`),
	usageEvent("e3", "2026-11-23T09:00:00Z", "1e9"),
	usageEvent("e4", "2026-11-23T09:29:59.999999+00:00", "0.000001"),
	usageEvent("e5", "2026-11-16T09:00:00Z", "1"),
	strings.Replace(usageEvent("e6", "2026-11-23T09:00:00Z", "1"), `"svc-1"`, `"svc\u0000"`, 1),
	`{"specversion":"1.0","id":"x","source":"s","type":"storage-gb-hours","time":"2026-11-23T09:15:00Z","data":{"quantity":1,"unit":"GB"}}`,
}

// FuzzUsageAPISingle posts any body as one event
// (application/cloudevents+json) to POST /api/v1/events; see fuzzUsageAPI.
func FuzzUsageAPISingle(f *testing.F) {
	for _, b := range fuzzUsageBodies {
		f.Add([]byte(b))
	}
	f.Add([]byte("[" + fuzzUsageBodies[0] + "]"))
	f.Add([]byte(`{"id": ["x"]}`))
	fuzzUsageAPI(f, ctSingle)
}

// FuzzUsageAPIBatch posts any body as a batch
// (application/cloudevents-batch+json); see fuzzUsageAPI.
func FuzzUsageAPIBatch(f *testing.F) {
	for _, b := range fuzzUsageBodies {
		f.Add([]byte("[" + b + "]"))
	}
	f.Add([]byte("[" + strings.Join(fuzzUsageBodies, ",") + "]"))
	f.Add([]byte(`[{"specversion":"1.0"}, "hello", 5, {"id": ["x"]}]`))
	f.Add([]byte(`[`))
	f.Add([]byte(fuzzUsageBodies[0]))
	fuzzUsageAPI(f, ctBatch)
}

// fuzzUsageAPI posts each body with the content type to
// POST /api/v1/events on SQLite, and on PostgreSQL when the tests have one
// (the engine whose text refuses what SQLite stores). Whatever the body,
// the answer is never a 5xx; a request refused with a 4xx stores nothing,
// and one answered 200 or 207 stores exactly the events it says it
// accepted (#11).
func fuzzUsageAPI(f *testing.F, ct string) {
	now := func() time.Time { return usageTestNow }
	apps := []*usageApp{newUsageApp(f, storetest.Open(f, "sqlite"), now)}
	if os.Getenv(storetest.PostgresURLEnv) != "" {
		// Commits need not wait for the disk here: without it each input
		// waits on the WAL's flush, and the target runs a few inputs a
		// second instead of hundreds.
		apps = append(apps, newUsageApp(f, storetest.OpenURL(f, storetest.URL(f, "postgres")+"&synchronous_commit=off"), now))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, a := range apps {
			before := storedEvents(t, a.db)
			r := a.post(t, a.keyA, ct, body)
			if r.status >= 500 {
				t.Fatalf("%s: %d %s for %q", a.db.Dialect(), r.status, r.raw, body)
			}
			after := storedEvents(t, a.db)
			switch r.status {
			case http.StatusOK, http.StatusMultiStatus:
				var res usageResultJSON
				if err := json.Unmarshal([]byte(r.raw), &res); err != nil || after-before != res.Accepted {
					t.Fatalf("%s: %d %s, and %d events stored", a.db.Dialect(), r.status, r.raw, after-before)
				}
			default:
				if after != before {
					t.Fatalf("%s: refused with %d %s, yet %d events stored", a.db.Dialect(), r.status, r.raw, after-before)
				}
			}
		}
	})
}

func storedEvents(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
