package metering_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/time/rate"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// bench is a seller database and an in-process emulator, with the seller's
// clock on real time plus an offset the test moves.
type bench struct {
	t      testing.TB
	db     *store.DB
	emu    *emulator.Emulator
	client *awsmp.Client
	url    string // the emulator's, for processes of their own
	mu     sync.Mutex
	offset time.Duration
}

func (b *bench) Now() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return time.Now().Add(b.offset) }
func (b *bench) advance(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.offset += d
}

func newBench(t *testing.T, db *store.DB) *bench { return newBenchWith(t, db, market.Settings{}) }

func newBenchWith(t testing.TB, db *store.DB, settings market.Settings) *bench {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	emu, err := emulator.New(context.Background(), emulator.Config{PublicURL: "http://" + srv.Listener.Addr().String(), Settings: settings},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = emu.Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); emu.Close() })
	if _, err := emu.SeedDemo(context.Background(), market.DemoInput{FulfillmentURL: "https://seller.example.com/f"}); err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.MaxBackoff = 5 * time.Millisecond })
		}}
	return &bench{t: t, db: db, emu: emu, client: awsmp.New(cfg, awsmp.Endpoints{Metering: srv.URL, Entitlement: srv.URL}), url: srv.URL}
}

// scan reads row into dest and fails the test on any error, so that a
// broken query cannot pass as the zero an assertion expects (#11).
func scan(t testing.TB, row *sql.Row, dest ...any) {
	t.Helper()
	if err := row.Scan(dest...); err != nil {
		t.Fatal(err)
	}
}

// subscription subscribes a new buyer on the emulator and records the
// subscription on the seller's side, as a set-up would.
func (b *bench) subscription(n int) int64 {
	b.t.Helper()
	ctx := context.Background()
	account := fmt.Sprintf("7770%08d", n)
	if _, err := b.emu.Market().CreateAccount(ctx, market.AccountInput{ID: account, Name: "buyer"}); err != nil {
		b.t.Fatal(err)
	}
	res, err := b.emu.Market().Subscribe(ctx, market.SubscribeInput{AccountID: account, ProductCode: market.DemoPAYGCode})
	if err != nil {
		b.t.Fatal(err)
	}
	var id int64
	err = b.db.Write().QueryRow(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, license_arn,
		agreement_key, created_at, updated_at) VALUES ('aws', $1, 'payg', $2, $3, $3, $4, $4) RETURNING id`,
		market.DemoPAYGCode, account, res.Agreement.LicenseArn, store.Now(b.Now())).Scan(&id)
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

// shift moves AWS's clock and the seller's together. Usage can only be
// metered after a license's activation, so tests subscribe, then shift past
// the hours they meter.
func (b *bench) shift(ctx context.Context, d time.Duration) {
	b.t.Helper()
	if _, err := b.emu.Market().AdvanceClock(ctx, d); err != nil {
		b.t.Fatal(err)
	}
	b.advance(d)
}

// shiftToHalfPast shifts by d and on to the next half past an hour. Tests
// whose oldest record is five hours old need the half hour: drain moves the
// clock a few minutes a round, and a record that passes six hours is
// carried rather than sent (started at 13:58, such a test failed).
func (b *bench) shiftToHalfPast(ctx context.Context, d time.Duration) {
	b.t.Helper()
	at := b.Now().Add(d)
	next := at.Truncate(time.Hour).Add(30 * time.Minute)
	if next.Before(at) {
		next = next.Add(time.Hour)
	}
	b.shift(ctx, next.Sub(b.Now()))
}

func (b *bench) record(sub int64, hour time.Time, qty int64) {
	b.t.Helper()
	if _, err := b.db.Write().Exec(`INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, created_at)
		VALUES ($1, $2, 'credits', $3, $4, $5)`, sub, market.DemoPAYGCode, store.Now(hour), qty, store.Now(b.Now())); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bench) sender(m metering.Meterer) *metering.Sender {
	b.t.Helper()
	return b.senderLabelled(m, "")
}

// senderLabelled is sender with the marketplace's name for operators.
func (b *bench) senderLabelled(m metering.Meterer, label string) *metering.Sender {
	b.t.Helper()
	if m == nil {
		m = b.client
	}
	s, err := metering.NewSender(metering.SenderConfig{DB: b.db, Meterer: m, Logger: slog.New(slog.DiscardHandler), Now: b.Now,
		Pacer: rate.NewLimiter(1000, 1000), Window: 6 * time.Hour, Lease: time.Minute, Workers: 3, Marketplace: label})
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// drain sends until nothing is pending, moving the clock past leases and
// backoffs between rounds.
func (b *bench) drain(s *metering.Sender) {
	b.t.Helper()
	for round := 0; ; round++ {
		if round > 50 {
			b.t.Fatal("records still pending after 50 rounds")
		}
		if _, err := s.SendPending(context.Background()); err != nil {
			b.t.Logf("round %d: %v", round, err)
		}
		var pending int
		scan(b.t, b.db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'pending'`), &pending)
		if pending == 0 {
			return
		}
		b.advance(2 * time.Minute)
	}
}

