package market

import (
	"context"
	"sort"
	"strings"
	"time"
)

// PutProduct adds or replaces a product of the catalog.
func (m *Market) PutProduct(ctx context.Context, p Product) error {
	if p.ServiceName == "" {
		return Errorf(InvalidArgument, "product: service_name is required")
	}
	if len(p.Plans) == 0 {
		return Errorf(InvalidArgument, "product %s: at least one plan is required", p.ServiceName)
	}
	for _, o := range p.PrivateOffers {
		if o.ID == "" || !strings.HasPrefix(o.BillingAccount, "billingAccounts/") {
			return Errorf(InvalidArgument, "product %s: a private offer needs an id and a billing_account billingAccounts/...", p.ServiceName)
		}
		if _, ok := p.plan(o.Plan); !ok {
			return Errorf(InvalidArgument, "product %s: private offer %s names unknown plan %q", p.ServiceName, o.ID, o.Plan)
		}
	}
	return m.update(ctx, func(tx *txn) error {
		if p.ProjectNumber == "" {
			if old, ok := m.products[p.ServiceName]; ok {
				p.ProjectNumber = old.ProjectNumber
			} else {
				p.ProjectNumber = m.newProjectNumber()
			}
		}
		m.products[p.ServiceName] = &p
		tx.put(kindProduct, p.ServiceName, &p)
		return nil
	})
}

// Products lists the catalog.
func (m *Market) Products() []Product { return snapshot(m, m.products) }

