package main

// The layout suite: every page of both sides, the seller's console and the
// emulator's buyer pages, reflows on a 320 px wide screen (WCAG 2.1, 1.4.10:
// nothing scrolls sideways but a data table in its own box), its text keeps
// a contrast of 4.5:1 (3:1 when large; 1.4.3), aria-label sits only where it
// names something (4.1.2), and the headers stay one row on a 1200 px wide
// window (#11).

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/browsertest"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// reflowJS is "" when the page is no wider than the window, else how wide
// it is and the outermost elements that stick out.
const reflowJS = `(() => {
  const w = window.innerWidth;
  if (document.documentElement.scrollWidth <= w) return "";
  const out = e => e.getBoundingClientRect().right > w + 0.5;
  const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().split(/\s+/).join(".") : "");
  const wide = [...document.querySelectorAll("body *")].filter(e => out(e) && !(e.parentElement && out(e.parentElement) && e.parentElement !== document.body));
  return document.documentElement.scrollWidth + " px wide in a " + w + " px window: " +
    wide.slice(0, 6).map(e => name(e) + " (to " + Math.round(e.getBoundingClientRect().right) + " px)").join(", ");
})()`

// oneRowJS is "" when the visible children of the header share one row,
// else the ones that went to another.
const oneRowJS = `(sel => {
  const kids = [...document.querySelector(sel).children].filter(e => e.checkVisibility() && e.getBoundingClientRect().height > 0);
  const first = kids[0].getBoundingClientRect();
  const below = kids.filter(e => e.getBoundingClientRect().top >= first.bottom || e.getBoundingClientRect().bottom <= first.top);
  return below.map(e => e.tagName.toLowerCase() + " " + JSON.stringify(e.innerText.trim().slice(0, 40))).join(", ");
})(%q)`

// contrastJS lists text whose contrast with what is behind it is below
// WCAG's minimum: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
// Backgrounds are colours here (no images), blended up the tree.
const contrastJS = `(() => {
  const rgba = c => { const p = c.match(/[\d.]+/g).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3]));
  const lum = c => { const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const behind = e => {
    const layers = [];
    for (let n = e; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    return layers.reverse().reduce((under, c) => over(c, under), [255, 255, 255]);
  };
  const low = [];
  const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t; (t = texts.nextNode());) {
    const e = t.parentElement;
    if (!t.data.trim() || e.closest("svg, option, [disabled], script, style")) continue;
    const r = e.getBoundingClientRect();
    if (!e.checkVisibility({visibilityProperty: true, opacityProperty: true}) || r.right <= 0 || r.bottom <= 0) continue;
    const s = getComputedStyle(e), bg = behind(e), fg = over(rgba(s.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05), size = parseFloat(s.fontSize);
    const need = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700) ? 3 : 4.5;
    if (ratio < need) low.push(JSON.stringify(t.data.trim().slice(0, 30)) + " " + ratio.toFixed(2) + ":1");
  }
  return low.slice(0, 5).join(", ");
})()`

// namedJS lists elements that carry aria-label where ARIA lets nothing be
// named: a div or span without a role.
const namedJS = `[...document.querySelectorAll("div[aria-label]:not([role]), span[aria-label]:not([role])")]
  .map(e => e.tagName.toLowerCase() + "." + e.className).join(", ")`

// checkPage checks that the page the browser is on does not scroll
// sideways, and that its text reads: enough contrast, labels only on what
// can be named.
func checkPage(t *testing.T, b *browsertest.Browser, page string) {
	t.Helper()
	if wide := browsertest.Eval[string](b, reflowJS); wide != "" {
		t.Errorf("%s (%s) scrolls sideways at 320 px: %s", page, b.URL().Path, wide)
	}
	if low := browsertest.Eval[string](b, contrastJS); low != "" {
		t.Errorf("%s (%s) has text of too little contrast: %s", page, b.URL().Path, low)
	}
	if named := browsertest.Eval[string](b, namedJS); named != "" {
		t.Errorf("%s (%s) puts aria-label on elements that cannot be named: %s", page, b.URL().Path, named)
	}
}

// expectOneRow checks that the header matching css is one row.
func expectOneRow(t *testing.T, b *browsertest.Browser, page, css string) {
	t.Helper()
	if below := browsertest.Eval[string](b, fmt.Sprintf(oneRowJS, css)); below != "" {
		t.Errorf("%s: at %d px the header wraps %s onto another row", page, browsertest.Eval[int](b, "window.innerWidth"), below)
	}
}

// visitAndCheck loads url, and checks its status and the page (checkPage).
func visitAndCheck(t *testing.T, b *browsertest.Browser, name, url string, wantStatus int) {
	t.Helper()
	if status := b.Visit(url); status != wantStatus {
		t.Errorf("%s (%s): status %d, want %d", name, url, status, wantStatus)
	}
	checkPage(t, b, name)
}

