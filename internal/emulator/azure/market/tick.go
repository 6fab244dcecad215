package market

import (
	"sort"
	"time"
)

var timeZero time.Time

// tick applies what the clock made due, in a stable order: operations that
// complete by themselves, term ends (renewal, or the end of a subscription
// whose auto-renew is off), suspensions past their grace, expired tokens.
func (m *Market) tick(tx *txn) {
	now := m.now()
	var due []*Operation
	for id, op := range m.pending {
		switch {
		case op.Status != OpInProgress:
			delete(m.pending, id)
		case !op.DueAt.IsZero() && !now.Before(op.DueAt):
			due = append(due, op)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Seq < due[j].Seq })
	for _, op := range due {
		if op.Status == OpInProgress { // an earlier completion may have failed it
			m.complete(tx, op, m.subscriptions[op.SubscriptionID])
		}
	}

	if m.dueKnown && now.Before(m.nextDue) {
		return
	}
	m.scanDue(tx, now)
}

// noteDue lowers nextDue to t.
func (m *Market) noteDue(t time.Time) {
	if m.dueKnown && t.Before(m.nextDue) {
		m.nextDue = t
	}
}

// scanDue applies the subscriptions' and tokens' due changes and computes
// the next time one is due.
func (m *Market) scanDue(tx *txn, now time.Time) {
	subs := make([]*Subscription, 0)
	for _, s := range m.subscriptions {
		if s.Status == StatusSubscribed || s.Status == StatusSuspended {
			subs = append(subs, s)
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Seq < subs[j].Seq })
	for _, s := range subs {
		switch s.Status {
		case StatusSuspended:
			if !now.Before(s.SuspendedAt.Add(m.cfg.SuspensionGrace)) {
				m.applyNotice(tx, s, ActionUnsubscribe, timeZero)
			}
		case StatusSubscribed:
			// A clock moved by years renews term after term.
			for s.Status == StatusSubscribed && !s.Term.End.IsZero() && !now.Before(s.Term.End.AddDate(0, 0, 1)) {
				if !s.AutoRenew {
					m.applyNotice(tx, s, ActionUnsubscribe, timeZero)
					break
				}
				m.applyNotice(tx, s, ActionRenew, s.Term.End.AddDate(0, 0, 1))
			}
		}
	}

	for k, t := range m.tokens {
		if !now.Before(t.ExpiresAt) {
			delete(m.tokens, k)
			tx.del(kindToken, k)
		}
	}

	next := now.Add(24 * time.Hour) // rescan at least daily, whatever happens
	for _, s := range m.subscriptions {
		switch s.Status {
		case StatusSuspended:
			next = minTime(next, s.SuspendedAt.Add(m.cfg.SuspensionGrace))
		case StatusSubscribed:
			if !s.Term.End.IsZero() {
				next = minTime(next, s.Term.End.AddDate(0, 0, 1))
			}
		}
	}
	for _, t := range m.tokens {
		next = minTime(next, t.ExpiresAt)
	}
	m.nextDue, m.dueKnown = next, true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
