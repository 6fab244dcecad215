package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/money"
	"github.com/marketbridge/marketbridge/internal/org"
)

// fulfillmentPath is the URL registered with AWS Marketplace as the
// product's fulfillment URL.
const fulfillmentPath = "/marketplace/aws/fulfillment"

const purchaseCookie = "mb_purchase"

type marketplaceErrorView struct {
	Heading    string
	ConsoleURL string
	// ConsoleLabel names ConsoleURL's page; AWS Marketplace's when empty.
	ConsoleLabel string
	Message      string
	ProductCode  string
	Retry        bool
}

// renderMarketplaceError shows what went wrong with an AWS set-up and what
// to do.
func (s *Server) renderMarketplaceError(w http.ResponseWriter, r *http.Request, err error) error {
	return s.renderSetUpError(w, r, err, marketplace.AWS)
}

// renderSetUpError shows what went wrong with a set-up on the marketplace
// and what to do; the core words the message in that marketplace's terms.
func (s *Server) renderSetUpError(w http.ResponseWriter, r *http.Request, err error, market string) error {
	if fault.KindOf(err) == fault.KindInternal {
		return err
	}
	v := marketplaceErrorView{Heading: "We could not set up your subscription", Message: fault.Message(err), ConsoleURL: s.cfg.BuyerConsoleURL}
	switch market {
	case marketplace.Azure:
		v.ConsoleURL, v.ConsoleLabel = azureConsoleURL, "Your SaaS subscriptions in the Azure portal"
	case marketplace.GCP:
		v.ConsoleURL, v.ConsoleLabel = gcpConsoleURL, "Your orders in Google Cloud Marketplace"
	}
	var pe *marketplace.ProductError
	switch {
	case errors.Is(err, marketplace.ErrTokenExpired):
		v.Heading = "Your set-up link has expired"
	case errors.Is(err, marketplace.ErrTokenInvalid), market != marketplace.AWS && fault.KindOf(err) == fault.KindInvalid && !errors.As(err, &pe):
		v.Heading = "This set-up link is not valid"
	case errors.Is(err, marketplace.ErrMarketplaceUnavailable):
		v.Heading, v.Retry = marketplace.Label(market)+" is not answering", true
	case errors.As(err, &pe):
		v.Heading, v.ProductCode = "This product is not set up yet", pe.Code
	}
	s.logger.InfoContext(r.Context(), "marketplace set-up refused", "marketplace", market, "err", err)
	s.render(w, r, statusOf(err), "marketplace_error", view{Title: v.Heading, Data: v})
	return nil
}

