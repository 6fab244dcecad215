package buyer

import (
	"encoding/hex"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

const buyerCookie = "azure_emulator_buyer"

// defaultEmail is offered on the sign-in page; the emulator sends no mail.
const defaultEmail = "buyer@contoso.example"

// current is who the browser acts as, from the cookie. The emulator has no
// identity provider for buyers: the cookie is the whole sign-in.
func (p *Pages) current(r *http.Request) (buyer, bool) {
	c, err := r.Cookie(buyerCookie)
	if err != nil {
		return buyer{}, false
	}
	b, err := parseBuyer(c.Value)
	return b, err == nil
}

// requireBuyer sends a browser that is not signed in to the sign-in page.
func (p *Pages) requireBuyer(w http.ResponseWriter, r *http.Request) (buyer, bool) {
	b, ok := p.current(r)
	if !ok {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, p.path("/signin"), http.StatusSeeOther)
		} else {
			p.fail(w, r, &market.Error{Kind: market.KindConflict, Message: "You are not signed in, so nothing was changed. Sign in as a buyer tenant, then try again."})
		}
	}
	return b, ok
}

// knownTenant is a tenant the sign-in page offers to act as.
type knownTenant struct {
	Tenant string
	Email  string
	Why    string
}

// knownTenants lists the tenants that already hold subscriptions and those
// in the audience of a private plan, so a tester can pick one instead of
// copying a GUID.
func (p *Pages) knownTenants() []knownTenant {
	seen := map[string]*knownTenant{}
	var order []string
	add := func(tenant, email, why string) {
		tenant = strings.ToLower(tenant)
		if k, ok := seen[tenant]; ok {
			if k.Email == defaultEmail && email != "" {
				k.Email = email
			}
			if !strings.Contains(k.Why, why) {
				k.Why += "; " + why
			}
			return
		}
		if email == "" {
			email = defaultEmail
		}
		seen[tenant] = &knownTenant{Tenant: tenant, Email: email, Why: why}
		order = append(order, tenant)
	}
	for _, s := range p.m.Subscriptions(market.SubscriptionFilter{}) {
		add(s.Beneficiary.TenantID, s.Beneficiary.EmailID, "holds SaaS subscriptions")
	}
	for _, o := range p.m.Offers() {
		for _, pl := range o.Plans {
			if !pl.Private {
				continue
			}
			for _, t := range pl.Audience {
				add(t, "", "audience of private plan "+pl.DisplayName+" ("+o.DisplayName+")")
			}
		}
	}
	out := make([]knownTenant, 0, len(order))
	for _, t := range order {
		out = append(out, *seen[t])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out
}

// newTenantID suggests a fresh tenant: a buyer with nothing bought yet.
func (p *Pages) newTenantID() string {
	b := make([]byte, 16)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return "00000000-0000-4000-8000-000000000000"
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (p *Pages) signInForm(w http.ResponseWriter, r *http.Request) {
	tenant, email := p.newTenantID(), defaultEmail
	if b, ok := p.current(r); ok {
		tenant, email = b.Tenant, b.Email
	}
	p.render(w, r, http.StatusOK, "signin", "Sign in", map[string]any{
		"Tenant": tenant, "Email": email, "Known": p.knownTenants(),
	})
}

func (p *Pages) signIn(w http.ResponseWriter, r *http.Request) {
	tenant, terr := parseTenant(r.PostFormValue("tenant"))
	email, eerr := parseEmail(r.PostFormValue("email"))
	if terr != nil || eerr != nil {
		msgs := []string{}
		for _, e := range []error{terr, eerr} {
			if e != nil {
				msgs = append(msgs, e.Error())
			}
		}
		p.fail(w, r, &market.Error{Kind: market.KindInvalid, Message: strings.Join(msgs, "; ")})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: buyerCookie, Value: buyer{Tenant: tenant, Email: email}.encode(),
		Path: p.path("/"), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	p.seeOther(w, r, "/", "signed-in")
}

func (p *Pages) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: buyerCookie, Value: "", Path: p.path("/"), MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	p.seeOther(w, r, "/signin", "signed-out")
}
