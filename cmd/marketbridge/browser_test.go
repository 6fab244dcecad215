package main

// The browser suite: the web console in headless Chromium, clicked through as
// people use it, against the real server started in-process (SQLite, dev
// mailbox). Each person has a browser of their own.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/browsertest"
)

// A new user registers, verifies the address from the mail, logs in, is
// taken through both onboarding steps (a refused step keeps what was typed),
// creates two organizations and moves between them with the header switcher.
func TestBrowser_SignUpOnboardAndSwitchOrganizations(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "ada")
	base := startConsole(t)
	ada := person{name: "Ada Lovelace", email: "ada@example.com", password: "notes on the analytical engine",
		company: "Lovelace Analytics"}

	expectPage(t, b, b.Visit(base+"/register"), http.StatusOK, "Create your account")
	register(t, b, ada)
	verifyFromMailbox(t, b, base, ada)
	expectPage(t, b, login(t, b, ada), http.StatusOK, "Tell us about your business")

	// Step 1 without an address is refused next to the field, and what was
	// typed stays.
	b.Fill("#f-company_name", ada.company)
	b.Select("#f-country", "GB")
	expectPage(t, b, submit(b, "/onboarding/company"), http.StatusUnprocessableEntity, "Tell us about your business")
	if msg := b.Text("#e-address"); msg == "" {
		t.Error("the empty address has no error message next to it")
	}
	if got := browsertest.Eval[string](b, `document.getElementById("f-address").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("the address field has aria-invalid=%q, want true", got)
	}
	if got := b.Value("#f-company_name"); got != ada.company {
		t.Errorf("company name after the refusal = %q, want %q kept", got, ada.company)
	}
	if got := b.Value("#f-country"); got != "GB" {
		t.Errorf("country after the refusal = %q, want GB kept", got)
	}
	b.Fill("#f-address", "12 St James's Square\nLondon SW1Y 4LB")
	expectPage(t, b, submit(b, "/onboarding/company"), http.StatusOK, "A little about you")
	fillProfile(b)
	expectPage(t, b, submit(b, "/onboarding/profile"), http.StatusOK, "Create an organization")
	expectFlash(t, b, "Your account is ready")

	first := createOrg(t, b, "Lovelace Analytics")
	expectFlash(t, b, `Organization "Lovelace Analytics" created`)
	if lead := b.Text("main .lead"); !strings.Contains(lead, "Admin") {
		t.Errorf("overview says %q, want the creator to be Admin", lead)
	}

	expectPage(t, b, b.Click(`header a[href="/orgs/new"]`), http.StatusOK, "Create an organization")
	second := createOrg(t, b, "Lovelace Labs")

	// With JavaScript the switcher's button is hidden and a choice switches
	// at once.
	if b.Visible("header .switcher button") {
		t.Error(`the switcher's "Switch" button is visible; app.js should hide it`)
	}
	if got := b.Value("#org-switch"); got != id(second) {
		t.Errorf("switcher shows organization %s on the second one's page, want %s", got, id(second))
	}
	expectPage(t, b, b.SelectAndWait("#org-switch", id(first)), http.StatusOK, "Lovelace Analytics")
	if got := b.Value("#org-switch"); got != id(first) {
		t.Errorf("switcher shows organization %s after switching, want %s", got, id(first))
	}
	expectPage(t, b, b.SelectAndWait("#org-switch", id(second)), http.StatusOK, "Lovelace Labs")
	// The console remembers the choice.
	expectPage(t, b, b.Visit(base+"/"), http.StatusOK, "Lovelace Labs")
}

