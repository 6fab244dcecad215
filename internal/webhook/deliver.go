package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
)

// schedule is the backoff after each failed attempt in a row: the wait
// before the next is drawn at random between nothing and this (full
// jitter), so that many deliveries failing together do not come back
// together. After the last step it stays at the last.
var schedule = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour}

// minBackoff keeps full jitter from retrying at once.
const minBackoff = time.Second

// RetryFor is how long a delivery is retried before it fails for good:
// three days from its first attempt (or from "send again"), whatever the
// jitter drew.
const RetryFor = 72 * time.Hour

// An endpoint is disabled once it has failed DisableFailures attempts in a
// row over at least DisableAfter without a success, and the operators are
// told: a receiver gone for days is not coming back by itself.
const (
	DisableAfter    = 5 * 24 * time.Hour
	DisableFailures = 10
)

// successResolution is how stale an endpoint's last success may be shown.
const successResolution = time.Minute

// responseLimit is how much of an answer each attempt keeps.
const responseLimit = 1024

// Mailer queues a message in the caller's transaction (package mail).
type Mailer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, m mail.Message) (int64, error)
}

// DelivererConfig configures a Deliverer.
type DelivererConfig struct {
	DB     *store.DB
	Client *http.Client // NewClient's
	Logger *slog.Logger
	// Now is real time: it stamps webhook-timestamp, which receivers
	// compare with their own clocks, and schedules retries.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the backoff's jitter; it must be
	// safe for concurrent use. Nil is math/rand/v2's.
	Rand func() float64
	// Mailer and Operators: who is told when an endpoint is disabled.
	Mailer    Mailer
	Operators []string
	BaseURL   string // the console's, for the link in that mail
	// Registry, when set, gets the delivery metrics.
	Registry prometheus.Registerer
	// Lease is how long a claim keeps other processes off a delivery; it
	// must outlast an attempt. Zero is a minute.
	Lease time.Duration
	// Workers is how many deliveries this process sends at once. Zero is 4.
	Workers int
}

// Validate reports every missing field.
func (c DelivererConfig) Validate() error {
	var errs []error
	if c.DB == nil || c.Client == nil || c.Logger == nil || c.Now == nil {
		errs = append(errs, errors.New("webhook: DB, Client, Logger and Now are required"))
	}
	if len(c.Operators) > 0 && c.Mailer == nil {
		errs = append(errs, errors.New("webhook: Operators are told by mail: Mailer is required"))
	}
	if c.Lease < 0 || c.Workers < 0 {
		errs = append(errs, errors.New("webhook: Lease and Workers may not be negative"))
	}
	return errors.Join(errs...)
}

// Deliverer sends the recorded events to the endpoints. Several processes
// on one database may run it: events are fanned out under row locks, and
// each delivery is claimed with a lease, so that one process at a time
// sends it.
type Deliverer struct {
	cfg     DelivererConfig
	db      *store.DB
	owner   string
	metrics *metrics
	// perEndpoint is how many deliveries to one endpoint this process
	// sends at once: all workers but one, so that an endpoint that hangs
	// until the timeout leaves a worker to the others.
	perEndpoint int
}

// NewDeliverer returns a Deliverer.
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rand == nil {
		cfg.Rand = mrand.Float64
	}
	if cfg.Lease == 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Deliverer{cfg: cfg, db: cfg.DB, owner: hex.EncodeToString(b[:]), metrics: m, perEndpoint: max(cfg.Workers-1, 1)}, nil
}

// pruneEvery is how often Run removes what Retention no longer keeps.
const pruneEvery = time.Hour

// Run delivers what is due every interval until ctx ends, and waits for
// the attempts in flight. About once an hour it also prunes (Prune).
func (d *Deliverer) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := d.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Logger.Warn("deliver webhooks", "err", err)
		}
		if now := d.cfg.Now(); now.Sub(pruned) >= pruneEvery {
			if _, err := d.Prune(ctx); err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("prune webhook events", "err", err)
			}
			pruned = now
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliverDue makes the deliveries of new events, then sends every delivery
// due now, once, and returns how many attempts it made.
func (d *Deliverer) DeliverDue(ctx context.Context) (int, error) {
	for {
		n, err := d.fanOut(ctx)
		if err != nil {
			return 0, err
		}
		if n < fanOutBatch {
			break
		}
	}
	if err := d.metrics.observePending(ctx, d.db, d.cfg.Now()); err != nil {
		d.cfg.Logger.Warn("measure pending webhooks", "err", err)
	}
	var mu sync.Mutex
	var attempts int
	var errs []error
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				j, err := d.claim(ctx)
				if err != nil || j == nil {
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					return
				}
				err = d.attempt(ctx, j)
				mu.Lock()
				attempts++
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return attempts, errors.Join(errs...)
}

