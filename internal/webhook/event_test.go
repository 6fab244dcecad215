package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// newOrg inserts an organization (and the user who created it) by hand:
// this package sits below org and may not use it.
func newOrg(t *testing.T, db *store.DB, name, externalID string) int64 {
	t.Helper()
	ctx := context.Background()
	now := store.Now(time.Now())
	var userID, orgID int64
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, '', $3) RETURNING id`,
			name+"@example.com", name, now).Scan(&userID); err != nil {
			return err
		}
		ext := sql.NullString{String: externalID, Valid: externalID != ""}
		return tx.QueryRowContext(ctx, `INSERT INTO organizations (name, created_by, created_at, external_id) VALUES ($1, $2, $3, $4) RETURNING id`,
			name, userID, now, ext).Scan(&orgID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return orgID
}

type stored struct {
	orgID, seq int64
	typ, data  string
}

func events(t *testing.T, db *store.DB) []stored {
	t.Helper()
	rows, err := db.Read().Query(`SELECT org_id, seq, type, data FROM webhook_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.orgID, &s.seq, &s.typ, &s.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Each organization numbers its events from 1; an event recorded in a
// transaction that rolls back is neither kept nor takes a number (issue 12:
// none is sent for a change that rolled back).
func TestRecord_SequencePerOrganizationAndRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		r := NewRecorder(func() time.Time { return at })
		acme, beta := newOrg(t, db, "acme", "tenant-acme"), newOrg(t, db, "beta", "")
		record := func(orgID int64, typ Type, payload any) Event {
			t.Helper()
			var e Event
			if err := db.InTx(ctx, func(tx *sql.Tx) (err error) {
				e, err = r.Record(ctx, tx, orgID, typ, payload)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return e
		}
		first := record(acme, TypeOrganizationLinked, map[string]string{"state": "active"})
		rollback := errors.New("the change failed")
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := r.Record(ctx, tx, acme, TypeSubscriptionUpdated, map[string]string{"state": "cancelling"}); err != nil {
				return err
			}
			return rollback
		}); !errors.Is(err, rollback) {
			t.Fatalf("rolled back transaction: %v", err)
		}
		second := record(acme, TypeSubscriptionUpdated, map[string]string{"state": "cancelled"})
		other := record(beta, TypeSubscriptionUpdated, nil)

		if first.Seq != 1 || second.Seq != 2 || other.Seq != 1 {
			t.Errorf("sequences = %d, %d, %d; want 1, 2 for one organization and 1 for the other", first.Seq, second.Seq, other.Seq)
		}
		if first.ID == second.ID || len(first.ID) != len("msg_")+26 {
			t.Errorf("event ids %q, %q: want distinct msg_ ids", first.ID, second.ID)
		}
		if !first.OccurredAt.Equal(at) {
			t.Errorf("occurred at %v, want the recorder's clock %v", first.OccurredAt, at)
		}
		got := events(t, db)
		want := []stored{
			{acme, 1, "organization.linked", `{"organization":{"id":ACME,"external_id":"tenant-acme"},"sequence":1,"state":"active"}`},
			{acme, 2, "subscription.updated", `{"organization":{"id":ACME,"external_id":"tenant-acme"},"sequence":2,"state":"cancelled"}`},
			{beta, 1, "subscription.updated", `{"organization":{"id":BETA,"external_id":""},"sequence":1}`},
		}
		if len(got) != len(want) {
			t.Fatalf("stored %d events, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			var gd, wd any
			if err := json.Unmarshal([]byte(g.data), &gd); err != nil {
				t.Fatal(err)
			}
			wantData := strings.NewReplacer("ACME", strconv.FormatInt(acme, 10), "BETA", strconv.FormatInt(beta, 10)).Replace(w.data)
			if err := json.Unmarshal([]byte(wantData), &wd); err != nil {
				t.Fatal(err)
			}
			if g.orgID != w.orgID || g.seq != w.seq || g.typ != w.typ || !equalJSON(gd, wd) {
				t.Errorf("event %d = %+v, want %+v (data %s)", i, g, w, wantData)
			}
		}
	})
}

// A payload that is not an object, or that sets the fields Record owns, or
// an unknown type, is refused and writes nothing.
func TestRecord_RefusesBadEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := NewRecorder(time.Now)
		orgID := newOrg(t, db, "acme", "")
		for _, tc := range []struct {
			name    string
			orgID   int64
			typ     Type
			payload any
		}{
			{"unknown type", orgID, "organization.deleted", nil},
			{"payload not an object", orgID, TypeSubscriptionUpdated, []int{1}},
			{"payload sets the sequence", orgID, TypeSubscriptionUpdated, map[string]int{"sequence": 7}},
			{"payload sets the organization", orgID, TypeSubscriptionUpdated, map[string]int{"organization": 7}},
			{"no such organization", orgID + 1000, TypeSubscriptionUpdated, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					_, err := r.Record(ctx, tx, tc.orgID, tc.typ, tc.payload)
					return err
				})
				if err == nil {
					t.Fatal("recorded, want an error")
				}
				if got := events(t, db); len(got) != 0 {
					t.Fatalf("stored %+v", got)
				}
			})
		}
	})
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