// handleFulfillment is where AWS Marketplace posts the buyer's browser. It
// resolves the token at once, keeps the purchase server-side and hands the
// browser a claim cookie, then redirects to a GET: the cross-site POST
// carries none of our SameSite=Lax cookies, the GET that follows does.
func (s *Server) handleFulfillment(w http.ResponseWriter, r *http.Request) error {
	if !s.fulfillments.Allow(s.clientAddr(r)) {
		return fault.New(fault.KindRateLimited, "Too many set-up attempts from your address. Wait a minute, then click \u201cSet up your account\u201d on AWS Marketplace again.")
	}
	if err := r.ParseForm(); err != nil {
		return s.renderMarketplaceError(w, r, marketplace.ErrTokenInvalid)
	}
	claim, _, err := s.cfg.Market.Fulfill(r.Context(), marketplace.FulfillInput{
		Token:     r.PostForm.Get("x-amzn-marketplace-token"),
		OfferType: r.PostForm.Get("x-amzn-marketplace-offer-type"),
	})
	if err != nil {
		return s.renderMarketplaceError(w, r, err)
	}
	http.SetCookie(w, &http.Cookie{Name: purchaseCookie, Value: claim, Path: "/", MaxAge: int(marketplace.PurchaseTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
	return seeOther(w, r, "/marketplace/aws/setup")
}

// handleFulfillmentNotPosted answers a person who opens the fulfillment URL
// (a bookmark, a reload, a link pasted from the address bar): only AWS
// Marketplace's form post carries a token, so they get the page a missing
// token gets, which leads back to "Set up your account", not a bare 405.
func (s *Server) handleFulfillmentNotPosted(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", http.MethodPost)
	v := marketplaceErrorView{Heading: "This set-up link is not valid", Message: fault.Message(marketplace.ErrTokenInvalid), ConsoleURL: s.cfg.BuyerConsoleURL}
	s.render(w, r, http.StatusMethodNotAllowed, "marketplace_error", view{Title: v.Heading, Data: v})
	return nil
}

func purchaseURL(id int64) string { return fmt.Sprintf("/marketplace/purchases/%d", id) }

type setupView struct {
	Purchase marketplace.Purchase
	Next     string
}

// handleSetup is the landing page after "Set up your account": a logged-in
// user goes on to link; anyone else is asked to log in or register, and
// comes back here afterwards (R4).
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) error {
	u := userFrom(r.Context())
	claim := ""
	if c, err := r.Cookie(purchaseCookie); err == nil {
		claim = c.Value
	}
	if u != nil {
		if claim != "" {
			p, err := s.cfg.Market.ClaimPurchase(r.Context(), claim, u.User.ID)
			if err == nil {
				return s.toPurchase(w, r, u, p)
			}
			if !errors.Is(err, marketplace.ErrPurchaseNotFound) {
				return err
			}
			// Completed, expired, or someone else's: the cookie is spent.
			s.clearPurchaseCookie(w)
		}
		// No cookie here (another browser): a purchase this user claimed
		// elsewhere still leads on.
		if p, ok, err := s.cfg.Market.PendingPurchase(r.Context(), u.User.ID); err != nil {
			return err
		} else if ok {
			return s.toPurchase(w, r, u, p)
		}
		return s.renderMarketplaceError(w, r, marketplace.ErrPurchaseNotFound)
	}
	p, err := s.cfg.Market.PurchaseByClaim(r.Context(), claim)
	if err != nil {
		return s.renderMarketplaceError(w, r, err)
	}
	s.render(w, r, http.StatusOK, "marketplace_setup", view{Title: "Welcome", Data: setupView{Purchase: p, Next: r.URL.Path}})
	return nil
}

func (s *Server) toPurchase(w http.ResponseWriter, r *http.Request, u *currentUser, p marketplace.Purchase) error {
	if !u.User.Onboarded {
		return seeOther(w, r, onboardingURL("/onboarding/company", purchaseURL(p.ID)))
	}
	return seeOther(w, r, purchaseURL(p.ID))
}

type linkView struct {
	Purchase  marketplace.Purchase
	Contract  []contractTerm
	Choices   []marketplace.Choice
	Choice    string // "new" or an organization id
	LinkedOrg *org.Org
	// Product is "Open <product>" for the linked organization.
	Product   *productLink
	CanMove   bool
	Suggested string
}

func (s *Server) linkView(r *http.Request, u *currentUser, p marketplace.Purchase) (linkView, error) {
	v := linkView{Purchase: p, Contract: contractTerms(s.cfg.Market.Catalog(), p.Subscription), Choice: "new", Suggested: u.User.Name + "'s organization"}
	if b, found, err := s.cfg.Accounts.Business(r.Context(), u.User.ID); err == nil && found {
		v.Suggested = b.CompanyName
	}
	choices, err := s.cfg.Market.LinkChoices(r.Context(), p, u.User.ID)
	if err != nil {
		return v, err
	}
	v.Choices = choices
	if l := p.Subscription.Link; l != nil {
		for _, o := range u.orgs {
			if o.ID == l.OrgID {
				v.LinkedOrg = &o
				v.CanMove = o.Role == org.RoleAdmin
				v.Product = s.productLink(o.ID, o.ExternalID, p.Subscription.ProductName)
			}
		}
	}
	return v, nil
}

// handleLinkForm offers to create an organization (the default) or pick one
// where the user is admin, and says what linking will do; or, when the
// subscription already bills an organization, where (R7).
func (s *Server) handleLinkForm(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.cfg.Market.PurchaseOf(r.Context(), id, u.User.ID)
	if err != nil {
		return s.renderMarketplaceError(w, r, err)
	}
	v, err := s.linkView(r, u, p)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "marketplace_link", view{Title: "Choose the organization to bill", Data: v})
	return nil
}

func (s *Server) handleLink(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	in := marketplace.LinkInput{PurchaseID: id, UserID: u.User.ID, NewOrgName: r.PostForm.Get("name"), Move: r.PostForm.Get("move") == "1"}
	choice := r.PostForm.Get("org")
	if choice != "new" {
		if in.OrgID, err = strconv.ParseInt(choice, 10, 64); err != nil || in.OrgID <= 0 {
			return org.ErrNotFound
		}
	}
	res, err := s.cfg.Market.Link(r.Context(), in)
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal || errors.Is(err, marketplace.ErrPurchaseNotFound) {
			return s.renderMarketplaceError(w, r, err)
		}
		p, perr := s.cfg.Market.PurchaseOf(r.Context(), id, u.User.ID)
		if perr != nil {
			return perr
		}
		v, verr := s.linkView(r, u, p)
		if verr != nil {
			return verr
		}
		v.Choice = choice
		f := formFrom(r, err)
		var elsewhere *marketplace.LinkedElsewhereError
		if errors.As(err, &elsewhere) && v.LinkedOrg == nil {
			f.Error = "This " + subscriptionNoun(p.Subscription.Marketplace) + " already bills an organization you are not a member of. " +
				"Ask that organization's admins to invite you, or to cancel the link there."
		}
		s.render(w, r, statusOf(err), "marketplace_link", view{Title: "Choose the organization to bill", Form: f, Data: v})
		return nil
	}
	switch {
	case res.Already:
		s.setFlash(w, alreadyLinked(res.Org, in, u.orgs, res.Marketplace))
	case res.Moved:
		s.setFlash(w, fmt.Sprintf("The %s now bills %s instead.", subscriptionNoun(res.Marketplace), res.Org.Name))
	default:
		s.setFlash(w, fmt.Sprintf("%s is now billed through %s.", res.Org.Name, marketplace.Label(res.Marketplace)))
	}
	s.clearPurchaseCookie(w)
	if err := s.cfg.Accounts.SetCurrentOrg(r.Context(), u.token, res.Org.ID); err != nil {
		return err
	}
	return seeOther(w, r, orgURL(res.Org.ID, "billing"))
}