// fanOutBatch is how many events one fan-out transaction takes.
const fanOutBatch = 500

// fanOut makes a delivery of each new event for every enabled endpoint
// that takes its type and was made before it, and marks the events done.
func (d *Deliverer) fanOut(ctx context.Context) (int, error) {
	var n int
	err := d.db.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM webhook_events WHERE fanned_out = FALSE ORDER BY id LIMIT $1`+
			d.db.Dialect().SkipLocked(), fanOutBatch)
		if err != nil {
			return fmt.Errorf("find new webhook events: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n = len(ids); n == 0 {
			return nil
		}
		// ids are integers from our own query: safe to write into the text.
		in := strings.Join(ids, ",")
		now := store.Now(d.cfg.Now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at, give_up_at, created_at)
			SELECT e.id, p.id, $1, $2, $1 FROM webhook_events e
				JOIN webhook_endpoints p ON p.enabled AND p.after_event < e.id AND (p.types = '' OR p.types LIKE '%,' || e.type || ',%')
			WHERE e.id IN (`+in+`)
			ON CONFLICT (event_id, endpoint_id) DO NOTHING`, now, now.Add(RetryFor)); err != nil {
			return fmt.Errorf("make webhook deliveries: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_events SET fanned_out = TRUE WHERE id IN (`+in+`)`)
		return err
	})
	return n, err
}

// job is a claimed delivery with what it takes to send it.
type job struct {
	delivery int64
	step     int
	giveUpAt time.Time
	endpoint int64
	url      string
	secrets  []string
	eventID  string
	body     []byte
}

// body is what every attempt of an event sends.
type body struct {
	Type      Type            `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// claim takes the delivery due first whose lease is free, of an enabled
// endpoint, for this process for the lease.
func (d *Deliverer) claim(ctx context.Context) (*job, error) {
	now := store.Now(d.cfg.Now())
	var j *job
	err := d.db.InTx(ctx, func(tx *sql.Tx) error {
		var (
			c            job
			typ, data    string
			occurred     time.Time
			secret, prev string
			prevUntil    sql.NullTime
		)
		err := tx.QueryRowContext(ctx, `SELECT d.id, d.step, d.give_up_at, p.id, p.url, p.secret, p.previous_secret, p.previous_until,
				e.event_id, e.type, e.data, e.occurred_at
			FROM webhook_deliveries d JOIN webhook_endpoints p ON p.id = d.endpoint_id JOIN webhook_events e ON e.id = d.event_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until < $1) AND p.enabled
				AND (SELECT COUNT(*) FROM webhook_deliveries x WHERE x.endpoint_id = d.endpoint_id AND x.claimed_by = $2
					AND x.status = 'pending' AND x.lease_until IS NOT NULL AND x.lease_until >= $1) < $3
			ORDER BY d.next_attempt_at, d.id LIMIT 1`+d.db.Dialect().SkipLockedOf("d"), now, d.owner, d.perEndpoint).
			Scan(&c.delivery, &c.step, &c.giveUpAt, &c.endpoint, &c.url, &secret, &prev, &prevUntil, &c.eventID, &typ, &data, &occurred)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim a webhook delivery: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_until = $1, claimed_by = $2, attempts = attempts + 1 WHERE id = $3`,
			now.Add(d.cfg.Lease), d.owner, c.delivery); err != nil {
			return fmt.Errorf("claim webhook delivery %d: %w", c.delivery, err)
		}
		c.secrets = []string{secret}
		if prev != "" && prevUntil.Valid && prevUntil.Time.After(now) {
			c.secrets = append(c.secrets, prev)
		}
		if c.body, err = json.Marshal(body{Type: Type(typ), Timestamp: occurred.UTC().Format(time.RFC3339Nano), Data: json.RawMessage(data)}); err != nil {
			return fmt.Errorf("webhook event %s: %w", c.eventID, err)
		}
		j = &c
		return nil
	})
	return j, err
}

// outcome is what one attempt got.
type outcome struct {
	at       time.Time
	status   int
	latency  time.Duration
	response string
	err      string
}

func (o outcome) ok() bool { return o.err == "" && o.status >= 200 && o.status < 300 }