// ProductsFor lists the products with the plans billingAccount may buy: the
// public plans, and private plans only through offers made to it.
func (m *Market) ProductsFor(billingAccount string) []Product {
	var out []Product
	for _, p := range m.Products() {
		v := Product{ServiceName: p.ServiceName, ProjectNumber: p.ProjectNumber}
		for _, pl := range p.Plans {
			if !pl.Private {
				v.Plans = append(v.Plans, pl)
			}
		}
		for _, o := range p.PrivateOffers {
			if o.BillingAccount == billingAccount {
				v.PrivateOffers = append(v.PrivateOffers, o)
				if pl, ok := p.plan(o.Plan); ok && pl.Private {
					v.Plans = append(v.Plans, pl)
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// lookup copies mm[id] out under the lock.
func lookup[T any](m *Market, mm map[string]*T, id string) (T, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := mm[id]
	if !ok {
		var zero T
		return zero, false
	}
	return *v, true
}

// snapshot copies every value of mm out under the lock, ordered by key.
func snapshot[T any](m *Market, mm map[string]*T) []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]T, 0, len(mm))
	for _, k := range keys(mm) {
		out = append(out, *mm[k])
	}
	return out
}

// Account returns an account by id.
func (m *Market) Account(id string) (Account, bool) { return lookup(m, m.accounts, id) }

// Accounts lists the accounts ordered by id.
func (m *Market) Accounts() []Account { return snapshot(m, m.accounts) }

// AccountOf returns the account of a billing account, if any.
func (m *Market) AccountOf(billingAccount string) (Account, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.accountOf(billingAccount); a != nil {
		return *a, true
	}
	return Account{}, false
}

func (m *Market) accountOf(billingAccount string) *Account {
	for _, a := range m.accounts {
		if a.BillingAccount == billingAccount {
			return a
		}
	}
	return nil
}

// Entitlement returns an entitlement by id (deleted ones are gone).
func (m *Market) Entitlement(id string) (Entitlement, bool) { return lookup(m, m.ents, id) }

// Entitlements lists the entitlements ordered by creation.
func (m *Market) Entitlements() []Entitlement {
	out := snapshot(m, m.ents)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreateTime.Equal(out[j].CreateTime) {
			return out[i].CreateTime.Before(out[j].CreateTime)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// EntitlementsOf lists a billing account's entitlements.
func (m *Market) EntitlementsOf(billingAccount string) []Entitlement {
	var out []Entitlement
	for _, e := range m.Entitlements() {
		if e.BillingAccount == billingAccount {
			out = append(out, e)
		}
	}
	return out
}

// OrderRequest is a buyer's order: a public plan, or a private offer.
type OrderRequest struct {
	BillingAccount string `json:"billing_account"` // billingAccounts/...
	Product        string `json:"product"`         // service name
	Plan           string `json:"plan,omitempty"`
	PrivateOffer   string `json:"private_offer,omitempty"` // offer id or resource name (its plan wins)
	User           string `json:"user,omitempty"`          // the buyer's e-mail
}

// Order creates the account (when new: ACCOUNT_ACTIVE event, signup
// PENDING) and an entitlement in ENTITLEMENT_ACTIVATION_REQUESTED
// (ENTITLEMENT_CREATION_REQUESTED), or, for an auto-approved private offer,
// an approved one (ENTITLEMENT_OFFER_ACCEPTED).
func (m *Market) Order(ctx context.Context, o OrderRequest) (Entitlement, Account, error) {
	if !strings.HasPrefix(o.BillingAccount, "billingAccounts/") || len(o.BillingAccount) == len("billingAccounts/") {
		return Entitlement{}, Account{}, Errorf(InvalidArgument, "order: billing account %q must look like billingAccounts/01A2B3-C4D5E6-F7A8B9", o.BillingAccount)
	}
	var ent Entitlement
	var acc Account
	err := m.update(ctx, func(tx *txn) error {
		m.tick(tx)
		p, ok := m.products[o.Product]
		if !ok {
			return Errorf(NotFound, "order: no product %q", o.Product)
		}
		var offer *PrivateOffer
		if o.PrivateOffer != "" {
			for i := range p.PrivateOffers {
				if po := &p.PrivateOffers[i]; (po.ID == o.PrivateOffer || p.OfferName(po.ID) == o.PrivateOffer) && po.BillingAccount == o.BillingAccount {
					offer = po
				}
			}
			if offer == nil {
				return Errorf(NotFound, "order: no private offer %q for %s", o.PrivateOffer, o.BillingAccount)
			}
			o.Plan = offer.Plan
		}
		pl, ok := p.plan(o.Plan)
		if !ok {
			return Errorf(InvalidArgument, "order: product %s has no plan %q", o.Product, o.Plan)
		}
		if pl.Private && offer == nil {
			return Errorf(PermissionDenied, "order: plan %q of %s is sold only through a private offer", o.Plan, o.Product)
		}
		now := m.now()
		st := m.settings.withDefaults()
		a := m.accountOf(o.BillingAccount)
		if a == nil {
			a = &Account{ID: m.newAccountID(), BillingAccount: o.BillingAccount, CreateTime: now, UpdateTime: now,
				Approvals: []Approval{{Name: "signup", State: ApprovalPending, UpdateTime: now}}}
			m.accounts[a.ID] = a
			tx.put(kindAccount, a.ID, a)
			m.accountEvent(tx, "ACCOUNT_ACTIVE", a)
		}
		for _, e := range m.ents {
			if e.Account == a.ID && e.Product == p.ServiceName && e.State != StateCancelled {
				return Errorf(AlreadyExists, "order: %s already holds entitlement %s of %s", o.BillingAccount, e.ID, p.ServiceName)
			}
		}
		e := &Entitlement{ID: m.newUUID(), Account: a.ID, BillingAccount: o.BillingAccount, Product: p.ServiceName,
			Plan: pl.Name, State: StateActivationRequested, CreateTime: now, UpdateTime: now,
			Consumers: []string{"projects/" + m.newProjectNumber()}, OrderedBy: o.User}
		e.OfferDuration = "P1Y"
		if offer != nil {
			e.Offer = p.OfferName(offer.ID)
			if offer.Duration != "" {
				e.OfferDuration = offer.Duration
			}
			if !offer.EndTime.IsZero() {
				e.OfferDuration = "" // a fixed end date instead of a duration (§2.5)
				e.NewOfferEndTime = offer.EndTime.UTC()
			}
			if !offer.StartTime.IsZero() && offer.StartTime.After(now) {
				e.NewOfferStartTime = offer.StartTime.UTC()
				e.NewOfferEndTime = e.NewOfferStartTime.Add(time.Duration(st.Term))
			}
		} else {
			e.Offer = p.StandardOfferName(pl.Name)
		}
		m.ents[e.ID] = e
		if offer != nil && offer.AutoApprove {
			m.approveLocked(e, now, st)
			m.entEvent(tx, "ENTITLEMENT_OFFER_ACCEPTED", e)
		} else {
			m.entEvent(tx, "ENTITLEMENT_CREATION_REQUESTED", e)
		}
		tx.put(kindEntitlement, e.ID, e)
		ent, acc = *e, *a
		return nil
	})
	return ent, acc, err
}

// BillingAccounts lists the billing accounts that hold an account or are
// offered a private offer, sorted.
func (m *Market) BillingAccounts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := map[string]bool{}
	for _, a := range m.accounts {
		set[a.BillingAccount] = true
	}
	for _, p := range m.products {
		for _, o := range p.PrivateOffers {
			set[o.BillingAccount] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *Market) ent(id string) (*Entitlement, error) {
	e, ok := m.ents[id]
	if !ok {
		return nil, Errorf(NotFound, "Entitlement %s not found.", id)
	}
	return e, nil
}

func (m *Market) acct(id string) (*Account, error) {
	a, ok := m.accounts[id]
	if !ok {
		return nil, Errorf(NotFound, "Account %s not found.", id)
	}
	return a, nil
}

// withEnt runs fn on entitlement id under the lock after due work, saving it.
func (m *Market) withEnt(ctx context.Context, id string, fn func(tx *txn, e *Entitlement, now time.Time, st Settings) error) (Entitlement, error) {
	var out Entitlement
	err := m.update(ctx, func(tx *txn) error {
		m.tick(tx)
		e, err := m.ent(id)
		if err != nil {
			return err
		}
		if err := fn(tx, e, m.now(), m.settings.withDefaults()); err != nil {
			return err
		}
		if _, still := m.ents[id]; still {
			tx.put(kindEntitlement, e.ID, e)
		}
		out = *e
		return nil
	})
	return out, err
}

func (m *Market) buyerEnt(billingAccount string, e *Entitlement) error {
	if billingAccount != "" && e.BillingAccount != billingAccount {
		return Errorf(NotFound, "Entitlement %s not found for %s.", e.ID, billingAccount)
	}
	return nil
}

// setState moves e to state, clearing messageToUser (§2.2 patch).
func setState(e *Entitlement, state string, now time.Time) {
	e.State = state
	e.MessageToUser = ""
	e.UpdateTime = now
}

func (m *Market) approveLocked(e *Entitlement, now time.Time, st Settings) {
	e.Approved = true
	e.ActivateAt = now.Add(time.Duration(st.ActivationDelay))
	if !e.NewOfferStartTime.IsZero() && e.NewOfferStartTime.After(e.ActivateAt) {
		e.ActivateAt = e.NewOfferStartTime
	}
	e.UpdateTime = now
}

// ApproveEntitlement is entitlements.approve.
func (m *Market) ApproveEntitlement(ctx context.Context, id string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if e.State != StateActivationRequested {
			if e.State == StateActive && !st.StrictReapproval {
				return nil // already where the approval leads: idempotent (§2.2)
			}
			return Errorf(FailedPrecondition, "Entitlement %s is in state %s; only %s can be approved.", id, e.State, StateActivationRequested)
		}
		if e.Approved {
			if st.StrictReapproval {
				return Errorf(FailedPrecondition, "Entitlement %s is already approved.", id)
			}
			return nil
		}
		if !st.AllowUnapprovedAccount {
			if a, ok := m.accounts[e.Account]; !ok || a.SignupState() != ApprovalApproved {
				return Errorf(FailedPrecondition, "Account %s has not been approved; approve its signup first.", e.Account)
			}
		}
		m.approveLocked(e, now, st)
		m.tickEnt(tx, e, now, st) // a zero delay activates at once
		return nil
	})
}

// RejectEntitlement is entitlements.reject: the entitlement is removed.
func (m *Market) RejectEntitlement(ctx context.Context, id, reason string) error {
	_, err := m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if e.State != StateActivationRequested || e.Approved {
			return Errorf(FailedPrecondition, "Entitlement %s is in state %s; only an unapproved %s can be rejected.", id, e.State, StateActivationRequested)
		}
		delete(m.ents, id)
		tx.del(kindEntitlement, id)
		e.UpdateTime = now
		e.CancellationReason = truncate(reason, 256)
		m.entEvent(tx, "ENTITLEMENT_DELETED", e)
		return nil
	})
	return err
}

// ApprovePlanChange is entitlements.approvePlanChange.
func (m *Market) ApprovePlanChange(ctx context.Context, id, pendingPlan string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if e.State != StatePendingPlanChangeApprov {
			if (e.State == StatePendingPlanChange && e.NewPendingPlan == pendingPlan) || (e.State == StateActive && e.Plan == pendingPlan && pendingPlan != "") {
				if !st.StrictReapproval {
					return nil
				}
			}
			return Errorf(FailedPrecondition, "Entitlement %s is in state %s; only %s can be approved.", id, e.State, StatePendingPlanChangeApprov)
		}
		if pendingPlan != e.NewPendingPlan {
			return Errorf(InvalidArgument, "pendingPlanName %q does not match the entitlement's newPendingPlan %q.", pendingPlan, e.NewPendingPlan)
		}
		p := m.products[e.Product]
		pl, _ := p.plan(e.NewPendingPlan)
		if pl.ChangeAtCycleEnd {
			setState(e, StatePendingPlanChange, now)
			e.ChangeAt = m.cycleEnd(e, now, st)
			e.NewOfferStartTime = e.ChangeAt
			return nil
		}
		m.changePlan(tx, e, now)
		return nil
	})
}

