package metering_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// callsPacer lets n calls go, then answers errQuotaSpent: the quota of an
// hour that cannot send every record.
type callsPacer struct {
	mu sync.Mutex
	n  int
}

var errQuotaSpent = errors.New("quota spent")

func (p *callsPacer) Wait(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return errQuotaSpent
	}
	p.n--
	return nil
}

// orderMeterer records the records of each call, in call order.
type orderMeterer struct {
	real  metering.Meterer
	mu    sync.Mutex
	calls [][]metering.Record
}

func (m *orderMeterer) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	m.mu.Lock()
	m.calls = append(m.calls, append([]metering.Record(nil), recs...))
	m.mu.Unlock()
	return m.real.BatchMeterUsage(ctx, product, recs)
}

// TestSender_14_MoneyBeforeZeroRecords: when the quota allows fewer calls
// than the pending records need, every record that carries money is sent
// before any zero-quantity record, and an older hour's money before a newer
// hour's, though the zero records are older and come first in id order.
func TestSender_14_MoneyBeforeZeroRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		ctx := context.Background()
		subs := b.subscriptions(60)
		b.shiftToHalfPast(ctx, 8*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour)
		// Ids in the order of a maker that makes each hour's idle
		// subscriptions first: every zero record before any money.
		for h := 3; h >= 1; h-- {
			for _, sub := range subs[10:] {
				b.record(sub, hour.Add(-time.Duration(h)*time.Hour), 0)
			}
		}
		for h := 1; h <= 3; h++ { // the newest hour's money first
			for _, sub := range subs[:10] {
				b.record(sub, hour.Add(-time.Duration(h)*time.Hour), int64(h))
			}
		}
		const moneyCalls = 2 // 30 money records: 25 and 5
		for _, allowed := range []int{moneyCalls, moneyCalls + 1} {
			if _, err := db.Write().Exec(`UPDATE metering_records SET status = 'pending', lease_until = NULL, claimed_by = ''`); err != nil {
				t.Fatal(err)
			}
			m := &orderMeterer{real: b.client}
			s, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: m, Logger: slog.New(slog.DiscardHandler), Now: b.Now,
				Pacer: &callsPacer{n: allowed}, Window: 5 * time.Hour, Lease: time.Minute, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SendPending(ctx); !errors.Is(err, errQuotaSpent) {
				t.Fatalf("SendPending: %v, want the quota spent", err)
			}
			var sent []metering.Record
			for _, c := range m.calls {
				sent = append(sent, c...)
			}
			if len(m.calls) != allowed || len(sent) != 30+25*(allowed-moneyCalls) {
				t.Fatalf("%d calls of %d records with %d allowed", len(m.calls), len(sent), allowed)
			}
			for i, r := range sent {
				if money := i < 30; money != (r.Quantity > 0) {
					t.Fatalf("record %d sent has quantity %d: the 30 with money must go first", i, r.Quantity)
				}
				if i > 0 && i < 30 && r.Hour.Before(sent[i-1].Hour) {
					t.Fatalf("money of %s sent after money of %s: older hours first", r.Hour, sent[i-1].Hour)
				}
			}
			if allowed > moneyCalls && !sent[30].Hour.Equal(hour.Add(-3*time.Hour)) {
				t.Fatalf("the first zero record sent is of %s, want the oldest hour's", sent[30].Hour)
			}
			var accepted int
			scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'accepted' AND quantity > 0`), &accepted)
			if accepted != 30 {
				t.Fatalf("%d money records accepted, want 30", accepted)
			}
			if _, err := db.Write().Exec(`DELETE FROM metering_records WHERE status = 'accepted'`); err != nil {
				t.Fatal(err)
			}
			// Put them back for the next case: AWS holds them, and answers a
			// resend as a duplicate, which counts as delivered.
			for h := 1; h <= 3; h++ {
				for _, sub := range subs[:10] {
					b.record(sub, hour.Add(-time.Duration(h)*time.Hour), int64(h))
				}
			}
		}
	})
}

// TestSender_14_ExpiredZeroRecordsAreSkippedMoneyNever: records AWS's
// window no longer accepts are never sent; zero ones are skipped, with the
// reason for an operator, and money ones are carried into the next record
// (or left as conflicts when AWS may hold them), as before #14.
func TestSender_14_ExpiredZeroRecordsAreSkippedMoneyNever(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		ctx := context.Background()
		subs := b.subscriptions(4)
		b.shiftToHalfPast(ctx, 9*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour)
		old, recent := hour.Add(-6*time.Hour), hour.Add(-time.Hour)
		b.record(subs[0], old, 0)
		b.record(subs[1], old, 7)
		b.record(subs[2], old, 8)
		b.record(subs[3], old, 0)
		b.record(subs[0], recent, 0)
		b.record(subs[1], recent, 9)
		// subs[2]'s and subs[3]'s old records were maybe sent: conflicts for
		// an operator, zero or not, since carried says AWS lacks the hour.
		if _, err := db.Write().Exec(`UPDATE metering_records SET maybe_sent = TRUE WHERE subscription_id IN ($1, $2)`, subs[2], subs[3]); err != nil {
			t.Fatal(err)
		}
		m := &orderMeterer{real: b.client}
		s, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: m, Logger: slog.New(slog.DiscardHandler), Now: b.Now,
			Pacer: &callsPacer{n: 10}, Window: 5 * time.Hour, Lease: time.Minute, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendPending(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range m.calls {
			for _, r := range c {
				if !r.Hour.Equal(recent) {
					t.Fatalf("a record of %s was sent, outside the window", r.Hour)
				}
			}
		}
		for _, tc := range []struct {
			sub              int64
			hour             time.Time
			status, errStart string
		}{
			{subs[0], old, metering.StatusCarried, "skipped:"},
			{subs[3], old, metering.StatusConflict, "AWS Marketplace may hold"},
			{subs[1], old, metering.StatusCarried, ""},
			{subs[2], old, metering.StatusConflict, "AWS Marketplace may hold"},
			{subs[0], recent, metering.StatusAccepted, ""},
			{subs[1], recent, metering.StatusAccepted, ""},
		} {
			var status, lastErr string
			scan(t, db.Read().QueryRow(`SELECT status, last_error FROM metering_records WHERE subscription_id = $1 AND hour = $2`,
				tc.sub, store.Now(tc.hour)), &status, &lastErr)
			if status != tc.status || !strings.HasPrefix(lastErr, tc.errStart) || (tc.errStart == "" && lastErr != "") {
				t.Errorf("record of subscription %d at %s: %s %q, want %s %q...", tc.sub, tc.hour, status, lastErr, tc.status, tc.errStart)
			}
		}
		if n := len(b.emu.Market().Records(market.RecordFilter{})); n != 2 {
			t.Fatalf("AWS's ledger holds %d records, want the 2 recent ones", n)
		}
	})
}

// outOfBounds moves the clock past AWS's window during the call, then
// answers that the records' timestamps are out of bounds.
type outOfBounds struct{ b *bench }

func (o outOfBounds) BatchMeterUsage(context.Context, string, []metering.Record) ([]metering.Outcome, error) {
	o.b.advance(time.Hour)
	return nil, metering.ErrTimestampOutOfBounds
}

// TestSender_14_ZeroRecordOutOfBoundsIsSkipped: records that grow too old
// during their call are carried, or left as conflicts when AWS may hold
// them; a zero one AWS lacks is skipped.
func TestSender_14_ZeroRecordOutOfBoundsIsSkipped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		ctx := context.Background()
		subs := b.subscriptions(3)
		b.shiftToHalfPast(ctx, 9*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour).Add(-4 * time.Hour) // 4.5 hours old: inside the window of 5
		// Money goes first, and each call ages what is left by an hour: the
		// zero record is an hour younger, to reach its own call in time.
		b.record(subs[0], hour.Add(time.Hour), 0)
		b.record(subs[1], hour, 5)
		b.record(subs[2], hour, 6)
		if _, err := db.Write().Exec(`UPDATE metering_records SET maybe_sent = TRUE WHERE subscription_id = $1`, subs[1]); err != nil {
			t.Fatal(err)
		}
		s, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: outOfBounds{b}, Logger: slog.New(slog.DiscardHandler), Now: b.Now,
			Pacer: &callsPacer{n: 10}, Window: 5 * time.Hour, Lease: time.Minute, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendPending(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			sub              int64
			status, errStart string
		}{
			{subs[0], metering.StatusCarried, "skipped:"},
			{subs[1], metering.StatusConflict, ""},
			{subs[2], metering.StatusCarried, ""},
		} {
			var status, lastErr string
			scan(t, db.Read().QueryRow(`SELECT status, last_error FROM metering_records WHERE subscription_id = $1`, tc.sub), &status, &lastErr)
			if status != tc.status || !strings.HasPrefix(lastErr, tc.errStart) || (tc.errStart == "") == strings.HasPrefix(lastErr, "skipped:") {
				t.Errorf("record of subscription %d: %s %q, want %s %q...", tc.sub, status, lastErr, tc.status, tc.errStart)
			}
		}
	})
}