// An admin invites a Developer, who registers through the invitation,
// onboards and joins; the admin then sees the new member. A user outside the
// organization gets 404 on its pages, the Developer 403 on the admin-only
// API keys, and a new API key is shown once.
func TestBrowser_InvitationRolesAndNonMembers(t *testing.T) {
	t.Parallel()
	admin := browsertest.New(t, "admin")
	base := startConsole(t)
	grace := person{name: "Grace Hopper", email: "grace@example.com", password: "a ship in port is safe", company: "Hopper Systems"}
	dev := person{name: "Dev Eloper", email: "dev@example.com", password: "compilers all the way down", company: "Hopper Systems"}
	eve := person{name: "Eve Outsider", email: "eve@example.net", password: "not invited to this party", company: "Elsewhere Ltd"}

	signUp(t, admin, base, grace)
	orgID := createOrg(t, admin, "Hopper Systems")
	members := orgPage(base, orgID, "members")
	apiKeys := orgPage(base, orgID, "api-keys")

	expectPage(t, admin, admin.Visit(members), http.StatusOK, "Members")
	admin.Fill("#f-email", dev.email)
	admin.Select("#f-role", "developer")
	expectPage(t, admin, submit(admin, fmt.Sprintf("/orgs/%d/members/invite", orgID)), http.StatusOK, "Members")
	expectFlash(t, admin, "Invitation sent to "+dev.email)

	// The developer is someone else, in another browser.
	developer := browsertest.New(t, "developer")
	openMail(t, developer, base, dev.email, "invited you to Hopper Systems")
	expectPage(t, developer, developer.Click("main pre.mail a"), http.StatusOK, "You are invited")
	expectPage(t, developer, developer.Click(`main a[href^="/register?"]`), http.StatusOK, "Create your account")
	register(t, developer, dev)
	verifyFromMailbox(t, developer, base, dev)
	expectPage(t, developer, login(t, developer, dev), http.StatusOK, "Tell us about your business")
	// Onboarding leads back to the invitation.
	expectPage(t, developer, onboard(t, developer, dev), http.StatusOK, "You are invited")
	expectPage(t, developer, submit(developer, "/invitations/accept"), http.StatusOK, "Hopper Systems")
	expectFlash(t, developer, "You joined as Developer")
	if lead := developer.Text("main .lead"); !strings.Contains(lead, "Developer") {
		t.Errorf("overview says %q, want the developer's role", lead)
	}
	if developer.Has(`nav.org a[href$="/api-keys"]`) {
		t.Error("a Developer's navigation links to API keys, which only admins may open")
	}
	expectPage(t, developer, developer.Visit(apiKeys), http.StatusForbidden, "Not allowed")

	expectPage(t, admin, admin.Visit(members), http.StatusOK, "Members")
	if role := memberRole(admin, dev.email); role != "developer" {
		t.Errorf("the admin sees %s with role %q on the Members page, want developer", dev.email, role)
	}
	if admin.Has(`main [aria-label="Pending invitations"]`) && strings.Contains(admin.Text(`main [aria-label="Pending invitations"]`), dev.email) {
		t.Errorf("%s is still listed as a pending invitation after accepting", dev.email)
	}

	// Someone outside the organization learns nothing about it, not even
	// that it exists.
	outsider := browsertest.New(t, "outsider")
	signUp(t, outsider, base, eve)
	for _, page := range []string{"", "members", "api-keys", "audit"} {
		expectPage(t, outsider, outsider.Visit(orgPage(base, orgID, page)), http.StatusNotFound, "Not found")
		if text := browsertest.Eval[string](outsider, "document.body.innerText"); strings.Contains(text, "Hopper Systems") {
			t.Errorf("the 404 page of %s names the organization", orgPage(base, orgID, page))
		}
	}

	// A new API key is shown once, on the page its creation redirects to:
	// reloading that page shows it no more, and makes no second key.
	expectPage(t, admin, admin.Visit(apiKeys), http.StatusOK, "API keys")
	admin.Fill("#f-name", "production ingest")
	expectPage(t, admin, submit(admin, fmt.Sprintf("/orgs/%d/api-keys", orgID)), http.StatusOK, "API keys")
	key := admin.Text("#new-key")
	prefix := strings.TrimSuffix(admin.Text("main tbody tr td code"), "…")
	if key == "" || prefix == "" || !strings.HasPrefix(key, prefix) {
		t.Fatalf("new key %q, listed as %q…: want the key shown in full and listed by its prefix", key, prefix)
	}
	shownAt := admin.URL()
	if shownAt.Query().Get("created") == "" || strings.Contains(shownAt.String(), key) {
		t.Errorf("the new key is shown at %s: want the key list, redirected to, without the key in the address", shownAt)
	}
	expectPage(t, admin, admin.Visit(shownAt.String()), http.StatusOK, "API keys") // a reload
	if admin.Has("#new-key") || strings.Contains(browsertest.Eval[string](admin, "document.documentElement.outerHTML"), key) {
		t.Error("reloading the page after the creation shows the API key again")
	}
	if n := browsertest.Eval[int](admin, `document.querySelectorAll("main tbody tr").length`); n != 1 {
		t.Errorf("%d keys listed after reloading the page after the creation, want 1", n)
	}
	expectPage(t, admin, admin.Visit(apiKeys), http.StatusOK, "API keys")
	if admin.Has("#new-key") || strings.Contains(browsertest.Eval[string](admin, "document.documentElement.outerHTML"), key) {
		t.Error("the API key is shown again when the page is opened later")
	}
	if got := admin.Text("main tbody tr td"); got != "production ingest" {
		t.Errorf("the key list shows %q, want the key still listed by name", got)
	}
}