// cycleEnd is the end of the billing cycle running at now, counted from the
// entitlement's creation.
func (m *Market) cycleEnd(e *Entitlement, now time.Time, st Settings) time.Time {
	cyc := time.Duration(st.BillingCycle)
	n := now.Sub(e.CreateTime)/cyc + 1
	return e.CreateTime.Add(n * cyc)
}

func (m *Market) changePlan(tx *txn, e *Entitlement, now time.Time) {
	e.Plan = e.NewPendingPlan
	e.Offer, e.NewPendingOffer = e.NewPendingOffer, ""
	e.NewPendingPlan = ""
	e.ChangeAt, e.NewOfferStartTime, e.NewOfferEndTime = time.Time{}, time.Time{}, time.Time{}
	setState(e, StateActive, now)
	m.entEvent(tx, "ENTITLEMENT_PLAN_CHANGED", e)
}

// RejectPlanChange is entitlements.rejectPlanChange: ACTIVE on the old plan.
func (m *Market) RejectPlanChange(ctx context.Context, id, pendingPlan string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if e.State != StatePendingPlanChangeApprov {
			return Errorf(FailedPrecondition, "Entitlement %s is in state %s; only %s can be rejected.", id, e.State, StatePendingPlanChangeApprov)
		}
		if pendingPlan != "" && pendingPlan != e.NewPendingPlan {
			return Errorf(InvalidArgument, "pendingPlanName %q does not match the entitlement's newPendingPlan %q.", pendingPlan, e.NewPendingPlan)
		}
		e.NewPendingPlan, e.NewPendingOffer = "", ""
		setState(e, StateActive, now)
		m.entEvent(tx, "ENTITLEMENT_PLAN_CHANGE_CANCELLED", e)
		return nil
	})
}

