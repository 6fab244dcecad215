package servicecontrol

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

type reportErrorJSON struct {
	OperationID string     `json:"operationId"`
	Status      statusJSON `json:"status"`
}

type reportResponse struct {
	ReportErrors     []reportErrorJSON `json:"reportErrors,omitempty"`
	ServiceConfigID  string            `json:"serviceConfigId"`
	ServiceRolloutID string            `json:"serviceRolloutId"`
}

// opFailure is one operation's reportErrors entry.
func opFailure(op operation, code, msg string) *reportErrorJSON {
	return &reportErrorJSON{OperationID: op.ID, Status: statusJSON{Code: rpcCodes[code], Message: msg}}
}

// report serves POST /v1/services/{service}:report. A malformed request
// fails whole (400); otherwise each operation is accepted, a no-op repeat,
// or a reportErrors entry, and the accepted ones are recorded in one
// transaction (contract §4.4.7-9).
func (s *Server) report(w http.ResponseWriter, r *http.Request, service string) {
	ops, e := readRequest(r, decodeReport)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	ctx := r.Context()
	consumers := make([]*Consumer, len(ops))
	for i, op := range ops {
		if consumers[i], e = s.consumer(ctx, service, op.ConsumerID); e != nil {
			s.writeError(w, r, e)
			return
		}
	}
	resp := reportResponse{ServiceConfigID: s.serviceConfigID, ServiceRolloutID: s.serviceConfigID}
	s.reportsMu.Lock()
	err := s.ledger.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now().UTC()
		for i, op := range ops {
			fail, err := s.apply(ctx, tx, service, op, consumers[i], now)
			if err != nil {
				return fmt.Errorf("operation %s: %w", op.ID, err)
			}
			if fail != nil {
				resp.ReportErrors = append(resp.ReportErrors, *fail)
			}
		}
		return nil
	})
	s.reportsMu.Unlock()
	if err != nil {
		s.log.Error("service control report not recorded", "service", service, "error", err)
		s.writeError(w, r, &apiError{status: http.StatusInternalServerError, code: "INTERNAL", message: "Internal error encountered."})
		return
	}
	if s.takeLoss() {
		s.loseAnswer(w, r)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// apply decides one operation and records it if accepted; the returned
// entry is its reportErrors entry, nil when accepted (or a repeat).
func (s *Server) apply(ctx context.Context, tx *sql.Tx, service string, op operation, c *Consumer, now time.Time) (*reportErrorJSON, error) {
	digest := digestOf(op)
	prev, seen, err := recordedDigest(ctx, tx, service, op.ID)
	if err != nil {
		return nil, err
	}
	if seen {
		if prev == digest || s.duplicates == DuplicateIgnore {
			return nil, nil // Google dedupes on operationId: a retry is a no-op
		}
		return opFailure(op, "INVALID_ARGUMENT", fmt.Sprintf("Operation '%s' was already reported with different content; operationIds must not be reused.", op.ID)), nil
	}
	if c == nil {
		return opFailure(op, "NOT_FOUND", fmt.Sprintf("Consumer '%s' was not found, or has no entitlement to service '%s'.", op.ConsumerID, service)), nil
	}
	afterEnd := !c.EndedAt.IsZero() && op.End.After(c.EndedAt)
	switch {
	case afterEnd && s.afterEnd == AfterEndReject:
		return opFailure(op, "FAILED_PRECONDITION", fmt.Sprintf("Usage until %s is after the entitlement of consumer '%s' ended at %s.",
			op.End.Format(time.RFC3339), op.ConsumerID, c.EndedAt.UTC().Format(time.RFC3339))), nil
	case !c.Active && c.EndedAt.IsZero():
		return opFailure(op, "FAILED_PRECONDITION", fmt.Sprintf("The entitlement of consumer '%s' is not active.", op.ConsumerID)), nil
	}
	var entries []Entry
	for _, set := range op.Sets {
		price, ok := c.Metrics[set.Metric]
		if !ok {
			return opFailure(op, "INVALID_ARGUMENT", fmt.Sprintf("Metric '%s' is not defined for the plan '%s' of service '%s'.", set.Metric, c.Plan, service)), nil
		}
		for _, v := range set.Values {
			if v.Kind != "int64" {
				return opFailure(op, "INVALID_ARGUMENT", fmt.Sprintf("Metric '%s' takes int64Value, not a %s value.", set.Metric, v.Kind)), nil
			}
			if v.Int64 < 0 {
				return opFailure(op, "INVALID_ARGUMENT", fmt.Sprintf("Metric '%s' is a counter; %d is negative.", set.Metric, v.Int64)), nil
			}
			amount, ok := mulMicros(v.Int64, price)
			if !ok {
				return opFailure(op, "INVALID_ARGUMENT", fmt.Sprintf("%d units of metric '%s' overflow the ledger.", v.Int64, set.Metric)), nil
			}
			entries = append(entries, Entry{
				Service: service, OperationID: op.ID, ConsumerID: op.ConsumerID,
				Entitlement: c.Entitlement, Account: c.Account, Product: c.Product, Plan: c.Plan, Metric: set.Metric,
				Start: v.Start, End: v.End, Quantity: v.Int64, PriceMicros: price, AmountMicros: amount,
				Month: v.Start.In(s.location).Format("2006-01"), ReceivedAt: now,
				Late: now.After(v.End.Add(s.lateWindow)), AfterEnd: afterEnd, Labels: op.UserLabels,
			})
		}
	}
	if err := insertOperation(ctx, tx, service, op, digest, now); err != nil {
		return nil, err
	}
	for _, e := range entries {
		ids, err := overlapping(ctx, tx, service, e.ConsumerID, e.Metric, e.OperationID, e.Start, e.End)
		if err != nil {
			return nil, err
		}
		e.Overlaps = ids
		if len(ids) > 0 {
			s.log.Warn("usage overlaps earlier operations: the seller reported an interval twice", "service", service,
				"consumer_id", e.ConsumerID, "metric", e.Metric, "operation_id", e.OperationID, "overlaps", ids)
		}
		if e.Late {
			s.log.Warn("usage reported after the reporting window", "operation_id", e.OperationID, "end", e.End, "received", now)
		}
		if err := insertUsage(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// digestOf fingerprints what an operation says, in canonical form (UTC
// times, sorted maps), so that a retry of the same operation matches even if
// re-encoded differently.
func digestOf(op operation) string {
	b, _ := json.Marshal(op) // only strings, times, ints and maps of strings
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// mulMicros is quantity × price, or false if it overflows int64.
func mulMicros(quantity, price int64) (int64, bool) {
	if quantity == 0 || price == 0 {
		return 0, true
	}
	if price < 0 || quantity > math.MaxInt64/price {
		return 0, false
	}
	return quantity * price, true
}

// loseAnswer drops the connection after the report was applied: the client
// sees a transport error and cannot know the outcome. Where the connection
// cannot be taken over (HTTP/2), a 503 says the same.
func (s *Server) loseAnswer(w http.ResponseWriter, r *http.Request) {
	s.log.Info("service control answer dropped (injected by the emulator)", "path", r.URL.Path)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.writeError(w, r, &apiError{status: http.StatusServiceUnavailable, code: "UNAVAILABLE", message: "The service is currently unavailable (injected by the emulator)."})
		return
	}
	conn.Close()
}