// startConsole runs the seller service for the test, and checks at the end
// that it stops cleanly.
func startConsole(t *testing.T) string {
	t.Helper()
	base, stop := startServe(t, "--dev-mailbox")
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve ended with %v, want a clean stop", err)
		}
	})
	return base
}

// person is someone who signs up in the suite.
type person struct {
	name, email, password string
	company               string
}

// signUp takes a person from the registration form to the end of
// onboarding, where the console asks for a first organization.
func signUp(t *testing.T, b *browsertest.Browser, base string, p person) {
	t.Helper()
	expectPage(t, b, b.Visit(base+"/register"), http.StatusOK, "Create your account")
	register(t, b, p)
	verifyFromMailbox(t, b, base, p)
	expectPage(t, b, login(t, b, p), http.StatusOK, "Tell us about your business")
	expectPage(t, b, onboard(t, b, p), http.StatusOK, "Create an organization")
}

// register fills in and sends the registration form the browser is on.
func register(t *testing.T, b *browsertest.Browser, p person) {
	t.Helper()
	b.Fill("#f-email", p.email)
	b.Fill("#f-name", p.name)
	b.Fill("#f-password", p.password)
	expectPage(t, b, submit(b, "/register"), http.StatusOK, "Check your inbox")
	if got := b.Text("main .panel strong"); got != p.email {
		t.Errorf("check-inbox page names %q, want %q", got, p.email)
	}
}

// verifyFromMailbox follows the link of the newest verification mail to the
// person, and checks it lands on the log-in form with the address filled in.
func verifyFromMailbox(t *testing.T, b *browsertest.Browser, base string, p person) {
	t.Helper()
	openMail(t, b, base, p.email, "Verify your e-mail address")
	expectPage(t, b, b.Click("main pre.mail a"), http.StatusOK, "Log in")
	expectFlash(t, b, "verified")
	if got := b.Value("#f-email"); got != p.email {
		t.Errorf("log-in form after verification has e-mail %q, want %q", got, p.email)
	}
}

// login sends the log-in form the browser is on and returns the status of
// the page it lands on.
func login(t *testing.T, b *browsertest.Browser, p person) int {
	t.Helper()
	b.Fill("#f-email", p.email)
	b.Fill("#f-password", p.password)
	return submit(b, "/login")
}

// onboard completes both onboarding steps from the first, and returns the
// status of the page the console goes to next.
func onboard(t *testing.T, b *browsertest.Browser, p person) int {
	t.Helper()
	b.Fill("#f-company_name", p.company)
	b.Select("#f-country", "US")
	b.Fill("#f-address", "1 Main Street\nSpringfield")
	expectPage(t, b, submit(b, "/onboarding/company"), http.StatusOK, "A little about you")
	fillProfile(b)
	return submit(b, "/onboarding/profile")
}