// PatchMessage is entitlements.patch of messageToUser.
func (m *Market) PatchMessage(ctx context.Context, id, message string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if e.State != StateActivationRequested && e.State != StatePendingPlanChangeApprov {
			return Errorf(FailedPrecondition, "messageToUser can be set only in %s or %s; entitlement %s is %s.", StateActivationRequested, StatePendingPlanChangeApprov, id, e.State)
		}
		e.MessageToUser = message
		e.UpdateTime = now
		return nil
	})
}

// RequestPlanChange is the buyer asking for another plan (billingAccount ""
// = any).
func (m *Market) RequestPlanChange(ctx context.Context, billingAccount, id, plan string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if err := m.buyerEnt(billingAccount, e); err != nil {
			return err
		}
		if e.State != StateActive {
			return Errorf(FailedPrecondition, "Entitlement %s is %s; a plan change needs %s.", id, e.State, StateActive)
		}
		p := m.products[e.Product]
		pl, ok := p.plan(plan)
		if !ok || plan == e.Plan {
			return Errorf(InvalidArgument, "Product %s has no other plan %q.", e.Product, plan)
		}
		if pl.Private {
			var offered bool
			for _, o := range p.PrivateOffers {
				offered = offered || (o.Plan == plan && o.BillingAccount == e.BillingAccount)
			}
			if !offered {
				return Errorf(PermissionDenied, "Plan %q is sold only through a private offer.", plan)
			}
		}
		e.NewPendingPlan = plan
		e.NewPendingOffer = p.StandardOfferName(plan)
		setState(e, StatePendingPlanChangeApprov, now)
		m.entEvent(tx, "ENTITLEMENT_PLAN_CHANGE_REQUESTED", e)
		return nil
	})
}