func TestBrowser_EveryPageReflowsAt320px_HeadersOneRowAt1200px(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	b.ExtendBudget(5 * time.Minute) // about forty pages, twice a usual walk
	// A longer address and company name than most, as the header must fit
	// real ones.
	ada := person{name: "Ada Lovelace", email: "ada.lovelace@lovelace-analytics.example.com", password: "notes on the analytical engine",
		company: "Lovelace Analytics Research"}
	d := startDemo(t, "--operators", ada.email)
	b.SetViewport(320, 640)

	// The emulator's buyer pages.
	emu := d.emulator + "/buyer"
	visitAndCheck(t, b, "buyer home", emu+"/", http.StatusOK)
	actAs(t, b, market.DemoBuyerAccountID)
	subscribePAYG(t, b)
	checkPage(t, b, "subscription, just subscribed")
	agreement := b.URL().Path
	for _, p := range []struct{ name, path string }{
		{"search results", "/search?q=" + url.QueryEscape("Example Cloud")},
		{"listing", "/products/" + market.DemoPAYGCode},
		{"purchase options, already subscribed", "/products/" + market.DemoPAYGCode + "/purchase"},
		{"purchase options of a contract", "/products/" + market.DemoContractCode + "/purchase"},
		{"subscriptions", "/subscriptions"},
		{"cancel a subscription: confirm", strings.TrimPrefix(agreement, "/buyer") + "/cancel"},
		{"private offers", "/offers"},
	} {
		visitAndCheck(t, b, p.name, emu+p.path, http.StatusOK)
	}
	expectPage(t, b, b.Click(`main article.card a[href^="/buyer/offers/"]`), http.StatusOK, "Example Cloud committed spend - 12 months")
	checkPage(t, b, "private offer")
	visitAndCheck(t, b, "buyer error page", emu+"/no-such-page", http.StatusNotFound)

	// The seller's pages, from "Set up your account" to the billing page.
	expectPage(t, b, b.Visit(d.emulator+agreement), http.StatusOK, paygTitle)
	expectPage(t, b, setUpAccount(t, b, d), http.StatusOK, "Welcome from AWS Marketplace")
	checkPage(t, b, "welcome from AWS Marketplace")
	expectPage(t, b, b.Click(`main a[href^="/register?"]`), http.StatusOK, "Create your account")
	checkPage(t, b, "register")
	register(t, b, ada)
	checkPage(t, b, "check your inbox")
	visitAndCheck(t, b, "check your inbox, a long address",
		d.seller+"/register/check-inbox?email="+url.QueryEscape("procurement.and.vendor-management.team@subsidiary-holdings.example.com"), http.StatusOK)
	visitAndCheck(t, b, "dev mailbox", d.seller+"/dev/mailbox", http.StatusOK)
	verifyFromMailbox(t, b, d.seller, ada)
	checkPage(t, b, "log in")
	expectPage(t, b, login(t, b, ada), http.StatusOK, "Tell us about your business")
	checkPage(t, b, "onboarding, business")
	b.Fill("#f-company_name", ada.company)
	b.Select("#f-country", "US")
	b.Fill("#f-address", "1 Main Street\nSpringfield")
	expectPage(t, b, submit(b, "/onboarding/company"), http.StatusOK, "A little about you")
	checkPage(t, b, "onboarding, about you")
	fillProfile(b)
	expectPage(t, b, submit(b, "/onboarding/profile"), http.StatusOK, linkHeading)
	checkPage(t, b, "choose the organization to bill")
	linkPage := b.URL().Path
	orgID := confirmLink(t, b, ada.company)
	checkPage(t, b, "billing")
	openMail(t, b, d.seller, ada.email, "is now billed through AWS Marketplace")
	checkPage(t, b, "a mail in the dev mailbox")

	for _, p := range []struct {
		name, path string
		status     int
	}{
		{"organization overview", fmt.Sprintf("/orgs/%d/", orgID), http.StatusOK},
		{"members", fmt.Sprintf("/orgs/%d/members", orgID), http.StatusOK},
		{"API keys", fmt.Sprintf("/orgs/%d/api-keys", orgID), http.StatusOK},
		{"audit log", fmt.Sprintf("/orgs/%d/audit", orgID), http.StatusOK},
		{"new organization", "/orgs/new", http.StatusOK},
		{"the subscription's link page, linked", linkPage, http.StatusOK},
		{"operator view", "/operator", http.StatusOK},
		{"not found", "/orgs/999999/", http.StatusNotFound},
		{"fulfillment URL opened in the browser", "/marketplace/aws/fulfillment", http.StatusMethodNotAllowed},
		{"invitation that does not work", "/invitations/accept?token=nonsense", http.StatusOK},
	} {
		visitAndCheck(t, b, p.name, d.seller+p.path, p.status)
	}
	// The headers on a laptop's window: one row each, even with the
	// organization switcher and a name and address.
	b.SetViewport(1200, 800)
	expectPage(t, b, b.Visit(orgPage(d.seller, orgID, "")), http.StatusOK, ada.company)
	expectOneRow(t, b, "the seller's header, logged in", "header.top")
	expectPage(t, b, b.Visit(emu+"/"), http.StatusOK, "Discover products")
	expectOneRow(t, b, "the emulator's header", "header.top")

	// Pages for someone logged out.
	b.SetViewport(320, 640)
	expectPage(t, b, b.Visit(orgPage(d.seller, orgID, "")), http.StatusOK, ada.company)
	expectPage(t, b, b.Click(`header form[action="/logout"] button[type=submit]`), http.StatusOK, "Log in")
	for _, p := range []struct{ name, path string }{
		{"log in", "/login"},
		{"forgot password", "/forgot-password"},
		{"reset password, a link that does not work", "/reset-password?token=nonsense"},
		{"verification link that does not work", "/verify-email?token=nonsense"},
	} {
		if status := b.Visit(d.seller + p.path); status >= 500 {
			t.Errorf("%s: status %d", p.name, status)
		}
		checkPage(t, b, p.name)
	}
}
