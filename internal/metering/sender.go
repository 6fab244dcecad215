package metering

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Meterer is the marketplace call the sender needs (package awsmp).
type Meterer interface {
	BatchMeterUsage(ctx context.Context, productCode string, recs []Record) ([]Outcome, error)
}

// Pacer lets a call go when the marketplace's quota allows it: package
// quota's Limiter, which every process on the database shares (#13), or a
// golang.org/x/time/rate Limiter for one process alone.
type Pacer interface {
	Wait(ctx context.Context) error
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	DB      *store.DB
	Meterer Meterer
	Logger  *slog.Logger
	Now     func() time.Time
	// Pacer paces the BatchMeterUsage calls: AWS allows 10 a second per
	// seller account and region, whatever number of processes make them.
	Pacer Pacer
	// Window is how far back AWS accepts a record's hour; older pending
	// records are carried into the next record instead.
	Window time.Duration
	// Lease is how long a claim keeps other processes off a record.
	Lease time.Duration
	// Workers is how many calls are in flight at once.
	Workers int
	// Products, when set, are the only products whose records this sender
	// sends: those of its marketplace, when several are configured (#15).
	Products []string
	// Marketplace names the marketplace in what an operator reads of a
	// record (marketplace.Label); empty means AWS Marketplace.
	Marketplace string
}

// marketplaceName is how an operator's view names the sender's marketplace.
func (c SenderConfig) marketplaceName() string {
	if c.Marketplace == "" {
		return marketplace.Label(marketplace.AWS)
	}
	return c.Marketplace
}

// Validate reports every missing or invalid field.
func (c SenderConfig) Validate() error {
	var errs []error
	if c.DB == nil || c.Meterer == nil || c.Pacer == nil || c.Logger == nil || c.Now == nil {
		errs = append(errs, errors.New("metering: DB, Meterer, Pacer, Logger and Now are required"))
	}
	if c.Window <= 0 || c.Lease <= 0 || c.Workers <= 0 {
		errs = append(errs, errors.New("metering: Window, Lease and Workers must be positive"))
	}
	return errors.Join(errs...)
}

// Sender sends pending metering records.
type Sender struct {
	cfg   SenderConfig
	db    *store.DB
	owner string
}

// NewSender returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Sender{cfg: cfg, db: cfg.DB, owner: hex.EncodeToString(b[:])}, nil
}

// batchSize is AWS's limit of records per BatchMeterUsage call.
const batchSize = 25

