package marketplace

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/money"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Agreement is what a buyer accepted, as the marketplace's agreement
// service tells it (AWS's Agreement API): the terms GetEntitlements cannot
// say, such as prices, the payment schedule, renewal and a free trial.
type Agreement struct {
	ID     string
	Status string // as the marketplace names it: ACTIVE, CANCELLED, EXPIRED, RENEWED, REPLACED, ...
	// OfferID and ProductIDs are the offer accepted and the marketplace's
	// ids of the products it is for (AWS's prod-…, not the product code).
	OfferID           string
	ProductIDs        []string
	AcceptorAccountID string
	// LicenseArns are the licenses the agreement grants (from a search).
	LicenseArns      []string
	AcceptedAt       time.Time
	StartsAt, EndsAt time.Time
	Terms            AgreementTerms // empty from a search, which reads no terms
}

// AgreementQuery asks for the seller's active purchase agreements with a
// buyer: of the license when LicenseArn is given (AWS's Concurrent
// Agreements give every agreement its own), else of the product when
// ProductID is.
type AgreementQuery struct {
	AcceptorAccountID string
	LicenseArn        string
	ProductID         string
}

// AgreementTerms are an agreement's accepted terms that the billing page
// shows. Amounts are decimal strings exactly as the marketplace wrote them,
// in Currency; Commitment.Total and the like are computed from them
// exactly, or left out.
type AgreementTerms struct {
	Currency string `json:"currency,omitempty"`
	// Duration is the agreement's length as ISO 8601 ("P12M"), when its
	// validity term gives one.
	Duration string `json:"duration,omitempty"`
	// Commitments are the quantities bought up front per dimension, with
	// each unit's price (AWS's configurable and fixed upfront pricing).
	Commitments []Commitment `json:"commitments,omitempty"`
	// UpfrontPrice is the price of a fixed upfront term, when there is one.
	UpfrontPrice string `json:"upfront_price,omitempty"`
	// Usage is the price of one unit of each metered dimension.
	Usage []UsageRate `json:"usage,omitempty"`
	// Payments is the schedule of charges, when the contract is paid in
	// instalments.
	Payments []Payment `json:"payments,omitempty"`
	// RecurringPrice is charged every RecurringPeriod ("Monthly"), when a
	// recurring payment term is part of the agreement.
	RecurringPrice  string `json:"recurring_price,omitempty"`
	RecurringPeriod string `json:"recurring_period,omitempty"`
	// AutoRenew is whether the agreement renews itself at its end: nil when
	// it has no renewal term.
	AutoRenew *bool `json:"auto_renew,omitempty"`
	// FreeTrial is the length of a free trial as ISO 8601 ("P30D"); the
	// trial runs from the agreement's start.
	FreeTrial string `json:"free_trial,omitempty"`
	// Documents are the legal terms (EULA, ...), and RefundPolicy the
	// support term's words.
	Documents    []Document `json:"documents,omitempty"`
	RefundPolicy string     `json:"refund_policy,omitempty"`
}

// Commitment is a quantity of a dimension bought up front.
type Commitment struct {
	Dimension string `json:"dimension"`
	Quantity  int64  `json:"quantity"`
	// Unlimited is a grant without a maximum quantity (AWS's GrantItem
	// without MaxQuantity); Quantity is then 0.
	Unlimited bool   `json:"unlimited,omitempty"`
	UnitPrice string `json:"unit_price,omitempty"`
}

// UsageRate is the price of one unit of a metered dimension.
type UsageRate struct {
	Dimension string `json:"dimension"`
	Price     string `json:"price"`
}

// Payment is one charge of a payment schedule.
type Payment struct {
	ChargeDate time.Time `json:"charge_date"`
	Amount     string    `json:"amount"`
}

// Document is a legal document of the agreement.
type Document struct {
	Type    string `json:"type"`
	URL     string `json:"url"`
	Version string `json:"version,omitempty"`
}