// attempt sends a claimed delivery, outside any transaction, and stores
// what came of it.
func (d *Deliverer) attempt(ctx context.Context, j *job) error {
	o := d.send(ctx, j)
	if ctx.Err() != nil && !o.ok() {
		// Stopping: the attempt was cut short by us, not failed by the
		// receiver. The lease hands it to the next run.
		return nil
	}
	return d.finish(ctx, j, o)
}

// send makes one HTTP request: the same webhook-id and body every time,
// the timestamp and signatures of now.
func (d *Deliverer) send(ctx context.Context, j *job) outcome {
	o := outcome{at: store.Now(d.cfg.Now())}
	sig, err := Signature(j.eventID, o.at, j.body, j.secrets...)
	if err != nil {
		o.err = err.Error()
		return o
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		o.err = err.Error()
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "marketbridge-webhooks")
	req.Header.Set("webhook-id", j.eventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(o.at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now() // latency is measured, not scheduled: real time
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		o.latency = time.Since(start)
		o.err = err.Error()
		return o
	}
	head, readErr := io.ReadAll(io.LimitReader(resp.Body, responseLimit))
	// Read a little more so that the connection can be reused, not more:
	// a receiver's answer is not our business beyond its start.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	o.latency = time.Since(start)
	o.status = resp.StatusCode
	// Text PostgreSQL stores: valid UTF-8 without NUL bytes, which a
	// binary or compressed answer has and which would fail the attempt's
	// record, and so the delivery's.
	o.response = strings.ReplaceAll(strings.ToValidUTF8(string(head), "\uFFFD"), "\x00", "\uFFFD")
	if readErr != nil && o.ok() {
		o.err = "reading the answer: " + readErr.Error()
	}
	return o
}

// backoff is the wait after the step-th failure in a row, with full jitter.
func (d *Deliverer) backoff(step int) time.Duration {
	ceiling := schedule[min(step, len(schedule)-1)]
	return max(time.Duration(d.cfg.Rand()*float64(ceiling)), minBackoff)
}

// clip keeps s within n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// finish stores an attempt and its consequences: the delivery done, or its
// next try, or failed for good; the endpoint's health, and its disabling
// after days of failures, told to the operators in the same transaction.
func (d *Deliverer) finish(ctx context.Context, j *job, o outcome) error {
	ok := o.ok()
	d.metrics.attempt(ok)
	errText := clip(o.err, 1000)
	if !ok && errText == "" {
		errText = "HTTP " + strconv.Itoa(o.status)
	}
	return d.db.InTx(ctx, func(tx *sql.Tx) error {
		// The endpoint may have been deleted, with its deliveries, while
		// the request was out: then there is nothing to log against.
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhook_deliveries WHERE id = $1`+d.db.Dialect().ForUpdate(), j.delivery).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find webhook delivery %d: %w", j.delivery, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempted_at, status_code, latency_ms, response, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, j.delivery, j.endpoint, o.at, o.status, o.latency.Milliseconds(), clip(o.response, responseLimit),
			clip(o.err, 1000)); err != nil {
			return fmt.Errorf("log attempt of webhook delivery %d: %w", j.delivery, err)
		}
		if ok {
			// Delivered, even if our lease ran out meanwhile.
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $1, lease_until = NULL, last_error = ''
				WHERE id = $2 AND status = 'pending'`, o.at, j.delivery); err != nil {
				return fmt.Errorf("store delivery %d: %w", j.delivery, err)
			}
			// The endpoint's row is shared by all its deliveries: touch it
			// only to clear failures, or once a minute, so that concurrent
			// successes do not queue on its lock.
			_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET last_success_at = $1, failing_since = NULL, consecutive_failures = 0
				WHERE id = $2 AND (consecutive_failures > 0 OR last_success_at IS NULL OR last_success_at < $3)`,
				o.at, j.endpoint, o.at.Add(-successResolution))
			return err
		}
		next := store.Now(o.at.Add(d.backoff(j.step)))
		status := StatusPending
		if !o.at.Before(j.giveUpAt) {
			status = StatusFailed
			d.metrics.gaveUp.Inc()
		}
		// Only the claimant schedules: if its lease ran out and another
		// process took the delivery, that one's attempt decides.
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, step = step + 1, lease_until = NULL,
				last_error = $3
			WHERE id = $4 AND claimed_by = $5 AND status = 'pending'`, status, next, errText, j.delivery, d.owner); err != nil {
			return fmt.Errorf("store delivery %d: %w", j.delivery, err)
		}
		return d.noteFailure(ctx, tx, j.endpoint, o.at)
	})
}

