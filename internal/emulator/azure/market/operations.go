package market

import (
	"context"
	"sort"
	"strings"
	"time"
)

// ChangeInput is a plan or a quantity change: exactly one of the two.
type ChangeInput struct {
	PlanID   string `json:"planId,omitempty"`
	Quantity *int   `json:"quantity,omitempty"`
}

// checkChange applies the 400 rules of §3.8 and names the action.
func (m *Market) checkChange(s *Subscription, in ChangeInput) (string, error) {
	if (in.PlanID == "") == (in.Quantity == nil) {
		if in.PlanID != "" {
			return "", invalidf("", "Cannot patch more than one field in the same request")
		}
		return "", invalidf("", "Either planId or quantity is required")
	}
	if s.Status != StatusSubscribed {
		return "", invalidf("subscriptionId", "Subscription %s is %s; only Subscribed subscriptions can be updated", s.ID, s.Status)
	}
	if !s.allows(CustomerUpdate) {
		return "", invalidf("subscriptionId", "Update is not an allowed customer operation of subscription %s", s.ID)
	}
	if m.locked(s.ID) {
		return "", invalidf("subscriptionId", "The subscription %s is locked due to pending operations", s.ID)
	}
	o := m.offers[s.OfferID]
	cur := o.plan(s.PlanID)
	if in.PlanID != "" {
		p := o.plan(in.PlanID)
		if p == nil || !p.visibleTo(s.Beneficiary.TenantID) || p.StopSell {
			return "", invalidf("planId", "Plan %s is not available to subscription %s", in.PlanID, s.ID)
		}
		if p.ID == s.PlanID {
			return "", invalidf("planId", "Subscription %s already has plan %s", s.ID, p.ID)
		}
		if p.PricePerSeat != cur.PricePerSeat {
			return "", invalidf("planId", "Plan %s has another pricing model than plan %s", p.ID, cur.ID)
		}
		if _, ok := p.term(s.Term.Unit); !ok {
			return "", invalidf("planId", "Plan %s is not sold for term %s", p.ID, s.Term.Unit)
		}
		if p.PricePerSeat {
			if lo, hi := p.quantityRange(); s.Quantity < lo || s.Quantity > hi {
				return "", invalidf("planId", "Plan %s takes %d to %d seats; change the quantity first", p.ID, lo, hi)
			}
		}
		return ActionChangePlan, nil
	}
	q := *in.Quantity
	if !cur.PricePerSeat {
		return "", invalidf("quantity", "Plan %s is flat rate: it has no quantity", cur.ID)
	}
	if lo, hi := cur.quantityRange(); q < lo || q > hi {
		return "", invalidf("quantity", "Quantity %d is outside plan %s's limits %d to %d: the quantity exceeded the limit", q, cur.ID, lo, hi)
	}
	if q == s.Quantity {
		return "", invalidf("quantity", "Subscription %s already has quantity %d", s.ID, q)
	}
	return ActionChangeQuantity, nil
}

// locked reports whether the subscription has an operation in progress.
func (m *Market) locked(subID string) bool {
	for _, o := range m.pending {
		if o.SubscriptionID == subID && o.Status == OpInProgress {
			return true
		}
	}
	return false
}

func (m *Market) newOperation(tx *txn, s *Subscription, action, source, status string) *Operation {
	op := &Operation{ID: m.uuid(), ActivityID: m.uuid(), SubscriptionID: s.ID, OfferID: s.OfferID,
		PublisherID: s.PublisherID, PlanID: s.PlanID, Quantity: s.Quantity, Action: action,
		TimeStamp: m.now(), Status: status, Source: source, Seq: m.nextSeq()}
	m.operations[op.ID] = op
	if status == OpInProgress {
		m.pending[op.ID] = op
	}
	tx.put(kindOperation, op.ID, op)
	return op
}

// UpdateSubscription is the seller's PATCH: an InProgress Partner operation
// that completes after OperationDelay, then a webhook (§3.8).
func (m *Market) UpdateSubscription(ctx context.Context, publisherID, id string, in ChangeInput) (Operation, error) {
	var out Operation
	err := m.update(ctx, func(tx *txn) error {
		s, err := m.owned(publisherID, id)
		if err != nil {
			return err
		}
		action, err := m.checkChange(s, in)
		if err != nil {
			return err
		}
		op := m.newOperation(tx, s, action, SourcePartner, OpInProgress)
		m.setTarget(op, in)
		op.DueAt = m.now().Add(m.cfg.OperationDelay)
		tx.put(kindOperation, op.ID, op)
		out = *op
		return nil
	})
	return out, err
}