// AgreementReader reads agreements from the marketplace (package awsmp
// implements it with the Agreement API). Errors that trying again cannot
// mend (the agreement does not exist) wrap ErrAgreementUnreadable; a
// refusal of the credentials wraps ErrAgreementNotPermitted.
type AgreementReader interface {
	// Agreement is the agreement with its terms.
	Agreement(ctx context.Context, id string) (Agreement, error)
	// ActiveAgreements are the seller's active purchase agreements the
	// query asks for, without terms.
	ActiveAgreements(ctx context.Context, q AgreementQuery) ([]Agreement, error)
}

// ErrAgreementUnreadable is wrapped by an AgreementReader's errors that
// trying again cannot mend.
var ErrAgreementUnreadable = fault.New(fault.KindNotFound, "the marketplace has no such agreement of this seller")

// ErrAgreementNotPermitted is wrapped by an AgreementReader's errors when
// the seller's credentials may not call the Agreement API: mended by the
// vendor's IAM policy, not by trying again soon, so tried again hourly.
var ErrAgreementNotPermitted = errors.New("the seller's AWS credentials may not call the Agreement API (see docs/aws-setup.md for the IAM actions)")

// AgreementView is an agreement of a subscription as the billing page shows
// it: its terms with the catalog's descriptions and exact totals.
type AgreementView struct {
	Agreement
	ReadAt      time.Time
	Commitments []CommitmentView
	// CommittedTotal is the sum of the commitments at their unit prices
	// plus any fixed upfront price, in Currency; empty when a price could
	// not be read exactly. CommittedMicros is the same sum.
	CommittedTotal  string
	CommittedMicros money.Micros
	Usage           []UsageRateView
	Payments        []PaymentView
	PaymentsTotal   string
	// FreeTrialEnds is when a free trial ends (zero: none, or its length
	// is not one the page can count).
	FreeTrialEnds time.Time
	// Renewal is "automatic", "manual" or "" when the agreement has no
	// renewal term.
	Renewal string
}

// CommitmentView is a commitment with its dimension's description and
// price.
type CommitmentView struct {
	Commitment
	Description string
	UnitPrice   string // with the currency; empty when none was given
	Total       string
	// AmountMicros is Quantity times the unit price, when Total is given.
	AmountMicros money.Micros
}

// UsageRateView is a usage price with its dimension's description.
type UsageRateView struct {
	Dimension, Description string
	Price                  string // with the currency, when it reads exactly
	Decimal                string // as the marketplace wrote it
}

// PaymentView is a scheduled charge with its amount in the currency.
type PaymentView struct {
	ChargeDate time.Time
	Amount     string
}

// AgreementOf is the newest agreement of the subscription whose terms have
// been read, for its billing page; nil when there is none (no Agreement
// API configured, or not read yet).
func (s *Service) AgreementOf(ctx context.Context, subID int64) (*AgreementView, error) {
	var (
		v                              AgreementView
		accepted, starts, ends, readAt sql.NullTime
		terms                          string
		productCode                    string
	)
	err := s.db.Read().QueryRowContext(ctx, `SELECT a.agreement_id, a.status, a.offer_id, a.accepted_at, a.starts_at, a.ends_at,
			a.terms, a.read_at, s.product_code, s.customer_aws_account_id
		FROM subscription_agreements a JOIN subscriptions s ON s.id = a.subscription_id
		WHERE a.subscription_id = $1 AND a.read_at IS NOT NULL
		ORDER BY (a.starts_at IS NULL), a.starts_at DESC, a.recorded_at DESC LIMIT 1`, subID).
		Scan(&v.ID, &v.Status, &v.OfferID, &accepted, &starts, &ends, &terms, &readAt, &productCode, &v.AcceptorAccountID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read agreement of subscription %d: %w", subID, err)
	}
	v.AcceptedAt, v.StartsAt, v.EndsAt, v.ReadAt = accepted.Time, starts.Time, ends.Time, readAt.Time
	if err := json.Unmarshal([]byte(terms), &v.Terms); err != nil {
		return nil, fmt.Errorf("read terms of agreement %s: %w", v.ID, err)
	}
	product, _ := s.cfg.Catalog.Product(productCode)
	v.describe(product)
	return &v, nil
}