// Cancel is the buyer cancelling: PENDING_CANCELLATION until term end, or
// CANCELLED at once while activation is still requested.
func (m *Market) Cancel(ctx context.Context, billingAccount, id string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if err := m.buyerEnt(billingAccount, e); err != nil {
			return err
		}
		switch e.State {
		case StateActivationRequested:
			m.cancel(tx, e, now, st, "user-aborted")
		case StateActive, StatePendingPlanChangeApprov, StatePendingPlanChange:
			e.NewPendingPlan, e.NewPendingOffer, e.ChangeAt, e.NewOfferStartTime = "", "", time.Time{}, time.Time{}
			setState(e, StatePendingCancellation, now)
			m.entEvent(tx, "ENTITLEMENT_PENDING_CANCELLATION", e)
		case StatePendingCancellation:
			return nil
		default:
			return Errorf(FailedPrecondition, "Entitlement %s is %s and cannot be cancelled.", id, e.State)
		}
		return nil
	})
}

func (m *Market) cancel(tx *txn, e *Entitlement, now time.Time, st Settings, reason string) {
	setState(e, StateCancelled, now)
	e.CancellationReason = reason
	e.Approved = false
	e.EndedAt = now
	e.SubscriptionEndTime = now
	e.NewPendingPlan, e.NewPendingOffer, e.ChangeAt, e.NewOfferStartTime, e.NewOfferEndTime = "", "", time.Time{}, time.Time{}, time.Time{}
	e.DeleteAt = now.Add(time.Duration(st.DeleteAfter))
	m.entEvent(tx, "ENTITLEMENT_CANCELLED", e)
}

// RevertCancellation withdraws a pending cancellation: ACTIVE again.
func (m *Market) RevertCancellation(ctx context.Context, billingAccount, id string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if err := m.buyerEnt(billingAccount, e); err != nil {
			return err
		}
		if e.State != StatePendingCancellation {
			return Errorf(FailedPrecondition, "Entitlement %s is %s; only %s can be reverted.", id, e.State, StatePendingCancellation)
		}
		setState(e, StateActive, now)
		m.entEvent(tx, "ENTITLEMENT_CANCELLATION_REVERTED", e)
		return nil
	})
}

// EndTerm ends the entitlement now (term end): CANCELLED, deleted after
// Settings.DeleteAfter.
func (m *Market) EndTerm(ctx context.Context, id string) (Entitlement, error) {
	return m.withEnt(ctx, id, func(tx *txn, e *Entitlement, now time.Time, st Settings) error {
		if e.State == StateCancelled {
			return nil
		}
		reason := "expired"
		if e.State == StatePendingCancellation {
			reason = "user-cancelled"
		}
		m.cancel(tx, e, now, st, reason)
		return nil
	})
}

// ApproveAccount is accounts.approve (approvalName "" = the only one).
func (m *Market) ApproveAccount(ctx context.Context, id, approvalName, reason string, properties map[string]string) (Account, error) {
	return m.setApproval(ctx, id, approvalName, reason, ApprovalApproved, properties)
}

// RejectAccount is accounts.reject.
func (m *Market) RejectAccount(ctx context.Context, id, approvalName, reason string) (Account, error) {
	return m.setApproval(ctx, id, approvalName, reason, ApprovalRejected, nil)
}

func (m *Market) setApproval(ctx context.Context, id, name, reason, state string, props map[string]string) (Account, error) {
	var out Account
	err := m.update(ctx, func(tx *txn) error {
		a, err := m.acct(id)
		if err != nil {
			return err
		}
		if name == "" {
			if len(a.Approvals) != 1 {
				return Errorf(InvalidArgument, "approvalName is required: account %s has %d approvals.", id, len(a.Approvals))
			}
			name = a.Approvals[0].Name
		}
		i := -1
		for j := range a.Approvals {
			if a.Approvals[j].Name == name {
				i = j
			}
		}
		if i < 0 {
			return Errorf(InvalidArgument, "Account %s has no approval %q.", id, name)
		}
		now := m.now()
		ap := &a.Approvals[i]
		if state == ApprovalRejected && ap.State == ApprovalApproved {
			return Errorf(FailedPrecondition, "Approval %q of account %s is already APPROVED.", name, id)
		}
		ap.State, ap.Reason, ap.UpdateTime = state, truncate(reason, 256), now
		if len(props) > 0 {
			if a.Properties == nil {
				a.Properties = map[string]string{}
			}
			for k, v := range props {
				a.Properties[k] = v
			}
		}
		a.UpdateTime = now
		tx.put(kindAccount, a.ID, a)
		out = *a
		return nil
	})
	return out, err
}

