package procurement

import (
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
)

// The JSON shapes of §2.4 and §2.5 as the official client reads them.

type approvalJSON struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	Reason     string `json:"reason,omitempty"`
	UpdateTime string `json:"updateTime,omitempty"`
}

type accountJSON struct {
	Name            string            `json:"name"`
	Provider        string            `json:"provider"`
	State           string            `json:"state"`
	Approvals       []approvalJSON    `json:"approvals"`
	InputProperties map[string]string `json:"inputProperties,omitempty"`
	CreateTime      string            `json:"createTime"`
	UpdateTime      string            `json:"updateTime"`
}

type consumerJSON struct {
	Project string `json:"project"`
}

type entitlementJSON struct {
	Name                    string         `json:"name"`
	Provider                string         `json:"provider"`
	Account                 string         `json:"account"`
	Product                 string         `json:"product"`
	ProductExternalName     string         `json:"productExternalName"`
	Plan                    string         `json:"plan"`
	NewPendingPlan          string         `json:"newPendingPlan,omitempty"`
	State                   string         `json:"state"`
	UsageReportingID        string         `json:"usageReportingId,omitempty"`
	Offer                   string         `json:"offer,omitempty"`
	OfferDuration           string         `json:"offerDuration,omitempty"`
	OfferEndTime            string         `json:"offerEndTime,omitempty"`
	NewPendingOffer         string         `json:"newPendingOffer,omitempty"`
	NewPendingOfferDuration string         `json:"newPendingOfferDuration,omitempty"`
	NewOfferStartTime       string         `json:"newOfferStartTime,omitempty"`
	NewOfferEndTime         string         `json:"newOfferEndTime,omitempty"`
	SubscriptionEndTime     string         `json:"subscriptionEndTime,omitempty"`
	OrderID                 string         `json:"orderId"`
	Consumers               []consumerJSON `json:"consumers,omitempty"`
	MessageToUser           string         `json:"messageToUser,omitempty"`
	CancellationReason      string         `json:"cancellationReason,omitempty"`
	CreateTime              string         `json:"createTime"`
	UpdateTime              string         `json:"updateTime"`
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) accountName(id string) string {
	return "providers/" + s.market.ProviderID() + "/accounts/" + id
}

func (s *Server) toAccount(a market.Account) accountJSON {
	out := accountJSON{Name: s.accountName(a.ID), Provider: s.market.ProviderID(), State: "ACCOUNT_ACTIVE",
		Approvals: []approvalJSON{}, InputProperties: a.Properties, CreateTime: ts(a.CreateTime), UpdateTime: ts(a.UpdateTime)}
	for _, ap := range a.Approvals {
		out.Approvals = append(out.Approvals, approvalJSON{Name: ap.Name, State: ap.State, Reason: ap.Reason, UpdateTime: ts(ap.UpdateTime)})
	}
	return out
}

func (s *Server) toEntitlement(e market.Entitlement) entitlementJSON {
	out := entitlementJSON{
		Name: "providers/" + s.market.ProviderID() + "/entitlements/" + e.ID, Provider: s.market.ProviderID(),
		Account: s.accountName(e.Account), Product: e.Product, ProductExternalName: e.Product, Plan: e.Plan,
		NewPendingPlan: e.NewPendingPlan, State: e.State, UsageReportingID: e.UsageReportingID, Offer: e.Offer,
		OfferDuration: e.OfferDuration, OfferEndTime: ts(e.OfferEndTime), NewPendingOffer: e.NewPendingOffer,
		NewOfferStartTime: ts(e.NewOfferStartTime), NewOfferEndTime: ts(e.NewOfferEndTime),
		SubscriptionEndTime: ts(e.SubscriptionEndTime), OrderID: e.ID, MessageToUser: e.MessageToUser,
		CancellationReason: e.CancellationReason, CreateTime: ts(e.CreateTime), UpdateTime: ts(e.UpdateTime),
	}
	if e.NewPendingOffer != "" {
		out.NewPendingOfferDuration = e.OfferDuration
	}
	for _, c := range e.Consumers {
		out.Consumers = append(out.Consumers, consumerJSON{Project: c})
	}
	return out
}

// match says whether e passes every term of f.
func (s *Server) match(f Filter, e market.Entitlement) bool {
	for _, t := range f {
		var have, want string = "", t.Value
		switch t.Attr {
		case "account":
			have = e.Account
			want = trimPrefix(want, "providers/"+s.market.ProviderID()+"/accounts/")
		case "customer_billing_account":
			have = e.BillingAccount
		case "product_external_name":
			have = e.Product
		case "plan":
			have = e.Plan
		case "state":
			have, want = e.State, normState(want)
		case "offer":
			have = e.Offer
		case "new_pending_plan":
			have = e.NewPendingPlan
		case "new_pending_offer":
			have = e.NewPendingOffer
		}
		if (have == want) == t.Neg {
			return false
		}
	}
	return true
}

func trimPrefix(s, p string) string {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