// describe fills the view's descriptions and totals from the terms.
func (v *AgreementView) describe(p Product) {
	t := v.Terms
	describe := func(dim string) string {
		for _, d := range p.Dimensions {
			if d.Name == dim {
				return d.Description
			}
		}
		return ""
	}
	amount := func(s string) (money.Micros, bool) {
		m, err := money.ParseMicros(s)
		return m, err == nil
	}
	// Sums are exact or absent: a price that does not read exactly, or a
	// sum past int64 micro-units, leaves the total out rather than show a
	// wrong one.
	var total money.Micros
	exact := true
	add := func(sum *money.Micros, m money.Micros) bool {
		if (m > 0 && *sum > math.MaxInt64-m) || (m < 0 && *sum < math.MinInt64-m) {
			return false
		}
		*sum += m
		return true
	}
	for _, c := range t.Commitments {
		cv := CommitmentView{Commitment: c, Description: describe(c.Dimension)}
		switch price, ok := amount(c.UnitPrice); {
		case c.UnitPrice == "":
			// A grant of a fixed upfront term: its price is the term's.
		case !ok:
			exact = false
		default:
			cv.UnitPrice = price.InCurrency(t.Currency)
			line := price * money.Micros(c.Quantity)
			if c.Unlimited || (c.Quantity != 0 && line/money.Micros(c.Quantity) != price) || !add(&total, line) {
				exact = false
				break
			}
			cv.Total, cv.AmountMicros = line.InCurrency(t.Currency), line
		}
		v.Commitments = append(v.Commitments, cv)
	}
	if t.UpfrontPrice != "" {
		if price, ok := amount(t.UpfrontPrice); !ok || !add(&total, price) {
			exact = false
		}
	}
	if exact && (len(t.Commitments) > 0 || t.UpfrontPrice != "") {
		v.CommittedTotal, v.CommittedMicros = total.InCurrency(t.Currency), total
	}
	for _, u := range t.Usage {
		price := u.Price
		if m, ok := amount(u.Price); ok {
			price = m.InCurrency(t.Currency)
		}
		v.Usage = append(v.Usage, UsageRateView{Dimension: u.Dimension, Description: describe(u.Dimension), Price: price, Decimal: u.Price})
	}
	var paid money.Micros
	paidExact := true
	for _, pay := range t.Payments {
		pv := PaymentView{ChargeDate: pay.ChargeDate, Amount: pay.Amount}
		if m, ok := amount(pay.Amount); ok && add(&paid, m) {
			pv.Amount = m.InCurrency(t.Currency)
		} else {
			paidExact = false
		}
		v.Payments = append(v.Payments, pv)
	}
	if paidExact && len(t.Payments) > 0 {
		v.PaymentsTotal = paid.InCurrency(t.Currency)
	}
	switch {
	case t.AutoRenew == nil:
	case *t.AutoRenew:
		v.Renewal = "automatic"
	default:
		v.Renewal = "manual"
	}
	if t.FreeTrial != "" && !v.StartsAt.IsZero() {
		if end, ok := addISODuration(v.StartsAt, t.FreeTrial); ok {
			v.FreeTrialEnds = end
		}
	}
}

// addISODuration adds an ISO 8601 duration of whole years, months or days
// ("P1Y", "P12M", "P30D", "P1Y6M") to t, as calendars count them; false
// for anything else (weeks, times of day), which the page leaves out
// rather than guess.
func addISODuration(t time.Time, d string) (time.Time, bool) {
	if len(d) < 3 || d[0] != 'P' {
		return time.Time{}, false
	}
	var y, m, days int
	n, seen := 0, false
	for _, r := range d[1:] {
		switch {
		case r >= '0' && r <= '9':
			n, seen = n*10+int(r-'0'), true
			if n > 10_000 {
				return time.Time{}, false
			}
		case seen && r == 'Y':
			y, n, seen = y+n, 0, false
		case seen && r == 'M':
			m, n, seen = m+n, 0, false
		case seen && r == 'D':
			days, n, seen = days+n, 0, false
		default:
			return time.Time{}, false
		}
	}
	if seen {
		return time.Time{}, false
	}
	return t.AddDate(y, m, days), true
}

