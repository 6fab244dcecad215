package market

import "time"

// Consumer is what Service Control needs to know about a usage reporting
// id; the house adapts it to servicecontrol.Consumer.
type Consumer struct {
	Entitlement string
	Account     string
	Product     string
	Plan        string
	Metrics     map[string]int64 // metric name -> micro-dollars per unit
	Active      bool
	EndedAt     time.Time
}

// ConsumerOf looks up the entitlement of service whose usageReportingId is
// consumerID; ok is false when there is none.
func (m *Market) ConsumerOf(service, consumerID string) (Consumer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.ents {
		if e.Product != service || e.UsageReportingID == "" || e.UsageReportingID != consumerID {
			continue
		}
		c := Consumer{Entitlement: e.ID, Account: e.Account, Product: e.Product, Plan: e.Plan, EndedAt: e.EndedAt}
		switch e.State {
		case StateActive, StatePendingPlanChangeApprov, StatePendingPlanChange, StatePendingCancellation:
			c.Active = true
		}
		if p, ok := m.products[e.Product]; ok {
			if pl, ok := p.plan(e.Plan); ok {
				c.Metrics = make(map[string]int64, len(pl.Metrics))
				for k, v := range pl.Metrics {
					c.Metrics[k] = v
				}
			}
		}
		return c, true
	}
	return Consumer{}, false
}