func fillProfile(b *browsertest.Browser) {
	b.Select("#f-job_role", "engineering")
	b.Select("#f-company_size", "11-50")
	b.Select("#f-use_case", "analytics")
}

// createOrg sends the new-organization form the browser is on, checks that
// it lands on the overview and returns the organization's id.
func createOrg(t *testing.T, b *browsertest.Browser, name string) int64 {
	t.Helper()
	b.Fill("#f-name", name)
	expectPage(t, b, submit(b, "/orgs"), http.StatusOK, name)
	path := b.URL().Path
	orgID, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(path, "/orgs/"), "/"), 10, 64)
	if err != nil {
		t.Fatalf("after creating %q the browser is on %s, want /orgs/{id}/", name, path)
	}
	return orgID
}

// openMail opens, from the dev mailbox, the newest mail to the address
// whose subject contains subject.
func openMail(t *testing.T, b *browsertest.Browser, base, to, subject string) {
	t.Helper()
	expectPage(t, b, b.Visit(base+"/dev/mailbox"), http.StatusOK, "Dev mailbox")
	href := browsertest.Eval[string](b, fmt.Sprintf(`(() => {
  for (const row of document.querySelectorAll("main tbody tr")) {
    if (row.cells.length === 3 && row.cells[1].innerText.includes(%q) && row.cells[2].innerText.includes(%q)) {
      return row.cells[2].querySelector("a").getAttribute("href");
    }
  }
  return "";
})()`, to, subject))
	if href == "" {
		t.Fatalf("the dev mailbox has no mail to %s about %q", to, subject)
	}
	status := b.Click(fmt.Sprintf(`main a[href=%q]`, href))
	if h := b.Text("main h1"); status != http.StatusOK || !strings.Contains(h, subject) {
		t.Fatalf("opening the mail gave %d %q, want 200 and the subject %q", status, h, subject)
	}
}

// memberRole is the role the Members page shows for the address, or "" when
// the address is not a member.
func memberRole(b *browsertest.Browser, email string) string {
	return browsertest.Eval[string](b, fmt.Sprintf(`(() => {
  for (const row of document.querySelectorAll('main [aria-label="Members"] tbody tr')) {
    if (row.cells[1].innerText.trim() === %q) {
      const box = row.querySelector("select");
      return box ? box.value : row.cells[2].innerText.trim().toLowerCase();
    }
  }
  return "";
})()`, email))
}

// submit sends the form of the page's main content whose action is action,
// with its submit button, and returns the status of the page it lands on.
func submit(b *browsertest.Browser, action string) int {
	return b.Click(fmt.Sprintf(`main form[action=%q] button[type=submit]`, action))
}

// expectPage checks the status and the heading of the page the browser is
// on, and stops the test when they are not the ones wanted.
func expectPage(t *testing.T, b *browsertest.Browser, status, wantStatus int, wantHeading string) {
	t.Helper()
	heading := ""
	if b.Has("main h1") { // not on a bare error page
		heading = b.Text("main h1")
	}
	if status != wantStatus || heading != wantHeading {
		text := browsertest.Eval[string](b, "document.body.innerText")
		t.Fatalf("on %s: status %d, heading %q; want %d, %q. The page says:\n%.600s", b.URL(), status, heading, wantStatus, wantHeading, text)
	}
}

// expectFlash checks the one-time notice at the top of the page.
func expectFlash(t *testing.T, b *browsertest.Browser, want string) {
	t.Helper()
	if !b.Has("main .alert.ok") {
		t.Errorf("on %s: no notice, want one saying %q", b.URL(), want)
		return
	}
	if got := b.Text("main .alert.ok"); !strings.Contains(got, want) {
		t.Errorf("on %s: notice %q, want it to say %q", b.URL(), got, want)
	}
}

func orgPage(base string, orgID int64, page string) string {
	return fmt.Sprintf("%s/orgs/%d/%s", base, orgID, page)
}

func id(orgID int64) string { return strconv.FormatInt(orgID, 10) }