// alreadyLinked tells a second confirmation of a purchase (a double click,
// the tab that lost a race) what stands, and that what it chose was not
// done: it lands on the winner's billing page, not the one it asked for (R6).
func alreadyLinked(billed org.Org, in marketplace.LinkInput, mine []org.Org, market string) string {
	msg := billed.Name + " was already billed through this " + subscriptionNoun(market)
	switch {
	case in.OrgID == 0:
		msg += ", so no new organization was created"
	case in.OrgID != billed.ID:
		chosen := "the organization you chose"
		for _, o := range mine {
			if o.ID == in.OrgID {
				chosen = o.Name + ", the organization you chose,"
			}
		}
		msg += ", so " + chosen + " was not linked"
	}
	return msg + ". Nothing changed."
}

type billingView struct {
	Billing        marketplace.Billing
	Contract       []contractTerm
	BillingConsole string
	Usage          metering.Summary
	Chart          chart
	// Product is "Open <product>" once the organization is linked.
	Product *productLink
	// Agreement is what the buyer accepted, as the Agreement API says
	// (#13); nil when it has not been read.
	Agreement *marketplace.AgreementView
}

// handleBilling is the organization's billing page (R9, R16): how it is
// billed, its usage per day, what was metered, and a contract's drawdown.
func (s *Server) handleBilling(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	b, sum, err := s.billingState(r.Context(), o.ID)
	if err != nil {
		return err
	}
	v := billingView{Billing: b, BillingConsole: "https://console.aws.amazon.com/billing/home#/bills", Usage: sum, Chart: barChart(sum.Days)}
	if b.Subscription != nil {
		v.Contract = contractTerms(s.cfg.Market.Catalog(), *b.Subscription)
		v.Product = s.productLink(o.ID, o.ExternalID, b.Subscription.ProductName)
		if v.Agreement, err = s.cfg.Market.AgreementOf(r.Context(), b.Subscription.ID); err != nil {
			return err
		}
	}
	s.render(w, r, http.StatusOK, "billing", view{Title: "Billing · " + o.Name, Org: &o, Data: v})
	return nil
}

