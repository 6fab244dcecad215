package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Term is one term of a contract's committed credits: usage within the
// term draws its credits, and no other term's (R13).
type Term struct {
	Start   time.Time // zero for the first term, which runs from the link
	End     time.Time // zero when the marketplace gave no end
	Credits int64     // committed credits, in whole $1
}

// ContractTerms returns the terms of a subscription's committed dimension,
// oldest first: those a renewal or an expiry ended, then the current one
// while the marketplace lists it. None when the contract commits nothing.
func ContractTerms(ctx context.Context, db *store.DB, subscriptionID int64, dimension string) ([]Term, error) {
	return contractTerms(ctx, db.Read(), subscriptionID, dimension)
}

func contractTerms(ctx context.Context, q queryer, subID int64, dimension string) ([]Term, error) {
	rows, err := q.QueryContext(ctx, `SELECT integer_value, term_start, term_end FROM entitlement_terms
		WHERE subscription_id = $1 AND dimension = $2 ORDER BY term_end`, subID, dimension)
	if err != nil {
		return nil, fmt.Errorf("read terms of subscription %d: %w", subID, err)
	}
	var out []Term
	for rows.Next() {
		var t Term
		var start sql.NullTime
		if err := rows.Scan(&t.Credits, &start, &t.End); err != nil {
			rows.Close()
			return nil, err
		}
		t.Start = start.Time
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var credits sql.NullInt64
	var end, start sql.NullTime
	err = q.QueryRowContext(ctx, `SELECT integer_value, expires_at, term_start FROM entitlements
		WHERE subscription_id = $1 AND dimension = $2 AND value_kind = 'integer'`, subID, dimension).Scan(&credits, &end, &start)
	if errors.Is(err, sql.ErrNoRows) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read committed credits of subscription %d: %w", subID, err)
	}
	return append(out, Term{Start: start.Time, End: end.Time, Credits: credits.Int64}), nil
}

// listedEntitlement is an entitlement as the last GetEntitlements listed it.
type listedEntitlement struct {
	kind           string
	integer        sql.NullInt64
	expires, start sql.NullTime
}

// endTerm keeps the term of an entitlement that is no longer current, with
// its credits and end date, for the usage within it: a renewal replaced
// it, or the marketplace stopped listing it (it expired). Only integer
// quantities with an end date make a term.
func (s *Service) endTerm(ctx context.Context, tx *sql.Tx, subID int64, dimension string, e listedEntitlement) error {
	if e.kind != "integer" || !e.integer.Valid || !e.expires.Valid {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO entitlement_terms (subscription_id, dimension, integer_value, term_start, term_end, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subscription_id, dimension, term_end) DO NOTHING`,
		subID, dimension, e.integer.Int64, e.start, e.expires, s.now()); err != nil {
		return fmt.Errorf("keep the ended term of %s: %w", dimension, err)
	}
	return nil
}

// startOfListedTerm is where the term of an entitlement that was not listed
// until now starts: from the link when it is the first; where it was if the
// marketplace lists an ended term again (same end date: it had left the
// list for a while), which is current once more; else where the last ended
// term ended, as a renewal's would.
func (s *Service) startOfListedTerm(ctx context.Context, tx *sql.Tx, subID int64, dimension string, expires sql.NullTime) (sql.NullTime, error) {
	var start sql.NullTime
	var end time.Time
	err := tx.QueryRowContext(ctx, `SELECT term_start, term_end FROM entitlement_terms WHERE subscription_id = $1 AND dimension = $2
		ORDER BY term_end DESC LIMIT 1`, subID, dimension).Scan(&start, &end)
	if errors.Is(err, sql.ErrNoRows) {
		return sql.NullTime{}, nil
	}
	if err != nil {
		return sql.NullTime{}, fmt.Errorf("read ended terms of %s: %w", dimension, err)
	}
	if !expires.Valid || !expires.Time.Equal(end) {
		return sql.NullTime{Time: end, Valid: true}, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM entitlement_terms WHERE subscription_id = $1 AND dimension = $2 AND term_end = $3`,
		subID, dimension, end); err != nil {
		return sql.NullTime{}, fmt.Errorf("resume the term of %s: %w", dimension, err)
	}
	return start, nil
}