// recordAgreement records that the agreement is the subscription's and
// wants it read, in the transaction of the event that tells it. The first
// subscription an agreement is recorded for keeps it.
func (s *Service) recordAgreement(ctx context.Context, tx *sql.Tx, agreementID string, subID int64) error {
	now := s.now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO subscription_agreements (agreement_id, subscription_id, recorded_at, read_wanted_at)
		VALUES ($1, $2, $3, $3) ON CONFLICT (agreement_id) DO NOTHING`, agreementID, subID, now); err != nil {
		return fmt.Errorf("record agreement %s of subscription %d: %w", agreementID, subID, err)
	}
	// Known now: nothing to search for.
	if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET agreement_searched_at = $1 WHERE id = $2 AND agreement_searched_at IS NULL`,
		now, subID); err != nil {
		return fmt.Errorf("record agreement %s of subscription %d: %w", agreementID, subID, err)
	}
	return nil
}

// wantAgreementRead asks for the agreement to be read again: an event of it
// was applied, so its status or terms may have changed.
func (s *Service) wantAgreementRead(ctx context.Context, tx *sql.Tx, agreementID string, subID int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE subscription_agreements SET read_wanted_at = $1, read_attempts = 0, read_asks = read_asks + 1
		WHERE agreement_id = $2 AND subscription_id = $3`, s.now(), agreementID, subID); err != nil {
		return fmt.Errorf("ask for agreement %s to be read: %w", agreementID, err)
	}
	return nil
}

// maxAgreementBackoff bounds the wait between reads of an agreement the
// Agreement API failed to answer for, and is the wait after a refusal of
// the seller's credentials. agreementClaim is how long a process holds an
// agreement it is reading, or a subscription whose agreement it is looking
// for, before another may take it over; searchBackoff is the wait after a
// search failed.
const (
	maxAgreementBackoff = time.Hour
	agreementClaim      = 2 * time.Minute
	searchBackoff       = 5 * time.Minute
)

// ReadAgreements reads up to limit agreements that an event or a set-up
// asked to be read, and looks for the agreement of up to limit
// subscriptions set up without one found; it returns how many agreements it
// read. Without an AgreementReader it does nothing. Reading happens outside
// any transaction; a read that fails is tried again later, a little later
// each time, and one the marketplace refuses for good is not.
func (s *Service) ReadAgreements(ctx context.Context, limit int) (int, error) {
	if s.cfg.Agreements == nil {
		return 0, nil
	}
	// Found first, so that an agreement found is read in the same pass.
	ferr := s.findAgreements(ctx, limit)
	read, err := s.readWanted(ctx, limit, 0)
	return read, errors.Join(ferr, err)
}

// readAgreementsOf reads the agreements of one subscription that want it.
func (s *Service) readAgreementsOf(ctx context.Context, subID int64) (int, error) {
	if s.cfg.Agreements == nil {
		return 0, nil
	}
	return s.readWanted(ctx, 10, subID)
}

// readWanted reads up to limit agreements that want reading, of the
// subscription subID or of all when it is 0.
func (s *Service) readWanted(ctx context.Context, limit int, subID int64) (int, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT agreement_id, subscription_id, read_asks, read_attempts FROM subscription_agreements
		WHERE read_wanted_at IS NOT NULL AND read_wanted_at <= $1 AND ($3 = 0 OR subscription_id = $3)
		ORDER BY read_wanted_at LIMIT $2`, s.now(), limit, subID)
	if err != nil {
		return 0, fmt.Errorf("list agreements to read: %w", err)
	}
	type wanted struct {
		id             string
		subID          int64
		asks, attempts int
	}
	var ws []wanted
	for rows.Next() {
		var w wanted
		if err := rows.Scan(&w.id, &w.subID, &w.asks, &w.attempts); err != nil {
			rows.Close()
			return 0, err
		}
		ws = append(ws, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	read := 0
	var errs []error
	for _, w := range ws {
		// Claimed first, so that two processes do not both read it: the
		// claim moves the wish past the read's time, and another process
		// finds nothing due.
		now := s.now()
		res, err := s.db.Write().ExecContext(ctx, `UPDATE subscription_agreements SET read_wanted_at = $1
			WHERE agreement_id = $2 AND read_asks = $3 AND read_wanted_at IS NOT NULL AND read_wanted_at <= $4`,
			now.Add(agreementClaim), w.id, w.asks, now)
		if err != nil {
			return read, fmt.Errorf("claim agreement %s: %w", w.id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		a, err := s.cfg.Agreements.Agreement(ctx, w.id)
		if err != nil {
			errs = append(errs, s.agreementReadFailed(ctx, w.id, w.asks, w.attempts, err))
			continue
		}
		terms, err := json.Marshal(a.Terms)
		if err != nil {
			return read, err
		}
		// Only if no event asked for another read meanwhile (read_asks
		// moved on): that read, to come, is newer than this one.
		_, err = s.db.Write().ExecContext(ctx, `UPDATE subscription_agreements SET status = $1, offer_id = $2, accepted_at = $3,
				starts_at = $4, ends_at = $5, terms = $6, read_at = $7, read_error = '', read_attempts = 0, read_wanted_at = NULL
			WHERE agreement_id = $8 AND read_asks = $9`, a.Status, a.OfferID, nullableTime(a.AcceptedAt), nullableTime(a.StartsAt),
			nullableTime(a.EndsAt), string(terms), s.now(), w.id, w.asks)
		if err != nil {
			return read, fmt.Errorf("record terms of agreement %s: %w", w.id, err)
		}
		read++
	}
	return read, errors.Join(errs...)
}

// agreementReadFailed records a failed read and when to try again; an
// agreement the marketplace refuses for good is not asked for again until
// another event of it.
func (s *Service) agreementReadFailed(ctx context.Context, id string, asks, attempts int, cause error) error {
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	next := sql.NullTime{Time: s.now().Add(min(time.Duration(1<<min(attempts, 12))*time.Second, maxAgreementBackoff)), Valid: true}
	switch {
	case errors.Is(cause, ErrAgreementUnreadable):
		next = sql.NullTime{}
	case errors.Is(cause, ErrAgreementNotPermitted):
		next.Time = s.now().Add(maxAgreementBackoff)
	}
	if _, err := s.db.Write().ExecContext(ctx, `UPDATE subscription_agreements SET read_error = $1, read_attempts = read_attempts + 1,
			read_wanted_at = CASE WHEN read_asks = $2 THEN $3 ELSE read_wanted_at END
		WHERE agreement_id = $4`, msg, asks, next, id); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("read agreement %s: %w", id, cause)
}

// FindAgreement looks for the agreement of a subscription just set up, so
// that its billing page shows its terms even when no License event named
// it (a seller without EventBridge). It asks for the buyer's active
// agreement of the subscription's license (or, for a legacy subscription
// without one, of its product) and records the one no other subscription
// holds; with none or several it records nothing, and the License event of
// the agreement will. Failures are for the caller to log: ReadAgreements
// tries again.
func (s *Service) FindAgreement(ctx context.Context, subID int64) error {
	if s.cfg.Agreements == nil {
		return nil
	}
	var productCode, account, license, status string
	var searched sql.NullTime
	var held int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT product_code, customer_aws_account_id, license_arn, status, agreement_searched_at,
			(SELECT COUNT(*) FROM subscription_agreements WHERE subscription_id = $1)
		FROM subscriptions WHERE id = $1`, subID).Scan(&productCode, &account, &license, &status, &searched, &held); err != nil {
		return fmt.Errorf("find agreement of subscription %d: %w", subID, err)
	}
	if searched.Valid {
		return nil
	}
	product, ok := s.cfg.Catalog.Product(productCode)
	if held > 0 || status == StatusCancelled || status == StatusFailed || !ok {
		// Nothing to look for; said once, so that the loop's query does
		// not meet it again.
		_, err := s.db.Write().ExecContext(ctx, `UPDATE subscriptions SET agreement_searched_at = $1 WHERE id = $2`, s.now(), subID)
		return err
	}
	// Claimed first, so that two processes do not both search.
	now := s.now()
	res, err := s.db.Write().ExecContext(ctx, `UPDATE subscriptions SET agreement_search_after = $1 WHERE id = $2
		AND agreement_searched_at IS NULL AND (agreement_search_after IS NULL OR agreement_search_after <= $3)`,
		now.Add(agreementClaim), subID, now)
	if err != nil {
		return fmt.Errorf("claim the search for subscription %d's agreement: %w", subID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	q := AgreementQuery{AcceptorAccountID: account, LicenseArn: license}
	if license == "" {
		q.ProductID = product.ProductID
	}
	found, err := s.cfg.Agreements.ActiveAgreements(ctx, q)
	if err != nil {
		// Looked for again after a pause (an hour when the credentials
		// may not search); the License event may record it before.
		wait := searchBackoff
		if errors.Is(err, ErrAgreementNotPermitted) || errors.Is(err, ErrAgreementUnreadable) {
			wait = maxAgreementBackoff
		}
		if _, uerr := s.db.Write().ExecContext(ctx, `UPDATE subscriptions SET agreement_search_after = $1 WHERE id = $2`,
			s.now().Add(wait), subID); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return fmt.Errorf("find agreement of subscription %d: %w", subID, err)
	}
	// Without the product's id in the catalog, an agreement of another
	// product the catalog knows by its id is not this one.
	others := map[string]bool{}
	for _, p := range s.cfg.Catalog.Products() {
		if p.Code != product.Code && p.ProductID != "" {
			others[p.ProductID] = true
		}
	}
	var candidates []Agreement
	for _, a := range found {
		if a.AcceptorAccountID != "" && a.AcceptorAccountID != account {
			continue
		}
		if license != "" {
			// The agreement of this very license, whatever the catalog
			// knows of product ids.
			if slices.ContainsFunc(a.LicenseArns, func(l string) bool { return licenseID(l) == licenseID(license) }) {
				candidates = append(candidates, a)
			}
			continue
		}
		if product.ProductID != "" && !slices.Contains(a.ProductIDs, product.ProductID) {
			continue
		}
		if slices.ContainsFunc(a.ProductIDs, func(id string) bool { return others[id] }) {
			continue
		}
		candidates = append(candidates, a)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var free []string
		for _, a := range candidates {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscription_agreements WHERE agreement_id = $1`, a.ID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				free = append(free, a.ID)
			}
		}
		if len(free) == 1 {
			if err := s.recordAgreement(ctx, tx, free[0], subID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE subscriptions SET agreement_searched_at = $1 WHERE id = $2`, s.now(), subID)
		return err
	})
}

// findAgreements runs FindAgreement for subscriptions whose set-up could
// not (the Agreement API did not answer then), oldest first.
func (s *Service) findAgreements(ctx context.Context, limit int) error {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id FROM subscriptions WHERE agreement_searched_at IS NULL AND marketplace = $1
			AND (agreement_search_after IS NULL OR agreement_search_after <= $3)
		ORDER BY id LIMIT $2`, s.cfg.Marketplace, limit, s.now())
	if err != nil {
		return fmt.Errorf("list subscriptions without an agreement: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.FindAgreement(ctx, id))
	}
	return errors.Join(errs...)
}

func nullableTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: store.Now(t), Valid: true}
}

// RunAgreements reads agreements every interval until ctx ends, apart from
// the notifications loop: a slow or unanswering Agreement API must not
// hold up the lifecycle.
func (s *Service) RunAgreements(ctx context.Context, every time.Duration) {
	if s.cfg.Agreements == nil {
		return
	}
	runEvery(ctx, every, func() {
		if _, err := s.ReadAgreements(ctx, 20); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("read agreements", "err", err)
		}
	})
}