// noteFailure counts a failure against the endpoint and disables it when it
// has failed for DisableAfter and DisableFailures attempts in a row.
func (d *Deliverer) noteFailure(ctx context.Context, tx *sql.Tx, endpoint int64, at time.Time) error {
	var since time.Time
	var failures int
	var enabled bool
	var url string
	err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1,
			failing_since = COALESCE(failing_since, $1)
		WHERE id = $2 RETURNING failing_since, consecutive_failures, enabled, url`, at, endpoint).Scan(&since, &failures, &enabled, &url)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("count failure of webhook endpoint %d: %w", endpoint, err)
	}
	if !enabled || failures < DisableFailures || at.Sub(since) < DisableAfter {
		return nil
	}
	reason := fmt.Sprintf("Disabled on %s: %d attempts in a row failed since %s, with no success.",
		at.Format("2006-01-02 15:04 UTC"), failures, since.Format("2006-01-02 15:04 UTC"))
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET enabled = FALSE, disabled_at = $1, disabled_reason = $2 WHERE id = $3`,
		at, reason, endpoint); err != nil {
		return fmt.Errorf("disable webhook endpoint %d: %w", endpoint, err)
	}
	d.metrics.disabled.Inc()
	d.cfg.Logger.Error("webhook endpoint disabled after days of failures", "endpoint", endpoint, "url", url, "failures", failures, "since", since)
	if len(d.cfg.Operators) == 0 {
		return nil
	}
	text := fmt.Sprintf("marketbridge stopped sending webhooks to %s.\n\n%s\n\n"+
		"Its pending deliveries wait. Once the receiver answers again, enable the endpoint in the operator view, "+
		"and send again what failed:\n%s/operator/webhooks/%d\n", url, reason, strings.TrimRight(d.cfg.BaseURL, "/"), endpoint)
	// A mail that cannot be queued (an operator's address that does not
	// parse) must not undo the disabling: the log and the operator view
	// still say it.
	if _, err := d.cfg.Mailer.Enqueue(ctx, tx, mail.Message{To: d.cfg.Operators, Subject: "Webhook endpoint disabled: " + clip(url, 120), Text: text}); err != nil {
		if store.IsTransient(err) {
			return fmt.Errorf("tell the operators webhook endpoint %d is disabled: %w", endpoint, err)
		}
		d.cfg.Logger.Error("could not mail the operators that a webhook endpoint is disabled", "endpoint", endpoint, "err", err)
	}
	return nil
}

// metrics are the delivery figures on /metrics.
type metrics struct {
	attempts      *prometheus.CounterVec
	gaveUp        prometheus.Counter
	disabled      prometheus.Counter
	oldestPending prometheus.Gauge
	pending       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marketbridge_webhook_attempts_total",
			Help: "Webhook delivery attempts by this process, by outcome (success: a 2xx; failure: anything else or no answer)."}, []string{"outcome"}),
		gaveUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "marketbridge_webhook_deliveries_failed_total",
			Help: "Webhook deliveries given up after three days of failed attempts."}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{Name: "marketbridge_webhook_endpoints_disabled_total",
			Help: "Webhook endpoints disabled after failing for days."}),
		oldestPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "marketbridge_webhook_oldest_pending_seconds",
			Help: "Age of the oldest webhook delivery not yet delivered to an enabled endpoint, at the last delivery round."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "marketbridge_webhook_pending_deliveries",
			Help: "Webhook deliveries not yet delivered to enabled endpoints, at the last delivery round."}),
	}
	m.attempts.WithLabelValues("success")
	m.attempts.WithLabelValues("failure")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.gaveUp, m.disabled, m.oldestPending, m.pending} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("webhook metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) attempt(ok bool) {
	if ok {
		m.attempts.WithLabelValues("success").Inc()
	} else {
		m.attempts.WithLabelValues("failure").Inc()
	}
}

func (m *metrics) observePending(ctx context.Context, db *store.DB, now time.Time) error {
	var n int64
	const pending = ` FROM webhook_deliveries d JOIN webhook_endpoints p ON p.id = d.endpoint_id WHERE d.status = 'pending' AND p.enabled`
	if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*)`+pending).Scan(&n); err != nil {
		return err
	}
	// Not MIN(created_at): SQLite gives an aggregate of a time column back
	// as text.
	var oldest sql.NullTime
	err := db.Read().QueryRowContext(ctx, `SELECT d.created_at`+pending+` ORDER BY d.created_at LIMIT 1`).Scan(&oldest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	m.pending.Set(float64(n))
	if oldest.Valid {
		m.oldestPending.Set(max(now.Sub(oldest.Time).Seconds(), 0))
	} else {
		m.oldestPending.Set(0)
	}
	return nil
}