// ledgerEqualsOurs checks that AWS's ledger holds exactly the accepted
// records, each once, with the same quantity and MeteringRecordId.
func (b *bench) ledgerEqualsOurs() {
	b.t.Helper()
	ledger := b.emu.Market().Records(market.RecordFilter{ProductCode: market.DemoPAYGCode})
	byID := map[string]market.MeteringRecord{}
	seen := map[string]bool{}
	for _, r := range ledger {
		key := fmt.Sprintf("%s|%s|%d", r.AccountID, r.Dimension, r.Hour.Unix())
		if seen[key] {
			b.t.Errorf("AWS's ledger holds hour %s twice", key)
		}
		seen[key] = true
		byID[r.ID] = r
	}
	rows, err := b.db.Read().Query(`SELECT metering_record_id, quantity FROM metering_records WHERE status = 'accepted'`)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	ours := 0
	for rows.Next() {
		var id string
		var qty int64
		if err := rows.Scan(&id, &qty); err != nil {
			b.t.Fatal(err)
		}
		ours++
		if r, ok := byID[id]; !ok || r.Quantity != qty {
			b.t.Errorf("accepted record %s (quantity %d) is not in AWS's ledger as such: %+v", id, qty, r)
		}
	}
	if err := rows.Err(); err != nil {
		b.t.Fatal(err)
	}
	if ours != len(ledger) {
		b.t.Errorf("we hold %d accepted records, AWS's ledger %d", ours, len(ledger))
	}
}