// SendPending sends every pending record once, and returns how many were
// accepted. Records are claimed in batches of one product, 25 at most, and
// several batches are in flight at once, paced by the Pacer.
func (s *Sender) SendPending(ctx context.Context) (accepted int, err error) {
	if err := s.carryExpired(ctx); err != nil {
		return 0, err
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				batch, err := s.claim(ctx)
				if err != nil || len(batch) == 0 {
					if err != nil {
						mu.Lock()
						firstErr = errors.Join(firstErr, err)
						mu.Unlock()
					}
					return
				}
				n, err := s.send(ctx, batch)
				mu.Lock()
				accepted += n
				if err != nil {
					firstErr = errors.Join(firstErr, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return accepted, firstErr
}

// claimClasses are the kinds of pending record in the order the sender
// claims them (#14): AWS takes 900,000 records an hour from a seller
// account, fewer than a million subscriptions' zero-quantity hours, so
// records that carry money go first and zero records fill what the quota
// leaves. Within a class the oldest hour goes first, so that money of an
// older hour is never starved by a newer one's. Each condition is written
// as its index's predicate (migrations 0016 and 0028): SQLite uses a
// partial index only for a query that says the same.
var claimClasses = []string{"quantity > 0", "quantity = 0"}

// claim takes up to 25 pending records of one product whose lease is free
// and whose hour AWS still accepts: money first, zero records once no money
// is left to claim.
func (s *Sender) claim(ctx context.Context) ([]Record, error) {
	now := store.Now(s.cfg.Now())
	// A record at or past the cutoff is never sent late: the next
	// carryExpired carries it, or skips it if it carries nothing.
	cutoff := now.Add(-s.cfg.Window)
	var out []Record
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var product, class string
		only, args := s.productFilter(3)
		for _, c := range claimClasses {
			err := tx.QueryRowContext(ctx, `SELECT product_code FROM metering_records WHERE status = 'pending' AND `+c+`
				AND hour > $1 AND (lease_until IS NULL OR lease_until < $2)`+only+` ORDER BY hour, id LIMIT 1`+s.db.Dialect().SkipLocked(),
				append([]any{cutoff, now}, args...)...).Scan(&product)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("find pending records: %w", err)
			}
			class = c
			break
		}
		if class == "" {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT r.id, r.subscription_id, r.product_code, r.dimension, r.hour, r.quantity,
				s.customer_aws_account_id, s.customer_identifier, s.license_arn, s.agreement_key, s.plan_id
			FROM metering_records r JOIN subscriptions s ON s.id = r.subscription_id
			WHERE r.status = 'pending' AND r.`+class+` AND r.product_code = $1 AND r.hour > $2
				AND (r.lease_until IS NULL OR r.lease_until < $3)
			ORDER BY r.hour, r.id LIMIT $4`+s.db.Dialect().SkipLockedOf("r"), product, cutoff, now, batchSize)
		if err != nil {
			return fmt.Errorf("claim records: %w", err)
		}
		for rows.Next() {
			var r Record
			if err := rows.Scan(&r.ID, &r.SubscriptionID, &r.ProductCode, &r.Dimension, &r.Hour, &r.Quantity,
				&r.Customer.AccountID, &r.Customer.Identifier, &r.Customer.LicenseArn, &r.Key, &r.Plan); err != nil {
				rows.Close()
				return err
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		// ids are integers from our own query: safe to inline.
		// A record still in flight from a claimant whose lease ran out was
		// maybe sent by a process that died during the call. It is not in
		// flight again until send says so, after waiting its turn.
		_, err = tx.ExecContext(ctx, `UPDATE metering_records SET lease_until = $1, claimed_by = $2, attempts = attempts + 1,
			maybe_sent = maybe_sent OR in_flight, in_flight = FALSE
			WHERE id IN (`+inList(out)+`)`, now.Add(s.cfg.Lease), s.owner)
		return err
	})
	return out, err
}

// productFilter is the condition that keeps the claim to the sender's
// products, with its arguments numbered from $first.
func (s *Sender) productFilter(first int) (string, []any) {
	if len(s.cfg.Products) == 0 {
		return "", nil
	}
	marks := make([]string, len(s.cfg.Products))
	args := make([]any, len(s.cfg.Products))
	for i, p := range s.cfg.Products {
		marks[i], args[i] = "$"+strconv.Itoa(first+i), p
	}
	return " AND product_code IN (" + strings.Join(marks, ", ") + ")", args
}

// inList is the records' ids for an IN (...): integers from our own
// queries, safe to write into the text.
func inList(recs []Record) string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = strconv.FormatInt(r.ID, 10)
	}
	return strings.Join(ids, ",")
}

// takeOff marks the batch in flight just before the call, and returns the
// records still this sender's: a wait on the rate limit can outlast the
// lease, and another process may have claimed some meanwhile. Marking at
// claim time instead made every record a process held while waiting its
// turn "maybe sent" when the process died, though none had left it, and
// such records end as conflicts for an operator rather than billed.
func (s *Sender) takeOff(ctx context.Context, batch []Record) ([]Record, error) {
	rows, err := s.db.Write().QueryContext(ctx, `UPDATE metering_records SET in_flight = TRUE
		WHERE id IN (`+inList(batch)+`) AND claimed_by = $1 AND status = 'pending' RETURNING id`, s.owner)
	if err != nil {
		return nil, fmt.Errorf("mark records in flight: %w", err)
	}
	defer rows.Close()
	mine := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		mine[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	kept := batch[:0:0]
	for _, r := range batch {
		if mine[r.ID] {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

// lateTakeOff is how long the take-off may take before the call needs a new
// slot: a loaded database takes from milliseconds to seconds.
const lateTakeOff = 300 * time.Millisecond

// land undoes the take-off of a batch whose call will not be made after all,
// so that a later claim does not count it as maybe sent. It runs even when
// ctx has ended, which is why the call is not made.
func (s *Sender) land(ctx context.Context, batch []Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := s.db.Write().ExecContext(ctx, `UPDATE metering_records SET in_flight = FALSE
		WHERE id IN (`+inList(batch)+`) AND claimed_by = $1 AND status = 'pending'`, s.owner)
	if err != nil {
		return fmt.Errorf("undo the take-off of records: %w", err)
	}
	return nil
}

// send makes one call for a claimed batch and stores each outcome.
func (s *Sender) send(ctx context.Context, batch []Record) (int, error) {
	if err := s.cfg.Pacer.Wait(ctx); err != nil {
		return 0, err
	}
	paced := time.Now()
	batch, err := s.takeOff(ctx, batch)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	if time.Since(paced) > lateTakeOff {
		// The call would leave late, together with the calls of later
		// slots, and AWS's bucket takes less than a second of such
		// bunching (#13): it waits for a slot of its own again.
		if err := s.cfg.Pacer.Wait(ctx); err != nil {
			return 0, errors.Join(err, s.land(ctx, batch))
		}
	}
	outcomes, err := s.cfg.Meterer.BatchMeterUsage(ctx, batch[0].ProductCode, batch)
	switch {
	case errors.Is(err, ErrRejected) && len(batch) > 1:
		// One record spoils the call for all: send them one by one to find
		// it, so that the others are metered.
		total := 0
		var errs []error
		for _, r := range batch {
			n, err := s.send(ctx, []Record{r})
			total += n
			errs = append(errs, err)
		}
		return total, errors.Join(errs...)
	case errors.Is(err, ErrRejected):
		return 0, s.settle(ctx, batch[0], StatusRejected, err)
	case errors.Is(err, ErrTimestampOutOfBounds):
		// Some record is too old after all: carry what is, retry the rest.
		return 0, s.release(ctx, batch, err, true)
	case err != nil:
		return 0, s.release(ctx, batch, err, false)
	}
	accepted := 0
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now(s.cfg.Now())
		for i, r := range batch {
			o := outcomes[i]
			var status string
			switch o.Status {
			case OutcomeAccepted:
				status = StatusAccepted
				accepted++
			case OutcomeDuplicate:
				// Our records' quantities never change, so AWS holding
				// "another" record for the hour means it holds this one from
				// a send whose answer was lost: delivered. (AWS documents
				// DuplicateRecord as a different quantity; some SDK notes say
				// an identical resend gets it too.) Logged for reconcile.
				status = StatusAccepted
				accepted++
				s.cfg.Logger.Warn("AWS answered DuplicateRecord; counted as delivered", "record", r.ID, "hour", r.Hour)
			case OutcomeNotSubscribed:
				status = StatusNotSubscribed
			case OutcomeConflict:
				status = StatusConflict
				s.cfg.Logger.Error("metering record conflicts with what the marketplace holds", "record", r.ID, "hour", r.Hour, "detail", o.Detail)
			case OutcomeRejected:
				status = StatusRejected
				s.cfg.Logger.Error("metering record refused", "record", r.ID, "hour", r.Hour, "detail", o.Detail)
			default:
				status = StatusPending
			}
			// A record the marketplace did not process waits a little
			// before it is claimed again, as a failed call's do: claimed at
			// once, a suspended subscription's record would be sent again
			// and again within one pass.
			// Only the claimant records an outcome: if its lease ran out and
			// another process took the record, that one's answer counts.
			// An unprocessed record was answered: AWS did not take it.
			// "Not subscribed" to a record maybe sent before (its answer
			// lost) does not say AWS lacks it: the subscription may have
			// ended since AWS took it. Such a record is a conflict for an
			// operator, as in carryExpired, not counted as never billed.
			if _, err := tx.ExecContext(ctx, `UPDATE metering_records
				SET status = CASE WHEN $1 = 'not-subscribed' AND maybe_sent AND NOT $7 THEN 'conflict' ELSE $1 END, metering_record_id = $2,
					sent_at = CASE WHEN $1 = 'pending' THEN sent_at ELSE $3 END, in_flight = FALSE,
					lease_until = $8,
					last_error = CASE WHEN $1 = 'not-subscribed' AND maybe_sent AND NOT $7 AND $6 = '' THEN CAST($9 AS TEXT) ELSE $6 END
				WHERE id = $4 AND claimed_by = $5 AND status = 'pending'`, status, o.MeteringRecordID, now, r.ID, s.owner, truncate(o.Detail, 500), o.NotHeld,
				leaseAfter(status, now), s.cfg.marketplaceName()+" may hold this record: its answer was lost, and a resend was answered that the customer is not subscribed"); err != nil {
				return fmt.Errorf("store outcome of record %d: %w", r.ID, err)
			}
		}
		return nil
	})
	return accepted, err
}

// settle gives a record a final status with the reason, for an operator.
func (s *Sender) settle(ctx context.Context, r Record, status string, cause error) error {
	s.cfg.Logger.Error("metering record refused", "record", r.ID, "subscription", r.SubscriptionID, "hour", r.Hour, "err", cause)
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	_, err := s.db.Write().ExecContext(ctx, `UPDATE metering_records SET status = $1, last_error = $2, lease_until = NULL, in_flight = FALSE
		WHERE id = $3 AND claimed_by = $4 AND status = 'pending'`, status, msg, r.ID, s.owner)
	return err
}

// release hands a batch back after a failed call, to be tried again (after
// the backoff the lease gives), carrying records grown too old if told to.
func (s *Sender) release(ctx context.Context, batch []Record, cause error, carryOld bool) error {
	s.cfg.Logger.Warn("metering call failed", "product", batch[0].ProductCode, "records", len(batch), "err", cause)
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	now := store.Now(s.cfg.Now())
	// The marketplace surely did not take the batch when it said so
	// (throttled, out of window, rejected) or was never reached; any other
	// failure may have come after it accepted, and so may any call that
	// failed after an attempt which may have reached it (Uncertain).
	var uncertain uncertainError
	maybe := errors.As(cause, &uncertain) ||
		!errors.Is(cause, ErrThrottled) && !errors.Is(cause, ErrTimestampOutOfBounds) && !errors.Is(cause, ErrRejected) && !NeverSent(cause)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, r := range batch {
			status, note := StatusPending, msg
			if carryOld && !r.Hour.After(now.Add(-s.cfg.Window)) {
				status = StatusCarried
				if r.Quantity == 0 {
					note = skippedZero // as in carryExpired (#14)
				}
			}
			// A throttled or failed batch waits a little before it is
			// claimed again: the lease end is the backoff.
			if _, err := tx.ExecContext(ctx, `UPDATE metering_records
					SET status = CASE WHEN $1 = 'carried' AND (maybe_sent OR $4) THEN 'conflict' ELSE $1 END,
					last_error = CASE WHEN $1 = 'carried' AND NOT (maybe_sent OR $4) THEN $7 ELSE $2 END,
					lease_until = $3, maybe_sent = maybe_sent OR $4, in_flight = FALSE
				WHERE id = $5 AND claimed_by = $6 AND status = 'pending'`,
				status, msg, now.Add(retryDelay(cause)), maybe, r.ID, s.owner, note); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(cause, ErrThrottled) || errors.Is(cause, ErrTimestampOutOfBounds) {
		return err // handled: not the caller's failure
	}
	return errors.Join(err, cause)
}

func retryDelay(cause error) time.Duration {
	if errors.Is(cause, ErrTimestampOutOfBounds) {
		return 30 * time.Second // not yet old for us, too old for AWS: it ages out soon
	}
	return 5 * time.Second
}

// carryExpired marks pending records whose hour AWS no longer accepts as
// carried, so that their quantity moves into the next record; except those
// AWS may already hold (maybe_sent), which would then be billed twice: they
// become conflicts for an operator, with reconcile showing them.
//
// A zero record past the window that AWS surely lacks is skipped instead
// (#14): when the quota cannot send every hour's zero records in time, those
// are the ones left out, having nothing to move on. They keep the status
// carried, which moves no quantity, with skippedZero as their last error,
// and are counted in the log; the status list of 0008 is a CHECK that SQLite
// cannot change short of copying the table. One AWS may hold is a conflict
// like any other, so that carried always means AWS lacks the hour. A record
// with money is never skipped.
func (s *Sender) carryExpired(ctx context.Context) error {
	now := store.Now(s.cfg.Now())
	cutoff := now.Add(-s.cfg.Window)
	res, err := s.db.Write().ExecContext(ctx, `UPDATE metering_records SET status = 'carried', last_error = $1
		WHERE status = 'pending' AND quantity = 0 AND NOT maybe_sent AND NOT in_flight AND hour <= $2
			AND (lease_until IS NULL OR lease_until < $3)`, skippedZero, cutoff, now)
	if err != nil {
		return fmt.Errorf("skip expired zero records: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		s.cfg.Logger.WarnContext(ctx, "zero-quantity metering records skipped: AWS's quota could not send them inside its window",
			"records", n, "cutoff", cutoff)
	}
	_, err = s.db.Write().ExecContext(ctx, `UPDATE metering_records
		SET status = CASE WHEN maybe_sent OR in_flight THEN 'conflict' ELSE 'carried' END,
			last_error = CASE WHEN maybe_sent OR in_flight THEN CAST($3 AS TEXT) ELSE last_error END
		WHERE status = 'pending' AND hour <= $1 AND (lease_until IS NULL OR lease_until < $2)`, cutoff, now,
		s.cfg.marketplaceName()+" may hold this record: its answer was lost and no resend came inside the window")
	if err != nil {
		return fmt.Errorf("carry expired records: %w", err)
	}
	return nil
}

// skippedZero is the last error of a zero record skipped by carryExpired.
const skippedZero = "skipped: a zero-quantity record AWS's quota left no room for inside its window"

// NeverSent says whether a call failed before its request left: the
// connection could not be made, so the marketplace has nothing. Adapters
// use it to class their own attempts (awsmp, azuremp, gcpmp).
func NeverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// truncate keeps at most n bytes of a message for a text column, cut at a
// character boundary.
func truncate(msg string, n int) string {
	if len(msg) <= n {
		return msg
	}
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n]
}

// leaseAfter is the lease a record keeps after its outcome is stored: none
// once settled; a short back-off while pending (not processed).
func leaseAfter(status string, now time.Time) sql.NullTime {
	if status != StatusPending {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: now.Add(retryDelay(nil)), Valid: true}
}