// ResetAccount is accounts.reset: cancels the account's entitlements and
// puts signup back to PENDING; no account event (§2.2).
func (m *Market) ResetAccount(ctx context.Context, id string) error {
	return m.update(ctx, func(tx *txn) error {
		a, err := m.acct(id)
		if err != nil {
			return err
		}
		now := m.now()
		st := m.settings.withDefaults()
		for _, eid := range keys(m.ents) {
			if e := m.ents[eid]; e.Account == id && e.State != StateCancelled {
				m.cancel(tx, e, now, st, "unknown")
				tx.put(kindEntitlement, e.ID, e)
			}
		}
		for i := range a.Approvals {
			a.Approvals[i].State, a.Approvals[i].Reason, a.Approvals[i].UpdateTime = ApprovalPending, "", now
		}
		a.UpdateTime = now
		tx.put(kindAccount, a.ID, a)
		return nil
	})
}

// DeleteAccount removes the account and its entitlements (ENTITLEMENT_DELETED
// for each, then ACCOUNT_DELETED); get answers 404 afterwards.
func (m *Market) DeleteAccount(ctx context.Context, id string) error {
	return m.update(ctx, func(tx *txn) error {
		a, err := m.acct(id)
		if err != nil {
			return err
		}
		now := m.now()
		st := m.settings.withDefaults()
		for _, eid := range keys(m.ents) {
			if e := m.ents[eid]; e.Account == id {
				if e.State != StateCancelled {
					m.cancel(tx, e, now, st, "account-closed")
				}
				e.UpdateTime = now
				delete(m.ents, eid)
				tx.del(kindEntitlement, eid)
				m.entEvent(tx, "ENTITLEMENT_DELETED", e)
			}
		}
		a.UpdateTime = now
		delete(m.accounts, id)
		tx.del(kindAccount, id)
		m.accountEvent(tx, "ACCOUNT_DELETED", a)
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Tick performs the transitions that fell due.
func (m *Market) Tick(ctx context.Context) error {
	return m.update(ctx, func(tx *txn) error { m.tick(tx); return nil })
}

func (m *Market) tick(tx *txn) {
	now := m.now()
	st := m.settings.withDefaults()
	for _, id := range keys(m.ents) {
		m.tickEnt(tx, m.ents[id], now, st)
	}
}

// tickEnt performs e's due transitions, in order, as often as they fell due.
func (m *Market) tickEnt(tx *txn, e *Entitlement, now time.Time, st Settings) {
	changed := false
	if e.State == StateActivationRequested && e.Approved && !now.Before(e.ActivateAt) {
		start := e.ActivateAt
		setState(e, StateActive, now)
		e.OfferEndTime = start.Add(time.Duration(st.Term))
		if !e.NewOfferEndTime.IsZero() {
			e.OfferEndTime = e.NewOfferEndTime
		}
		e.SubscriptionEndTime = e.OfferEndTime
		e.NewOfferStartTime, e.NewOfferEndTime = time.Time{}, time.Time{}
		id := "project_number:" + m.newProjectNumber()
		if st.UsageIDDelay > 0 {
			e.PendingUsageID, e.UsageIDAt = id, now.Add(time.Duration(st.UsageIDDelay))
		} else {
			e.UsageReportingID = id
		}
		m.entEvent(tx, "ENTITLEMENT_ACTIVE", e)
		changed = true
	}
	if e.PendingUsageID != "" && !now.Before(e.UsageIDAt) {
		e.UsageReportingID, e.PendingUsageID, e.UsageIDAt = e.PendingUsageID, "", time.Time{}
		changed = true
	}
	if e.State == StatePendingPlanChange && !now.Before(e.ChangeAt) {
		m.changePlan(tx, e, now)
		changed = true
	}
	if e.State == StatePendingCancellation && !e.OfferEndTime.IsZero() && !now.Before(e.OfferEndTime) {
		m.cancel(tx, e, now, st, "user-cancelled")
		changed = true
	}
	if e.State == StateCancelled && !e.DeleteAt.IsZero() && !now.Before(e.DeleteAt) {
		delete(m.ents, e.ID)
		tx.del(kindEntitlement, e.ID)
		e.UpdateTime = now
		m.entEvent(tx, "ENTITLEMENT_DELETED", e)
		return
	}
	if changed {
		tx.put(kindEntitlement, e.ID, e)
	}
}