func (m *Market) setTarget(op *Operation, in ChangeInput) {
	if in.PlanID != "" {
		op.PlanID = in.PlanID
	} else {
		op.Quantity = *in.Quantity
	}
}

// DeleteSubscription is the seller's DELETE: an InProgress Partner
// Unsubscribe that completes after OperationDelay (§3.9).
func (m *Market) DeleteSubscription(ctx context.Context, publisherID, id string) (Operation, error) {
	var out Operation
	err := m.update(ctx, func(tx *txn) error {
		s, err := m.owned(publisherID, id)
		if err != nil {
			return err
		}
		if s.Status == StatusUnsubscribed {
			return invalidf("subscriptionId", "Subscription %s is already unsubscribed", id)
		}
		if !s.allows(CustomerDelete) {
			return invalidf("subscriptionId", "Delete is not an allowed customer operation of subscription %s", id)
		}
		if m.locked(s.ID) {
			return invalidf("subscriptionId", "The subscription %s is locked due to pending operations", id)
		}
		op := m.newOperation(tx, s, ActionUnsubscribe, SourcePartner, OpInProgress)
		op.DueAt = m.now().Add(m.cfg.OperationDelay)
		tx.put(kindOperation, op.ID, op)
		out = *op
		return nil
	})
	return out, err
}

// OutstandingOperations lists the subscription's InProgress operations.
func (m *Market) OutstandingOperations(publisherID, id string) ([]Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.owned(publisherID, id); err != nil {
		return nil, err
	}
	return m.operationsOf(id, true), nil
}

// Operations lists every operation of a subscription, oldest first (control
// API and buyer pages).
func (m *Market) Operations(subscriptionID string) []Operation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.operationsOf(subscriptionID, false)
}