func TestSender_EveryRecordAcceptedOnceDespiteFaults(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		ctx := context.Background()
		subs := []int64{b.subscription(0), b.subscription(1), b.subscription(2), b.subscription(3)}
		b.shiftToHalfPast(ctx, 8*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour)
		for n, sub := range subs {
			for h := 1; h <= 5; h++ {
				b.record(sub, hour.Add(-time.Duration(h)*time.Hour), int64(100*n+h))
			}
		}
		for _, f := range []market.FaultInput{
			{Kind: market.FaultThrottle, Operation: "BatchMeterUsage", Count: 3},
			{Kind: market.FaultInternalError, Operation: "BatchMeterUsage", Count: 2},
			{Kind: market.FaultUnprocessedRecords, Operation: "BatchMeterUsage", Count: 2, Records: 5},
		} {
			if _, err := b.emu.Market().AddFault(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		b.drain(b.sender(nil))
		var accepted int
		scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'accepted'`), &accepted)
		if accepted != 20 {
			t.Fatalf("%d records accepted, want 20", accepted)
		}
		b.ledgerEqualsOurs()
	})
}

// lostAnswer is a marketplace connection that breaks after AWS processed
// the call: the records are metered, but the sender never hears so.
type lostAnswer struct {
	real  metering.Meterer
	mu    sync.Mutex
	calls int
}

func (l *lostAnswer) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	l.mu.Lock()
	l.calls++
	first := l.calls == 1
	l.mu.Unlock()
	if _, err := l.real.BatchMeterUsage(ctx, product, recs); err != nil {
		return nil, err
	}
	if first {
		return nil, errors.New("connection reset after the request was sent")
	}
	return l.real.BatchMeterUsage(ctx, product, recs)
}

// A crash after AWS accepted a batch and before the outcome was stored:
// the records are sent again, AWS answers with the same MeteringRecordIds,
// and the ledger holds each hour once.
func TestSender_AnswerLostAfterAWSAccepted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		sub := b.subscription(1)
		b.shift(context.Background(), 8*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour)
		for h := 1; h <= 3; h++ {
			b.record(sub, hour.Add(-time.Duration(h)*time.Hour), int64(h*7))
		}
		b.drain(b.sender(&lostAnswer{real: b.client}))
		b.ledgerEqualsOurs()
		if n := len(b.emu.Market().Records(market.RecordFilter{})); n != 3 {
			t.Fatalf("AWS's ledger holds %d records, want 3", n)
		}
	})
}

// Two senders (two serve processes) on one database send each record once.
func TestSender_TwoProcessesSendEachRecordOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		var subs []int64
		for n := range 6 {
			subs = append(subs, b.subscription(n))
		}
		b.shiftToHalfPast(context.Background(), 8*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour)
		for n, sub := range subs {
			for h := 1; h <= 5; h++ {
				b.record(sub, hour.Add(-time.Duration(h)*time.Hour), int64(n*10+h))
			}
		}
		counting := &countingMeterer{real: b.client}
		var wg sync.WaitGroup
		for range 2 {
			s := b.sender(counting)
			wg.Go(func() {
				if _, err := s.SendPending(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if counting.records != 30 {
			t.Fatalf("%d records sent by two processes, want each of 30 once", counting.records)
		}
		b.ledgerEqualsOurs()
	})
}

type countingMeterer struct {
	real    metering.Meterer
	mu      sync.Mutex
	records int
}

func (c *countingMeterer) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	c.mu.Lock()
	c.records += len(recs)
	c.mu.Unlock()
	return c.real.BatchMeterUsage(ctx, product, recs)
}

// A record that can no longer be sent inside AWS's window is carried, not
// sent and not dropped.
func TestSender_TooOldRecordIsCarried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		sub := b.subscription(1)
		b.shift(context.Background(), 9*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour)
		b.record(sub, hour.Add(-7*time.Hour), 50)
		b.record(sub, hour.Add(-time.Hour), 60)
		b.drain(b.sender(nil))
		var status string
		scan(t, db.Read().QueryRow(`SELECT status FROM metering_records WHERE quantity = 50`), &status)
		if status != metering.StatusCarried {
			t.Fatalf("a record 7 hours old is %s, want carried", status)
		}
		if n := len(b.emu.Market().Records(market.RecordFilter{})); n != 1 {
			t.Fatalf("AWS's ledger holds %d records, want only the recent one", n)
		}
	})
}

// duplicateAnswer answers DuplicateRecord for every record, as AWS may for a
// resend of records it already holds.
type duplicateAnswer struct{}

func (duplicateAnswer) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	out := make([]metering.Outcome, len(recs))
	for i := range out {
		out[i] = metering.Outcome{Status: metering.OutcomeDuplicate}
	}
	return out, nil
}

// DuplicateRecord for a record whose quantity never changes means AWS
// already holds it: counted as delivered, not sent again.
func TestSender_DuplicateRecordCountsAsDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		sub := b.subscription(1)
		b.record(sub, b.Now().UTC().Truncate(time.Hour).Add(-time.Hour), 5)
		if _, err := b.sender(duplicateAnswer{}).SendPending(context.Background()); err != nil {
			t.Fatal(err)
		}
		var status string
		scan(t, db.Read().QueryRow(`SELECT status FROM metering_records`), &status)
		if status != metering.StatusAccepted {
			t.Fatalf("status after DuplicateRecord = %s, want accepted", status)
		}
	})
}

// A legacy product's subscription has a customer identifier as well as an
// account and license: only the identifier is sent, and AWS's answer must
// still be matched to the record, or it would be sent again and again.
func TestSender_LegacyCustomerIdentifierAnswersMatched(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		ctx := context.Background()
		if _, err := b.emu.Market().CreateProduct(ctx, market.ProductInput{Code: "legacy-payg", Title: "Legacy", PricingModel: market.PricingSubscription,
			Mode: market.ModeLegacy, FulfillmentURL: "https://seller.example.com/f",
			Dimensions: []market.Dimension{{Key: "credits", Name: "Credits", Kind: market.DimensionMetered, PriceMicros: 10_000}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.emu.Market().CreateAccount(ctx, market.AccountInput{ID: "888800000001", Name: "legacy buyer"}); err != nil {
			t.Fatal(err)
		}
		res, err := b.emu.Market().Subscribe(ctx, market.SubscribeInput{AccountID: "888800000001", ProductCode: "legacy-payg"})
		if err != nil || res.Agreement.CustomerIdentifier == "" {
			t.Fatalf("legacy subscription = %+v, %v", res.Agreement, err)
		}
		a := res.Agreement
		var sub int64
		if err := db.Write().QueryRow(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, customer_identifier,
			license_arn, agreement_key, created_at, updated_at) VALUES ('aws', 'legacy-payg', 'payg', $1, $2, $3, $2, $4, $4) RETURNING id`,
			a.AccountID, a.CustomerIdentifier, a.LicenseArn, store.Now(b.Now())).Scan(&sub); err != nil {
			t.Fatal(err)
		}
		b.shift(ctx, 3*time.Hour)
		if _, err := db.Write().Exec(`INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, created_at)
			VALUES ($1, 'legacy-payg', 'credits', $2, 42, $3)`, sub, store.Now(b.Now().UTC().Truncate(time.Hour).Add(-time.Hour)), store.Now(b.Now())); err != nil {
			t.Fatal(err)
		}
		if n, err := b.sender(nil).SendPending(ctx); err != nil || n != 1 {
			t.Fatalf("SendPending = %d, %v; want the record accepted in one pass", n, err)
		}
	})
}

