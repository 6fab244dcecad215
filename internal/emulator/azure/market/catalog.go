package market

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

var (
	publisherIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$`)
	// Offer, plan and dimension ids: Partner Center allows lowercase
	// alphanumerics, '-' and '_', at most 50 characters (§1.7).
	catalogIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,49}$`)
	guidPattern      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// IsGUID reports whether s has the shape of a GUID.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }

// PublisherInput registers or updates a publisher.
type PublisherInput struct {
	ID         string `json:"id"`
	TenantID   string `json:"tenant_id"`
	AppID      string `json:"app_id"`
	LandingURL string `json:"landing_url,omitempty"`
	WebhookURL string `json:"webhook_url,omitempty"`
}

// Validate reports every field error at once.
func (in *PublisherInput) Validate() error {
	var errs []error
	if !publisherIDPattern.MatchString(in.ID) {
		errs = append(errs, fmt.Errorf("id %q: want 1-50 letters, digits, '_', '.' or '-'", in.ID))
	}
	if !IsGUID(in.TenantID) {
		errs = append(errs, fmt.Errorf("tenant_id %q: want an Entra tenant GUID", in.TenantID))
	}
	if !IsGUID(in.AppID) {
		errs = append(errs, fmt.Errorf("app_id %q: want an Entra application (client) GUID", in.AppID))
	}
	for name, v := range map[string]string{"landing_url": in.LandingURL, "webhook_url": in.WebhookURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an absolute http(s) URL", name, v))
		} else if strings.Contains(v, "#") {
			errs = append(errs, fmt.Errorf("%s %q: must not contain '#', or buyers cannot reach it (§1.1)", name, v))
		}
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Code: CodeBadArgument, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// PutPublisher creates or replaces a publisher. One (tenant, app) pair
// identifies one publisher: the API finds the caller by it (§2.1).
func (m *Market) PutPublisher(ctx context.Context, in PublisherInput) (Publisher, error) {
	if err := in.Validate(); err != nil {
		return Publisher{}, err
	}
	var out Publisher
	err := m.update(ctx, func(tx *txn) error {
		for _, p := range m.publishers {
			if p.ID != in.ID && strings.EqualFold(p.TenantID, in.TenantID) && strings.EqualFold(p.AppID, in.AppID) {
				return errorf(KindConflict, CodeConflict, "app_id", "tenant %s and app %s already belong to publisher %s", in.TenantID, in.AppID, p.ID)
			}
		}
		p, ok := m.publishers[in.ID]
		if !ok {
			p = &Publisher{ID: in.ID, CreatedAt: m.now()}
			m.publishers[in.ID] = p
		}
		p.TenantID, p.AppID = strings.ToLower(in.TenantID), strings.ToLower(in.AppID)
		p.LandingURL, p.WebhookURL = in.LandingURL, in.WebhookURL
		tx.put(kindPublisher, p.ID, p)
		out = *p
		return nil
	})
	return out, err
}

// Publisher returns one publisher.
func (m *Market) Publisher(id string) (Publisher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.publishers[id]
	if !ok {
		return Publisher{}, notFoundf("publisherId", "no publisher %s", id)
	}
	return *p, nil
}

// PublisherByApp finds the publisher an access token's tenant and app stand
// for. Unknown pairs are KindForbidden: the API answers 403 (§3.1).
func (m *Market) PublisherByApp(tenantID, appID string) (Publisher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.publishers {
		if strings.EqualFold(p.TenantID, tenantID) && strings.EqualFold(p.AppID, appID) {
			return *p, nil
		}
	}
	return Publisher{}, errorf(KindForbidden, CodeForbidden, "", "the authorization token is for tenant %s and app %s, which are not a registered publisher's", tenantID, appID)
}

// Publishers lists publishers by id.
func (m *Market) Publishers() []Publisher {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Publisher, 0, len(m.publishers))
	for _, p := range m.publishers {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// OfferInput creates or replaces an offer with its dimensions and plans.
type OfferInput struct {
	ID          string      `json:"id"`
	PublisherID string      `json:"publisher_id"`
	DisplayName string      `json:"display_name"`
	Dimensions  []Dimension `json:"dimensions,omitempty"`
	Plans       []Plan      `json:"plans"`
}

// Validate reports every field error at once; allowMeteredTrials is the
// setting of the same name.
func (in *OfferInput) Validate(allowMeteredTrials bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !catalogIDPattern.MatchString(in.ID) {
		add("id %q: want 1-50 lowercase letters, digits, '-' or '_'", in.ID)
	}
	if in.PublisherID == "" {
		add("publisher_id is required")
	}
	if len(in.Dimensions) > 30 {
		add("%d dimensions: an offer has at most 30", len(in.Dimensions))
	}
	dims := map[string]bool{}
	for i, d := range in.Dimensions {
		if !catalogIDPattern.MatchString(d.ID) {
			add("dimensions[%d].id %q: want 1-50 lowercase letters, digits, '-' or '_'", i, d.ID)
		}
		if dims[d.ID] {
			add("dimensions[%d].id %q: duplicate", i, d.ID)
		}
		dims[d.ID] = true
	}
	if len(in.Plans) == 0 || len(in.Plans) > 100 {
		add("%d plans: want 1 to 100", len(in.Plans))
	}
	plans, private := map[string]bool{}, 0
	for i, p := range in.Plans {
		at := fmt.Sprintf("plans[%d]", i)
		if !catalogIDPattern.MatchString(p.ID) {
			add("%s.id %q: want 1-50 lowercase letters, digits, '-' or '_'", at, p.ID)
		}
		if plans[p.ID] {
			add("%s.id %q: duplicate", at, p.ID)
		}
		plans[p.ID] = true
		if p.Private {
			private++
		}
		if len(p.Terms) == 0 {
			add("%s: at least one term (P1M, P1Y...) is required", at)
		}
		units := map[string]bool{}
		for j, t := range p.Terms {
			if termMonths(t.Unit) == 0 {
				add("%s.terms[%d].unit %q: want one of %s", at, j, t.Unit, strings.Join(TermUnits, ", "))
			}
			if units[t.Unit] {
				add("%s.terms[%d].unit %q: duplicate", at, j, t.Unit)
			}
			units[t.Unit] = true
			if t.PriceMicros < 0 {
				add("%s.terms[%d].price_micros: must not be negative", at, j)
			}
		}
		if p.MinQuantity < 0 || p.MaxQuantity < 0 || (p.MaxQuantity > 0 && p.MinQuantity > p.MaxQuantity) {
			add("%s: want 0 <= min_quantity <= max_quantity", at)
		}
		if !p.PricePerSeat && (p.MinQuantity != 0 || p.MaxQuantity != 0) {
			add("%s: min_quantity and max_quantity are for per-user plans", at)
		}
		if p.PricePerSeat && len(p.Meters) > 0 {
			add("%s: metering dimensions exist only on flat-rate plans (§1.7)", at)
		}
		if p.FreeTrial && len(p.Meters) > 0 && !allowMeteredTrials {
			add("%s: a plan with a free trial cannot have metering dimensions (set allow_metered_trials to allow it, §1.5)", at)
		}
		seen := map[string]bool{}
		for j, mt := range p.Meters {
			if !dims[mt.DimensionID] {
				add("%s.meters[%d].dimension_id %q: not a dimension of the offer", at, j, mt.DimensionID)
			}
			if seen[mt.DimensionID] {
				add("%s.meters[%d].dimension_id %q: duplicate", at, j, mt.DimensionID)
			}
			seen[mt.DimensionID] = true
			if mt.PriceMicros < 0 || mt.IncludedMonthly < 0 || mt.IncludedAnnual < 0 {
				add("%s.meters[%d]: prices and included quantities must not be negative", at, j)
			}
		}
		for j, t := range p.Audience {
			if !IsGUID(t) {
				add("%s.audience[%d] %q: want a tenant GUID", at, j, t)
			}
		}
	}
	if private > 45 {
		add("%d private plans: an offer has at most 45", private)
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Code: CodeBadArgument, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// PutOffer creates or replaces an offer. A plan that subscriptions use
// cannot be removed.
func (m *Market) PutOffer(ctx context.Context, in OfferInput) (Offer, error) {
	m.mu.Lock()
	allow := m.cfg.AllowMeteredTrials
	m.mu.Unlock()
	if err := in.Validate(allow); err != nil {
		return Offer{}, err
	}
	var out Offer
	err := m.update(ctx, func(tx *txn) error {
		if _, ok := m.publishers[in.PublisherID]; !ok {
			return notFoundf("publisher_id", "no publisher %s", in.PublisherID)
		}
		o, ok := m.offers[in.ID]
		if ok && o.PublisherID != in.PublisherID {
			return errorf(KindConflict, CodeConflict, "id", "offer %s belongs to publisher %s", in.ID, o.PublisherID)
		}
		if ok {
			next := &Offer{Plans: in.Plans}
			for _, s := range m.subscriptions {
				if s.OfferID == in.ID && next.plan(s.PlanID) == nil {
					return errorf(KindConflict, CodeConflict, "plans", "plan %s is used by subscription %s", s.PlanID, s.ID)
				}
			}
		} else {
			o = &Offer{ID: in.ID, PublisherID: in.PublisherID, CreatedAt: m.now()}
			m.offers[in.ID] = o
		}
		o.DisplayName, o.Dimensions, o.Plans = in.DisplayName, cloneDimensions(in.Dimensions), clonePlans(in.Plans)
		tx.put(kindOffer, o.ID, o)
		out = cloneOffer(o)
		return nil
	})
	return out, err
}

// SetAudience replaces the private audience (tenant ids) of a plan.
func (m *Market) SetAudience(ctx context.Context, offerID, planID string, tenants []string) (Plan, error) {
	for i, t := range tenants {
		if !IsGUID(t) {
			return Plan{}, invalidf("audience", "audience[%d] %q: want a tenant GUID", i, t)
		}
	}
	var out Plan
	err := m.update(ctx, func(tx *txn) error {
		o, ok := m.offers[offerID]
		if !ok {
			return notFoundf("offerId", "no offer %s", offerID)
		}
		p := o.plan(planID)
		if p == nil {
			return notFoundf("planId", "offer %s has no plan %s", offerID, planID)
		}
		p.Audience = append([]string(nil), tenants...)
		tx.put(kindOffer, o.ID, o)
		out = clonePlans([]Plan{*p})[0]
		return nil
	})
	return out, err
}

// Offer returns one offer.
func (m *Market) Offer(id string) (Offer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.offers[id]
	if !ok {
		return Offer{}, notFoundf("offerId", "no offer %s", id)
	}
	return cloneOffer(o), nil
}

// Offers lists offers by id.
func (m *Market) Offers() []Offer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Offer, 0, len(m.offers))
	for _, o := range m.offers {
		out = append(out, cloneOffer(o))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PlansFor lists the plans of an offer a buyer tenant may buy: the public
// ones and the private ones whose audience holds the tenant, not stop-sold.
// The buyer pages show these.
func (m *Market) PlansFor(offerID, tenantID string) ([]Plan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.offers[offerID]
	if !ok {
		return nil, notFoundf("offerId", "no offer %s", offerID)
	}
	var out []Plan
	for _, p := range o.Plans {
		if p.visibleTo(tenantID) && !p.StopSell {
			out = append(out, p)
		}
	}
	return clonePlans(out), nil
}

func cloneOffer(o *Offer) Offer {
	c := *o
	c.Dimensions = cloneDimensions(o.Dimensions)
	c.Plans = clonePlans(o.Plans)
	return c
}

func cloneDimensions(ds []Dimension) []Dimension { return append([]Dimension(nil), ds...) }

func clonePlans(ps []Plan) []Plan {
	out := make([]Plan, len(ps))
	for i, p := range ps {
		p.Terms = append([]TermPrice(nil), p.Terms...)
		p.Meters = append([]PlanMeter(nil), p.Meters...)
		p.Audience = append([]string(nil), p.Audience...)
		p.SourceOffers = append([]string(nil), p.SourceOffers...)
		out[i] = p
	}
	return out
}