func (m *Market) operationsOf(subID string, inProgress bool) []Operation {
	out := []Operation{}
	from := m.operations
	if inProgress {
		from = m.pending
	}
	for _, o := range from {
		if o.SubscriptionID == subID && (!inProgress || o.Status == OpInProgress) {
			out = append(out, *o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// GetOperation is the Fulfillment API's operation status.
func (m *Market) GetOperation(publisherID, subID, opID string) (Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.owned(publisherID, subID); err != nil {
		return Operation{}, err
	}
	op, ok := m.operations[opID]
	if !ok || op.SubscriptionID != subID {
		return Operation{}, notFoundf("operationId", "Operation %s not found", opID)
	}
	return *op, nil
}

// ErrNoAckNeeded is returned by AckOperation for an operation that does not
// wait for the seller (Renew, Suspend, Unsubscribe, the seller's own).
var ErrNoAckNeeded = &Error{Kind: KindInvalid, Code: CodeBadArgument, Target: "operationId",
	Message: "Cannot update the status of an operation that doesn't require an ACK"}

// AckOperation is the seller's PATCH of an operation: Success applies the
// change, Failure leaves the subscription as it was. 409 when the operation
// is no longer InProgress (§3.10).
func (m *Market) AckOperation(ctx context.Context, publisherID, subID, opID, status string) (Operation, error) {
	if status != "Success" && status != "Failure" {
		return Operation{}, invalidf("status", "status %q: want Success or Failure", status)
	}
	var out Operation
	err := m.update(ctx, func(tx *txn) error {
		s, err := m.owned(publisherID, subID)
		if err != nil {
			return err
		}
		op, ok := m.operations[opID]
		if !ok || op.SubscriptionID != subID {
			return notFoundf("operationId", "Operation %s not found", opID)
		}
		if op.Status != OpInProgress {
			return errorf(KindConflict, CodeConflict, "operationId", "Operation %s is %s, not InProgress", opID, op.Status)
		}
		if !op.NeedsAck {
			return ErrNoAckNeeded
		}
		if status == "Success" {
			m.complete(tx, op, s)
		} else {
			m.fail(tx, op, "", "The publisher rejected the operation")
		}
		out = *op
		return nil
	})
	return out, err
}

// complete applies a Succeeded operation to its subscription. A seller's
// (Partner) operation is then notified; Azure's were notified when they started.
func (m *Market) complete(tx *txn, op *Operation, s *Subscription) {
	now := m.now()
	switch op.Action {
	case ActionChangePlan, ActionChangeQuantity:
		if s.Status != StatusSubscribed {
			m.fail(tx, op, "400", "the subscription is "+s.Status)
			return
		}
		if op.Action == ActionChangePlan && s.PlanID == op.PlanID || op.Action == ActionChangeQuantity && s.Quantity == op.Quantity {
			op.Status = OpConflict
			tx.put(kindOperation, op.ID, op)
			return
		}
		if op.Action == ActionChangePlan {
			s.PlanID = op.PlanID
			s.Plans = append(s.Plans, PlanPeriod{PlanID: op.PlanID, From: now})
			if s.IsFreeTrial && !m.offers[s.OfferID].plan(op.PlanID).FreeTrial {
				// Switching to a plan without a trial ends the trial at once
				// and starts a paid term (§1.5); between trial plans the
				// trial's clock runs on.
				s.IsFreeTrial = false
				m.startTerm(tx, s, day(now), "plan change")
			}
		} else {
			s.Quantity = op.Quantity
		}
	case ActionReinstate:
		if s.Status != StatusSuspended {
			m.fail(tx, op, "400", "the subscription is "+s.Status)
			return
		}
		s.Status, s.SuspendedAt = StatusSubscribed, timeZero
	case ActionUnsubscribe:
		m.unsubscribe(tx, s, op.ID)
	}
	s.LastModified = now
	op.Status = OpSucceeded
	op.PlanID, op.Quantity = s.PlanID, s.Quantity
	tx.put(kindOperation, op.ID, op)
	tx.put(kindSubscription, s.ID, s)
	if op.Source == SourcePartner {
		m.notify(tx, op, s)
	}
}

func (m *Market) fail(tx *txn, op *Operation, code, msg string) {
	op.Status, op.ErrorCode, op.ErrorMessage = OpFailed, code, msg
	tx.put(kindOperation, op.ID, op)
}

// unsubscribe ends a subscription; operations still in progress fail.
func (m *Market) unsubscribe(tx *txn, s *Subscription, exceptOp string) {
	now := m.now()
	s.Status, s.UnsubscribedAt, s.LastModified = StatusUnsubscribed, now, now
	for _, o := range m.pending {
		if o.SubscriptionID == s.ID && o.Status == OpInProgress && o.ID != exceptOp {
			m.fail(tx, o, "400", "the subscription was unsubscribed")
		}
	}
	tx.put(kindSubscription, s.ID, s)
}

// buyerSub finds a subscription for a buyer-side action.
func (m *Market) buyerSub(id string) (*Subscription, error) {
	s, ok := m.subscriptions[strings.ToLower(id)]
	if !ok {
		return nil, notFoundf("subscriptionId", "Subscription %s not found", id)
	}
	return s, nil
}

// BuyerChange is the buyer changing plan or seats in the portal: an
// InProgress Azure operation, notified at once; it waits for the seller's
// ACK (AckWindow after the webhook's delivery, then Succeeded by itself) or
// fails on a 4xx webhook answer or a Failure ACK (§4.3).
func (m *Market) BuyerChange(ctx context.Context, id string, in ChangeInput) (Operation, error) {
	var out Operation
	err := m.update(ctx, func(tx *txn) error {
		s, err := m.buyerSub(id)
		if err != nil {
			return err
		}
		action, err := m.checkChange(s, in)
		if err != nil {
			return err
		}
		op := m.newOperation(tx, s, action, SourceAzure, OpInProgress)
		m.setTarget(op, in)
		op.NeedsAck = true
		m.notify(tx, op, s)
		out = *op
		return nil
	})
	return out, err
}

// Cancel is the buyer (or CSP) cancelling: Unsubscribed at once, then the
// Unsubscribe webhook.
func (m *Market) Cancel(ctx context.Context, id string) (Operation, error) {
	return m.notice(ctx, id, ActionUnsubscribe, func(s *Subscription) error {
		if s.Status == StatusUnsubscribed {
			return invalidf("subscriptionId", "Subscription %s is already unsubscribed", id)
		}
		return nil
	})
}

// Suspend is a payment failure: Suspended at once, then the Suspend webhook.
// SuspensionGrace later, an unpaid subscription is Unsubscribed.
func (m *Market) Suspend(ctx context.Context, id string) (Operation, error) {
	return m.notice(ctx, id, ActionSuspend, func(s *Subscription) error {
		if s.Status != StatusSubscribed {
			return invalidf("subscriptionId", "Subscription %s is %s; only Subscribed subscriptions can be suspended", id, s.Status)
		}
		return nil
	})
}

// Renew ends the current term now and starts the next one (a renewal the
// control API or the buyer pages force); the Renew webhook follows. A free
// trial converts to paid.
func (m *Market) Renew(ctx context.Context, id string) (Operation, error) {
	return m.notice(ctx, id, ActionRenew, func(s *Subscription) error {
		if s.Status != StatusSubscribed {
			return invalidf("subscriptionId", "Subscription %s is %s; only Subscribed subscriptions can be renewed", id, s.Status)
		}
		return nil
	})
}

// notice applies an action the seller only hears about.
func (m *Market) notice(ctx context.Context, id, action string, check func(*Subscription) error) (Operation, error) {
	var out Operation
	err := m.update(ctx, func(tx *txn) error {
		s, err := m.buyerSub(id)
		if err != nil {
			return err
		}
		if err := check(s); err != nil {
			return err
		}
		out = *m.applyNotice(tx, s, action, day(m.now()))
		return nil
	})
	return out, err
}

// applyNotice applies Suspend, Renew or Unsubscribe, records a Succeeded
// Azure operation and enqueues its webhook. renewOn is the new term's start.
func (m *Market) applyNotice(tx *txn, s *Subscription, action string, renewOn time.Time) *Operation {
	now := m.now()
	switch action {
	case ActionUnsubscribe:
		m.unsubscribe(tx, s, "")
	case ActionSuspend:
		s.Status, s.SuspendedAt = StatusSuspended, now
		m.noteDue(now.Add(m.cfg.SuspensionGrace))
		for _, o := range m.pending {
			if o.SubscriptionID == s.ID && o.Status == OpInProgress {
				m.fail(tx, o, "400", "the subscription was suspended")
			}
		}
	case ActionRenew:
		s.IsFreeTrial = false
		m.startTerm(tx, s, renewOn, "renewal")
	}
	s.LastModified = now
	tx.put(kindSubscription, s.ID, s)
	op := m.newOperation(tx, s, action, SourceAzure, OpSucceeded)
	m.notify(tx, op, s)
	return op
}

// Reinstate is the payment recovered. By default it waits for the seller's
// ACK like a plan change (InProgress, Succeeded after AckWindow); with
// ReinstateWithoutAck it is applied at once.
func (m *Market) Reinstate(ctx context.Context, id string) (Operation, error) {
	var out Operation
	err := m.update(ctx, func(tx *txn) error {
		s, err := m.buyerSub(id)
		if err != nil {
			return err
		}
		if s.Status != StatusSuspended {
			return invalidf("subscriptionId", "Subscription %s is %s; only Suspended subscriptions can be reinstated", id, s.Status)
		}
		if m.locked(s.ID) {
			return invalidf("subscriptionId", "The subscription %s is locked due to pending operations", id)
		}
		if m.cfg.ReinstateWithoutAck {
			s.Status, s.SuspendedAt, s.LastModified = StatusSubscribed, timeZero, m.now()
			tx.put(kindSubscription, s.ID, s)
			op := m.newOperation(tx, s, ActionReinstate, SourceAzure, OpSucceeded)
			m.notify(tx, op, s)
			out = *op
			return nil
		}
		op := m.newOperation(tx, s, ActionReinstate, SourceAzure, OpInProgress)
		op.NeedsAck = true
		m.notify(tx, op, s)
		out = *op
		return nil
	})
	return out, err
}

// SetAutoRenew turns auto-renew on or off; off means the subscription is
// Unsubscribed when its term ends.
func (m *Market) SetAutoRenew(ctx context.Context, id string, on bool) (Subscription, error) {
	var out Subscription
	err := m.update(ctx, func(tx *txn) error {
		s, err := m.buyerSub(id)
		if err != nil {
			return err
		}
		if s.Status == StatusUnsubscribed {
			return invalidf("subscriptionId", "Subscription %s is unsubscribed", id)
		}
		s.AutoRenew, s.LastModified = on, m.now()
		tx.put(kindSubscription, s.ID, s)
		out = cloneSubscription(s)
		return nil
	})
	return out, err
}