// A record claimed while its sender waits its turn under the rate limit has
// not left the process: if the process dies then, the next claimant must not
// take it for "maybe sent" (which ends as a conflict for an operator, not
// billed, when the window closes first).
func TestSender_RecordWaitingItsTurnIsNotMaybeSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		var subs []int64
		for n := range batchOf + 1 {
			subs = append(subs, b.subscription(n))
		}
		b.shiftToHalfPast(context.Background(), 8*time.Hour)
		hour := b.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
		for n, sub := range subs {
			b.record(sub, hour, int64(n+1))
		}
		counting := &countingMeterer{real: b.client}
		// One call now, the next in 100 s: the second batch waits its turn.
		slow, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: counting, Logger: slog.New(slog.DiscardHandler), Now: b.Now,
			Pacer: rate.NewLimiter(0.01, 1), Window: 6 * time.Hour, Lease: time.Minute, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, die := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); slow.SendPending(ctx) }()
		deadline := time.Now().Add(time.Minute)
		for {
			var leased int
			scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'pending' AND lease_until IS NOT NULL`), &leased)
			if leased == 1 && counting.count() == batchOf {
				break // the second batch is claimed and waiting
			}
			if time.Now().After(deadline) {
				die()
				<-done
				t.Fatalf("gave up waiting for the second batch to be claimed: %d leased, %d records sent", leased, counting.count())
			}
			time.Sleep(5 * time.Millisecond)
		}
		die()
		<-done
		b.advance(2 * time.Minute) // past the dead sender's lease
		b.drain(b.sender(nil))
		var flagged int
		scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE maybe_sent OR in_flight OR status <> 'accepted'`), &flagged)
		if flagged != 0 {
			t.Errorf("%d records flagged maybe sent or not accepted, want none", flagged)
		}
		b.ledgerEqualsOurs()
	})
}

// batchOf is AWS's records per BatchMeterUsage call.
const batchOf = 25

func (c *countingMeterer) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.records }

// A record whose answer was lost (AWS accepted it) is sent again after the
// buyer cancelled and AWS's final-metering window closed: AWS answers
// CustomerNotSubscribed, yet it holds the record from the first send. The
// record is a conflict for an operator ("AWS Marketplace may hold this
// record", or the sender's marketplace), as a maybe-sent record that ages out
// is, not refused as not subscribed, which would count it as never billed
// (#11, R18).
func TestSender_NotSubscribedAfterALostAnswerIsAConflict(t *testing.T) {
	for _, tc := range []struct{ label, want string }{
		{"", "AWS Marketplace may hold this record"},
		{"Google Cloud Marketplace", "Google Cloud Marketplace may hold this record"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				b := newBench(t, db)
				ctx := context.Background()
				sub := b.subscription(1)
				b.shift(ctx, 3*time.Hour)
				b.record(sub, b.Now().UTC().Truncate(time.Hour).Add(-time.Hour), 42)
				if _, err := b.senderLabelled(&lostAnswer{real: b.client}, tc.label).SendPending(ctx); err == nil {
					t.Fatal("the first send reported no error, want the lost answer")
				}
				b.cancelOnAWS(ctx, sub)
				b.shift(ctx, time.Hour+time.Minute) // past the final-metering window and the retry delay
				b.drain(b.senderLabelled(nil, tc.label))
				if n := len(b.emu.Market().Records(market.RecordFilter{})); n != 1 {
					t.Fatalf("AWS's ledger holds %d records, want the first send's", n)
				}
				var status, lastError string
				scan(t, db.Read().QueryRow(`SELECT status, last_error FROM metering_records WHERE subscription_id = $1`, sub), &status, &lastError)
				if status != metering.StatusConflict {
					t.Fatalf("record is %s, want %s: AWS holds it from the send whose answer was lost", status, metering.StatusConflict)
				}
				if !strings.HasPrefix(lastError, tc.want) {
					t.Errorf("last error %q, want it to start %q", lastError, tc.want)
				}
			})
		})
	}
}