// billingState is the organization's billing state with its usage: a
// contract whose committed credits are used up is in overage (R14). The
// credits used are those of the current term, as metering draws them (R13).
func (s *Server) billingState(ctx context.Context, orgID int64) (marketplace.Billing, metering.Summary, error) {
	b, err := s.cfg.Market.BillingOf(ctx, orgID)
	if err != nil {
		return b, metering.Summary{}, err
	}
	in := metering.SummaryInput{OrgID: orgID}
	if sub := b.Subscription; sub != nil {
		in.SubscriptionID, in.LinkedAt = sub.ID, sub.Link.LinkedAt
		// Only contracts draw committed credits, as metering has it (R12).
		if p, ok := s.cfg.Market.Catalog().Product(sub.ProductCode); ok && p.OfferType == marketplace.OfferContract {
			in.CommittedDimension = p.CommittedDimension
		}
	}
	sum, err := s.cfg.Reports.Summarize(ctx, in)
	if err != nil {
		return b, sum, err
	}
	if b.State == marketplace.BillingActive && sum.CommittedMicros > 0 && sum.UsedMicros >= sum.CommittedMicros {
		b.State = marketplace.BillingCreditsExhausted
	}
	return b, sum, nil
}

// chart is a bar chart of daily usage, drawn by the server as SVG so that
// the page needs no script.
type chart struct {
	Width, Height int
	Bars          []bar
	Max           int64
}

type bar struct {
	X, Y, W, H int
	Label      string
}

func barChart(days []metering.Day) chart {
	c := chart{Width: 600, Height: 120}
	for _, d := range days {
		c.Max = max(c.Max, d.Micros)
	}
	if len(days) == 0 {
		return c
	}
	w := c.Width / len(days)
	for i, d := range days {
		// A bar's height is a share of the highest day, worked out in
		// floating point: micro-dollars times pixels can pass int64. A day
		// that nets out below zero (a refund-like correction) draws none.
		h := 0
		if c.Max > 0 && d.Micros > 0 {
			h = int(float64(d.Micros) / float64(c.Max) * float64(c.Height-10))
		}
		c.Bars = append(c.Bars, bar{X: i * w, Y: c.Height - h, W: max(w-2, 1), H: h,
			Label: d.Date.Format("Jan 2") + ": " + money.Micros(d.Micros).String()})
	}
	return c
}

func (s *Server) clearPurchaseCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: purchaseCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
}

// waitingPurchase says whether the browser holds a purchase still waiting
// to be linked, so that log-in can lead to it.
func (s *Server) waitingPurchase(r *http.Request) bool {
	c, err := r.Cookie(purchaseCookie)
	if err != nil || c.Value == "" {
		return false
	}
	p, err := s.cfg.Market.PurchaseByClaim(r.Context(), c.Value)
	return err == nil && !p.Completed
}

// subscriptionNoun names a subscription of the marketplace in a sentence:
// "AWS subscription", as AWS's pages always said, or "Microsoft commercial
// marketplace subscription".
func subscriptionNoun(market string) string {
	if market == marketplace.AWS || market == "" {
		return "AWS subscription"
	}
	return marketplace.Label(market) + " subscription"
}
