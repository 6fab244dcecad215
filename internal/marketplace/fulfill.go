package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/secret"
	"github.com/marketbridge/marketbridge/internal/store"
)

// FulfillInput is the marketplace's POST to the fulfillment URL.
type FulfillInput struct {
	Token     string // x-amzn-marketplace-token
	OfferType string // x-amzn-marketplace-offer-type: "free-trial" or empty
}

// maxTokenBytes bounds a registration token: AWS's are opaque and far
// shorter, and AWS's APIs refuse a request body over 1 MB.
const maxTokenBytes = 64 << 10

// ProductError is ErrProductNotConfigured with the code that was not found,
// for the page to show.
type ProductError struct{ Code string }

func (e *ProductError) Error() string { return "product " + e.Code + " is not in the catalog" }
func (e *ProductError) Unwrap() error { return ErrProductNotConfigured }

// Fulfill resolves a registration token at once, records the subscription
// and its entitlements, and opens a purchase for the browser that brought
// the token. It returns the claim, a secret for that browser's cookie; the
// token itself is not kept (R4). Resolving the same token again finds the
// same subscription (R5, R6).
func (s *Service) Fulfill(ctx context.Context, in FulfillInput) (claim string, p Purchase, err error) {
	token := strings.TrimSpace(in.Token)
	// A forged token of a megabyte would become a call to AWS that its API
	// refuses as too large, which the buyer would be told is an outage.
	if token == "" || len(token) > maxTokenBytes {
		return "", Purchase{}, ErrTokenInvalid
	}
	res, err := s.cfg.Resolver.ResolveCustomer(ctx, token)
	if err != nil {
		return "", Purchase{}, err
	}
	product, ok := s.cfg.Catalog.Product(res.ProductCode)
	if !ok {
		return "", Purchase{}, &ProductError{Code: res.ProductCode}
	}
	if res.AccountID == "" || res.agreementKey() == "" {
		return "", Purchase{}, fmt.Errorf("resolve customer: answer without an account id and a license or customer identifier: %w", ErrTokenInvalid)
	}
	var ents []Entitlement
	if product.OfferType == OfferContract {
		if ents, err = s.cfg.Resolver.Entitlements(ctx, product.Code, res.Customer); err != nil {
			return "", Purchase{}, err
		}
	}
	claim = secret.Token()
	var id int64
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		subID, err := s.upsertSubscription(ctx, tx, product, res, in.OfferType == "free-trial")
		if err != nil {
			return err
		}
		if product.OfferType == OfferContract {
			// A set-up again of a linked contract may bring new terms.
			link, err := s.eventLink(ctx, tx, subID)
			if err != nil {
				return err
			}
			changed, err := s.replaceEntitlementsTold(ctx, tx, link, subID, ents)
			if err != nil {
				return err
			}
			if err := s.tellChange(ctx, tx, link, subID, "", changed); err != nil {
				return err
			}
		}
		now := s.now()
		return tx.QueryRowContext(ctx, `INSERT INTO purchases (claim_hash, subscription_id, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			secret.Hash(claim), subID, now, now.Add(PurchaseTTL)).Scan(&id)
	})
	if err != nil {
		return "", Purchase{}, fmt.Errorf("record purchase: %w", err)
	}
	p, err = s.purchase(ctx, `p.id = $1`, id)
	if err == nil {
		// The agreement is looked for now, so that the billing page shows
		// its terms from the start; if the Agreement API does not answer
		// within a few seconds, the agreements loop looks again, and the
		// set-up goes on.
		actx, cancel := context.WithTimeout(ctx, setUpAgreementTimeout)
		if ferr := s.FindAgreement(actx, p.Subscription.ID); ferr != nil {
			s.cfg.Logger.Warn("find the agreement of a set-up", "subscription", p.Subscription.ID, "err", ferr)
		} else if _, rerr := s.readAgreementsOf(actx, p.Subscription.ID); rerr != nil {
			s.cfg.Logger.Warn("read the agreement of a set-up", "subscription", p.Subscription.ID, "err", rerr)
		}
		cancel()
	}
	return claim, p, err
}

// setUpAgreementTimeout bounds what a set-up waits for the Agreement API.
const setUpAgreementTimeout = 5 * time.Second

func (s *Service) upsertSubscription(ctx context.Context, tx *sql.Tx, product Product, res Resolved, freeTrial bool) (int64, error) {
	now := s.now()
	var id int64
	// A free trial stays marked once seen: the form field only comes with
	// the first set-up (R24).
	err := tx.QueryRowContext(ctx, `INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id,
			customer_identifier, license_arn, agreement_key, free_trial, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)
		ON CONFLICT (marketplace, product_code, customer_aws_account_id, agreement_key) DO UPDATE
			SET free_trial = subscriptions.free_trial OR excluded.free_trial, updated_at = excluded.updated_at
		RETURNING id`,
		s.cfg.Marketplace, product.Code, product.OfferType, res.AccountID, res.Identifier, res.LicenseArn, res.agreementKey(),
		freeTrial, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record subscription: %w", err)
	}
	return id, nil
}

// replaceEntitlements records the entitlements GetEntitlements lists now,
// and the contract terms they imply. A renewal moves an entitlement's end
// date later, often before the old end (AWS renews early): the new term
// starts where the old one ends, and the old term is kept with its
// credits, as is a term that expired (the marketplace stops listing it),
// so that usage within each term draws that term's credits (R13, R14,
// R22). An upgrade keeps the end date, and the term.
func (s *Service) replaceEntitlements(ctx context.Context, tx *sql.Tx, subID int64, ents []Entitlement) error {
	old := map[string]listedEntitlement{}
	rows, err := tx.QueryContext(ctx, `SELECT dimension, value_kind, integer_value, expires_at, term_start FROM entitlements
		WHERE subscription_id = $1`, subID)
	if err != nil {
		return fmt.Errorf("read entitlements: %w", err)
	}
	for rows.Next() {
		var dim string
		var e listedEntitlement
		if err := rows.Scan(&dim, &e.kind, &e.integer, &e.expires, &e.start); err != nil {
			rows.Close()
			return err
		}
		old[dim] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM entitlements WHERE subscription_id = $1`, subID); err != nil {
		return fmt.Errorf("replace entitlements: %w", err)
	}
	listed := map[string]bool{}
	for _, e := range ents {
		listed[e.Dimension] = true
		var expires sql.NullTime
		if !e.ExpiresAt.IsZero() {
			expires = sql.NullTime{Time: store.Now(e.ExpiresAt), Valid: true}
		}
		prev, had := old[e.Dimension]
		start := prev.start
		switch {
		case !had:
			if start, err = s.startOfListedTerm(ctx, tx, subID, e.Dimension, expires); err != nil {
				return err
			}
		case prev.expires.Valid && expires.Valid && expires.Time.After(prev.expires.Time):
			if err := s.endTerm(ctx, tx, subID, e.Dimension, prev); err != nil {
				return err
			}
			start = prev.expires
		}
		var integer sql.NullInt64
		if e.Kind == "integer" {
			integer = sql.NullInt64{Int64: e.Integer, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO entitlements (subscription_id, dimension, value_kind, integer_value, text_value, expires_at, updated_at, term_start)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, subID, e.Dimension, e.Kind, integer, e.Text, expires, s.now(), start); err != nil {
			return fmt.Errorf("record entitlement %s: %w", e.Dimension, err)
		}
	}
	for dim, prev := range old {
		if !listed[dim] {
			if err := s.endTerm(ctx, tx, subID, dim, prev); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrPurchaseNotFound is what an unknown, expired or foreign purchase gives.
var ErrPurchaseNotFound = fault.New(fault.KindNotFound, "We could not find your marketplace purchase, or it has expired. "+
	"Go back to AWS Marketplace, open your subscription and click \u201cSet up your account\u201d again.")

// ClaimPurchase binds the purchase whose claim a browser holds to the user
// logged in on that browser, so that it follows them to any browser they
// log in from later (R4). The first user to claim it keeps it: someone else
// logging in later on the same browser cannot take it over.
func (s *Service) ClaimPurchase(ctx context.Context, claim string, userID int64) (Purchase, error) {
	if claim == "" {
		return Purchase{}, ErrPurchaseNotFound
	}
	res, err := s.db.Write().ExecContext(ctx, `UPDATE purchases SET user_id = $1
		WHERE claim_hash = $2 AND completed_at IS NULL AND expires_at > $3 AND (user_id IS NULL OR user_id = $1)`,
		userID, secret.Hash(claim), s.now())
	if err != nil {
		return Purchase{}, fmt.Errorf("claim purchase: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Purchase{}, ErrPurchaseNotFound
	}
	return s.purchase(ctx, `p.claim_hash = $1`, secret.Hash(claim))
}

// PurchaseByClaim returns the purchase a browser holds, claimed or not.
func (s *Service) PurchaseByClaim(ctx context.Context, claim string) (Purchase, error) {
	if claim == "" {
		return Purchase{}, ErrPurchaseNotFound
	}
	p, err := s.purchase(ctx, `p.claim_hash = $1`, secret.Hash(claim))
	if err != nil {
		return Purchase{}, err
	}
	if !p.ExpiresAt.After(s.now()) {
		return Purchase{}, ErrPurchaseNotFound
	}
	return p, nil
}

// PendingPurchase is the newest purchase of the user still waiting to be
// linked, if any: where the console sends them after log-in.
func (s *Service) PendingPurchase(ctx context.Context, userID int64) (Purchase, bool, error) {
	var id int64
	err := s.db.Read().QueryRowContext(ctx, `SELECT id FROM purchases WHERE user_id = $1 AND completed_at IS NULL AND expires_at > $2
		ORDER BY id DESC LIMIT 1`, userID, s.now()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Purchase{}, false, nil
	}
	if err != nil {
		return Purchase{}, false, fmt.Errorf("pending purchase of user %d: %w", userID, err)
	}
	p, err := s.purchase(ctx, `p.id = $1`, id)
	return p, err == nil, err
}

// PurchaseOf returns a purchase of the user; any other is not found.
func (s *Service) PurchaseOf(ctx context.Context, id, userID int64) (Purchase, error) {
	p, err := s.purchase(ctx, `p.id = $1`, id)
	if err != nil {
		return Purchase{}, err
	}
	if p.UserID != userID {
		return Purchase{}, ErrPurchaseNotFound
	}
	return p, nil
}
