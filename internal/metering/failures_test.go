package metering_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// lockedBuffer is a log destination tests read while code writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// counterValue reads a counter from reg, 0 when absent.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestMetering_11_AnUnrateableHourBlocksNothingElse: one subscription-hour
// whose stored usage cannot be rated (a total beyond the bounds, as usage
// accepted before #11 could leave, or not an integer) used to fail every
// round for its organization, so that no later hour was metered. Now it is
// set aside: the subscription's other hours, its later ones and every other
// subscription are metered; the metric counts it once, the log says so,
// and the operator view (Reporter.Failures) lists it.
func TestMetering_11_AnUnrateableHourBlocksNothingElse(t *testing.T) {
	poisons := []struct {
		name, value string
		engines     string // where the poison can be stored at all
		reason      string
	}{
		{"beyond the bound", "5000000000000000000", "sqlite postgres", "5000000000000 units, beyond the bound"},
		{"not an integer", "1.5", "sqlite", "is not an integer"},
	}
	for _, engine := range storetest.Engines {
		for _, p := range poisons {
			if !strings.Contains(p.engines, engine) {
				continue // PostgreSQL's BIGINT cannot hold it
			}
			t.Run(engine+"/"+p.name, func(t *testing.T) {
				db := storetest.Open(t, engine)
				s := newSeller(t, db)
				ctx := context.Background()
				linked := s.Now()
				first := linked.UTC().Truncate(time.Hour)
				// A second subscription, billed to another organization.
				subB := s.subscription(2)
				var orgB int64
				if err := db.Write().QueryRow(`INSERT INTO organizations (name, created_by, created_at) SELECT 'Other', created_by, created_at
					FROM organizations WHERE id = $1 RETURNING id`, s.orgID).Scan(&orgB); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_at) VALUES ($1, $2, $3)`,
					subB, orgB, store.Now(linked)); err != nil {
					t.Fatal(err)
				}
				s.shift(ctx, 4*time.Hour)
				// 10 vCPU-hours ($2.20) in each of the four hours from the link's, for both.
				for h := range 4 {
					at := first.Add(time.Duration(h)*time.Hour + 10*time.Minute)
					s.use(event(fmt.Sprintf("a%d", h), "compute", at, "10"))
					if res, err := s.ingester.Ingest(ctx, orgB, []usage.Input{event(fmt.Sprintf("b%d", h), "compute", at, "10")}); err != nil || res.Accepted != 1 {
						t.Fatalf("ingest for the other organization: %+v, %v", res, err)
					}
				}
				poisoned := first.Add(time.Hour)
				if _, err := db.Write().Exec(`UPDATE usage_meter_hourly SET quantity = `+p.value+` WHERE org_id = $1 AND hour = $2`,
					s.orgID, store.Now(poisoned)); err != nil {
					t.Fatal(err)
				}
				reg := prometheus.NewRegistry()
				var logs lockedBuffer
				maker, err := metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: s.market, Usage: usage.NewTotals(db), Prices: s.catalog,
					Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: s.Now, ZeroRecords: true, Registry: reg})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := maker.MakeRecords(ctx); err != nil {
					t.Fatalf("MakeRecords: %v", err)
				}
				subA := subscriptionOf(t, db, s.orgID)
				// Each hour is recorded; the poisoned hour's usage is left out.
				if got := recordCents(t, db, subA); got != "[220 0 220 220]" {
					t.Errorf("records of the subscription with the bad hour: %s, want [220 0 220 220]", got)
				}
				if got := recordCents(t, db, subB); got != "[220 220 220 220]" {
					t.Errorf("records of the other subscription: %s, want [220 220 220 220]", got)
				}
				const metric = "marketbridge_metering_failed_hours_total"
				if n := counterValue(t, reg, metric); n != 1 {
					t.Errorf("%s = %v, want 1", metric, n)
				}
				if !strings.Contains(logs.String(), "usage hour cannot be rated") {
					t.Errorf("the log does not tell of the hour:\n%s", logs.String())
				}
				failures, err := metering.NewReporter(db, s.catalog, s.Now).Failures(ctx, 10)
				if err != nil || len(failures) != 1 {
					t.Fatalf("Failures = %+v, %v; want the one hour", failures, err)
				}
				if f := failures[0]; f.SubscriptionID != subA || f.OrgID != s.orgID || !f.Hour.Equal(poisoned) || !strings.Contains(f.Reason, p.reason) {
					t.Errorf("failure %+v, want subscription %d, organization %d, hour %s, %q", f, subA, s.orgID, poisoned, p.reason)
				}
				// The next hour is metered too; the bad hour is counted once.
				s.use(event("a4", "compute", first.Add(4*time.Hour), "10"))
				s.shift(ctx, time.Hour)
				if _, err := maker.MakeRecords(ctx); err != nil {
					t.Fatalf("MakeRecords an hour later: %v", err)
				}
				if got := recordCents(t, db, subA); got != "[220 0 220 220 220]" {
					t.Errorf("an hour later: %s, want [220 0 220 220 220]", got)
				}
				if n := counterValue(t, reg, metric); n != 1 {
					t.Errorf("%s = %v an hour later, want still 1", metric, n)
				}
				// The billing page leaves the hour out as metering does, and
				// reconciliation finds metering complete.
				sum, err := metering.NewReporter(db, s.catalog, s.Now).Summarize(ctx, metering.SummaryInput{OrgID: s.orgID, SubscriptionID: subA})
				if err != nil {
					t.Fatal(err)
				}
				var micros int64
				for _, d := range sum.Days {
					micros += d.Micros
				}
				if micros != 4*2_200_000 {
					t.Errorf("the billing page shows %d micro-dollars, want 4 hours of $2.20", micros)
				}
				lines, err := maker.Reconcile(ctx, s.Now())
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range lines {
					if l.SubscriptionID == subA && l.DueCents != l.PendingCents+l.AcceptedCents {
						t.Errorf("reconcile %+v: due and metered differ", l)
					}
				}
			})
		}
	}
}

func subscriptionOf(t *testing.T, db *store.DB, orgID int64) int64 {
	t.Helper()
	var id int64
	if err := db.Read().QueryRow(`SELECT subscription_id FROM billing_links WHERE org_id = $1`, orgID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// recordCents lists a subscription's record quantities, oldest first.
func recordCents(t *testing.T, db *store.DB, subID int64) string {
	t.Helper()
	rows, err := db.Read().Query(`SELECT quantity FROM metering_records WHERE subscription_id = $1 ORDER BY hour`, subID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var q int64
		if err := rows.Scan(&q); err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out)
}
