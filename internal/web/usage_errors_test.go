package web

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// poisonTrigger makes the database refuse to store events of the subject
// "poison" (a permanent failure: the same events fail again), and, on
// PostgreSQL, fail those of "busy" with a serialization failure (one that
// passes).
func poisonTrigger(t *testing.T, db *store.DB) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER poison BEFORE INSERT ON usage_events WHEN NEW.subject = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned event'); END`}
	if db.Dialect() == store.DialectPostgres {
		stmts = []string{`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			IF NEW.subject = 'poison' THEN RAISE EXCEPTION 'poisoned event' USING ERRCODE = 'check_violation'; END IF;
			IF NEW.subject = 'busy' THEN RAISE EXCEPTION 'try again' USING ERRCODE = 'serialization_failure'; END IF;
			RETURN NEW; END $$`,
			`CREATE TRIGGER poison BEFORE INSERT ON usage_events FOR EACH ROW EXECUTE FUNCTION poison()`}
	}
	for _, s := range stmts {
		if _, err := db.Write().Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

// holdWriteLock makes SQLite's writer meet SQLITE_BUSY, a failure that
// passes: another connection holds the write lock, and the writer waits
// only a moment for it. It returns the function that lets go.
func holdWriteLock(t *testing.T, db *store.DB) func() {
	t.Helper()
	var seq int
	var name, path string
	if err := db.Read().QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write().Exec(`PRAGMA busy_timeout = 50`); err != nil { // the writer's one connection
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := other.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := tx.Rollback(); err != nil {
			t.Error(err)
		}
		other.Close()
		if _, err := db.Write().Exec(`PRAGMA busy_timeout = 10000`); err != nil {
			t.Error(err)
		}
	}
}

// TestUsageAPI_11_PermanentFailuresAre4xxPassingOnes503 (#11, item 4): a
// batch the database can never store answers 422 with the reason and no
// Retry-After, not "503, send them again"; only a failure that passes (a
// busy database, a serialization failure, shutdown) answers 503, with
// Retry-After. Nothing of a refused request is stored.
func TestUsageAPI_11_PermanentFailuresAre4xxPassingOnes503(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newUsageApp(t, db, func() time.Time { return usageTestNow })
		poisonTrigger(t, db)
		event := func(id, subject string) []byte {
			return []byte(strings.Replace(usageEvent(id, "2026-11-23T09:00:00Z", "1"), `"svc-1"`, `"`+subject+`"`, 1))
		}
		stored := func() int {
			var n int
			if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_events`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		type step struct {
			name       string
			body       []byte
			before     func() func() // sets a condition up; returns its undoing
			status     int
			retryAfter bool
			want       string
		}
		steps := []step{
			{name: "permanent", body: event("p1", "poison"), status: http.StatusUnprocessableEntity,
				want: "cannot be stored: the database refuses a value or total they carry. Sending them again will not help"},
			{name: "permanent again", body: event("p1", "poison"), status: http.StatusUnprocessableEntity, want: "will not help"},
		}
		if db.Dialect() == store.DialectPostgres {
			steps = append(steps, step{name: "serialization failure", body: event("b1", "busy"), status: http.StatusServiceUnavailable,
				retryAfter: true, want: "send them again"})
		} else {
			steps = append(steps, step{name: "database busy", body: event("b1", "svc-1"), status: http.StatusServiceUnavailable,
				retryAfter: true, want: "send them again", before: func() func() { return holdWriteLock(t, db) }})
		}
		steps = append(steps, step{name: "good", body: event("g1", "svc-1"), status: http.StatusOK, want: `"accepted":1`},
			step{name: "shutting down", body: event("g2", "svc-1"), status: http.StatusServiceUnavailable, retryAfter: true,
				want: "again", before: func() func() { a.stopping(); return func() {} }})
		for _, s := range steps {
			n := stored()
			undo := func() {}
			if s.before != nil {
				undo = s.before()
			}
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/api/v1/events", strings.NewReader(string(s.body)))
			req.Header.Set("Authorization", "Bearer "+a.keyA)
			req.Header.Set("Content-Type", ctSingle)
			resp, err := a.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			body := string(raw)
			undo()
			if resp.StatusCode != s.status || !strings.Contains(body, s.want) {
				t.Errorf("%s: %d %s; want %d with %q", s.name, resp.StatusCode, body, s.status, s.want)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != s.retryAfter {
				t.Errorf("%s: Retry-After %q, want one: %v", s.name, resp.Header.Get("Retry-After"), s.retryAfter)
			}
			if want := n + map[bool]int{true: 1}[s.status == http.StatusOK]; stored() != want {
				t.Errorf("%s: %d events stored, want %d", s.name, stored(), want)
			}
		}
	})
}

// TestWithTimeout_11_Answers503WithRetryAfter: a request that overruns the
// server's bound, as an ingest waiting on a slow database may, is answered
// 503 with Retry-After: a timeout passes.
func TestWithTimeout_11_Answers503WithRetryAfter(t *testing.T) {
	s := &Server{cfg: Config{RequestTimeout: 20 * time.Millisecond}}
	h := s.withTimeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, c := range []struct {
		path       string
		status     int
		retryAfter string
	}{{"/slow", http.StatusServiceUnavailable, retryAfterSeconds}, {"/fast", http.StatusNoContent, ""}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, c.path, nil))
		if rec.Code != c.status || rec.Header().Get("Retry-After") != c.retryAfter {
			t.Errorf("%s: %d with Retry-After %q; want %d with %q", c.path, rec.Code, rec.Header().Get("Retry-After"), c.status, c.retryAfter)
		}
	}
}
