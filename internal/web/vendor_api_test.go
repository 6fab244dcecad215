package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// call sends a vendor API request with cred as bearer credential (none when
// empty) and body as JSON (none when empty).
func (a *app) call(method, path, cred, body string) response {
	a.t.Helper()
	return a.callT(a.t, method, path, cred, body)
}

// callT is call for a test other than the app's own (a fuzz target's
// input).
func (a *app) callT(t testing.TB, method, path, cred, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(raw), header: resp.Header}
}

// serviceToken makes a service token as `marketbridge token create` does.
func (a *app) serviceToken(name string, scope org.Scope) (org.Token, string) {
	a.t.Helper()
	tok, full, err := a.orgs.CreateToken(context.Background(), 0, org.CreateTokenInput{Name: name, Scope: scope})
	if err != nil {
		a.t.Fatal(err)
	}
	return tok, full
}

type apiOrg struct {
	ID           int64   `json:"id"`
	Name         string  `json:"name"`
	ExternalID   *string `json:"external_id"`
	BillingState string  `json:"billing_state"`
	MemberCount  int     `json:"member_count"`
	Admin        struct {
		Email  string `json:"email"`
		Status string `json:"status"`
	} `json:"admin"`
}

func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	return v
}

// Each endpoint of the vendor API, its happy path and its errors, in the
// order a vendor's back end would call them (#12).
func TestVendorAPI_EveryEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		tok, write := a.serviceToken("crm", org.ScopeWrite)
		a.signUp("alice@example.com")
		a.signUp("bob@example.com")
		create := a.call("POST", "/api/v1/organizations", write, `{"external_id":"t-1","name":"Acme","admin_email":"alice@example.com"}`)
		acme := decode[apiOrg](t, create)
		if create.status != http.StatusCreated || acme.ExternalID == nil || *acme.ExternalID != "t-1" || acme.Admin.Status != "member" ||
			acme.MemberCount != 1 || acme.BillingState != "none" || create.location != "/api/v1/organizations/"+itoa(acme.ID) {
			t.Fatalf("create = %d %s (Location %q)", create.status, create.body, create.location)
		}
		beta := decode[apiOrg](t, a.call("POST", "/api/v1/organizations", write, `{"external_id":"t-2","name":"Beta","admin_email":"new@example.com"}`))
		if beta.Admin.Status != "invited" || beta.MemberCount != 0 {
			t.Fatalf("create with a new admin = %+v, want invited", beta)
		}
		a.mailLink("new@example.com", "/invitations/accept")
		org1 := "/api/v1/organizations/" + itoa(acme.ID)
		steps := []struct {
			name, method, path, body string
			want                     int
			contains                 []string
		}{
			{"retry", "POST", "/api/v1/organizations", `{"external_id":"t-1","name":"Acme","admin_email":"Alice@example.com"}`, 200, []string{`"id":` + itoa(acme.ID)}},
			{"other name", "POST", "/api/v1/organizations", `{"external_id":"t-1","name":"Acme 2","admin_email":"alice@example.com"}`, 409, []string{"external_id"}},
			{"every field wrong", "POST", "/api/v1/organizations", `{"external_id":"a b","name":"","admin_email":"x"}`, 400,
				[]string{`"external_id":"Use 1 to 128`, `"name":`, `"admin_email":`}},
			{"NUL in the name", "POST", "/api/v1/organizations", `{"external_id":"t-5","name":"a\u0000b","admin_email":"alice@example.com"}`, 400, []string{`"name":`}},
			{"not JSON", "POST", "/api/v1/organizations", `{"external_id":`, 400, []string{`"body":`}},
			{"unknown field", "POST", "/api/v1/organizations", `{"external_id":"t-3","name":"N","admin_email":"a@example.com","plan":"gold"}`, 400, []string{`plan`}},
			{"wrong type", "POST", "/api/v1/organizations", `{"external_id":3}`, 400, []string{`external_id must be a string`}},
			{"find", "GET", "/api/v1/organizations?external_id=t-1", "", 200, []string{`"organizations":[{"id":` + itoa(acme.ID)}},
			{"find none", "GET", "/api/v1/organizations?external_id=t-404", "", 200, []string{`"organizations":[]`}},
			{"find bad", "GET", "/api/v1/organizations?external_id=a%2Fb", "", 400, []string{`"external_id"`}},
			{"read", "GET", org1, "", 200, []string{`"name":"Acme"`, `"external_id":"t-1"`, `"billing_state":"none"`, `"member_count":1`, `"created_at":`}},
			{"read unknown", "GET", "/api/v1/organizations/999999", "", 404, nil},
			{"read non-id", "GET", "/api/v1/organizations/abc", "", 404, nil},
			{"members", "GET", org1 + "/members", "", 200, []string{`"email":"alice@example.com"`, `"role":"admin"`, `"invitations":[]`}},
			{"add existing user", "POST", org1 + "/members", `{"email":"bob@example.com","role":"developer"}`, 201, []string{`"status":"member"`, `"user_id":`}},
			{"add again", "POST", org1 + "/members", `{"email":"bob@example.com","role":"billing"}`, 409, nil},
			{"invite", "POST", org1 + "/members", `{"email":"carol@example.com","role":"billing"}`, 202, []string{`"status":"invited"`, `"invitation_expires_at":`}},
			{"add bad", "POST", org1 + "/members", `{"email":"carol","role":"owner"}`, 400, []string{`"email":`, `"role":`}},
			{"add to unknown", "POST", "/api/v1/organizations/999999/members", `{"email":"d@example.com","role":"billing"}`, 404, nil},
			{"members with invitation", "GET", org1 + "/members", "", 200, []string{`"invitations":[{"email":"carol@example.com","role":"billing"`}},
			{"promote by e-mail", "PATCH", org1 + "/members/bob@example.com", `{"role":"admin"}`, 200, []string{`"role":"admin"`}},
			{"demote alice", "PATCH", org1 + "/members/alice@example.com", `{"role":"developer"}`, 200, []string{`"role":"developer"`}},
			{"demote last admin", "PATCH", org1 + "/members/bob@example.com", `{"role":"billing"}`, 409, []string{"at least one admin"}},
			{"change nobody", "PATCH", org1 + "/members/nobody@example.com", `{"role":"billing"}`, 404, nil},
			{"bad role", "PATCH", org1 + "/members/bob@example.com", `{"role":"root"}`, 400, []string{`"role":`}},
			{"withdraw invitation", "DELETE", org1 + "/members/carol@example.com", "", 204, nil},
			{"remove last admin", "DELETE", org1 + "/members/bob@example.com", "", 409, nil},
			{"remove member", "DELETE", org1 + "/members/alice@example.com", "", 204, nil},
			{"remove again", "DELETE", org1 + "/members/alice@example.com", "", 404, nil},
			{"set external_id", "PUT", org1 + "/external_id", `{"external_id":"t-9"}`, 200, []string{`"external_id":"t-9"`}},
			{"take another's", "PUT", "/api/v1/organizations/" + itoa(beta.ID) + "/external_id", `{"external_id":"t-9"}`, 409, nil},
			{"set empty", "PUT", org1 + "/external_id", `{}`, 400, []string{`"external_id":`}},
			{"clear", "DELETE", org1 + "/external_id", "", 200, []string{`"external_id":null`}},
			{"find cleared", "GET", "/api/v1/organizations?external_id=t-9", "", 200, []string{`"organizations":[]`}},
		}
		for _, st := range steps {
			r := a.call(st.method, st.path, write, st.body)
			if r.status != st.want {
				t.Errorf("%s: %s %s = %d %s, want %d", st.name, st.method, st.path, r.status, r.body, st.want)
				continue
			}
			if r.status != http.StatusNoContent && (!json.Valid([]byte(r.body)) || r.header.Get("Content-Type") != "application/json") {
				t.Errorf("%s: not JSON: %q", st.name, r.body)
			}
			if r.status >= 400 && !strings.Contains(r.body, `"error":"`) {
				t.Errorf("%s: %s has no error", st.name, r.body)
			}
			for _, c := range st.contains {
				if !strings.Contains(r.body, c) {
					t.Errorf("%s: %s lacks %s", st.name, r.body, c)
				}
			}
		}
		// Every change is in the audit log under the token's name.
		var byToken, total int
		if err := db.Read().QueryRow(`SELECT COUNT(*), SUM(CASE WHEN actor_name = $2 THEN 1 ELSE 0 END) FROM audit_log WHERE org_id = $1`,
			acme.ID, tok.Actor()).Scan(&total, &byToken); err != nil {
			t.Fatal(err)
		}
		// create, member.add x2, invite, role x2, invite.revoke, remove, external_id x2
		if byToken != 10 || total != 10 {
			t.Errorf("audit log of Acme: %d entries, %d by %s; want 10, all by the token", total, byToken, tok.Actor())
		}
	})
}

// Who reaches what: a token of one scope, or an organization's key,
// reaches nothing else (#12).
func TestVendorAPI_Authorization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, write := a.serviceToken("crm", org.ScopeWrite)
		_, read := a.serviceToken("reports", org.ScopeRead)
		revokedTok, revoked := a.serviceToken("old", org.ScopeWrite)
		if _, err := a.orgs.RevokeToken(context.Background(), revokedTok.ID); err != nil {
			t.Fatal(err)
		}
		b := a.signUp("owner@example.com")
		mine := b.createOrg("Mine")
		key := b.createKey(mine)
		other := a.signUp("other@example.com").createOrg("Other")
		mineAPI := "/api/v1/organizations/" + strings.Trim(strings.TrimPrefix(mine, "/orgs/"), "/")
		otherAPI := "/api/v1/organizations/" + strings.Trim(strings.TrimPrefix(other, "/orgs/"), "/")
		created := `{"external_id":"t-1","name":"N","admin_email":"owner@example.com"}`
		member := `{"email":"x@example.com","role":"developer"}`
		for _, tc := range []struct {
			who, cred, method, path, body string
			want                          int
		}{
			{"nobody", "", "GET", "/api/v1/organizations", "", 401},
			{"nobody", "", "GET", mineAPI, "", 401},
			{"made-up token", "mbt_" + strings.Repeat("x", 43), "GET", "/api/v1/organizations", "", 401},
			{"made-up token", "mbt_" + strings.Repeat("x", 43), "GET", mineAPI, "", 401},
			{"made-up key", "mbk_" + strings.Repeat("x", 43), "GET", mineAPI, "", 401},
			{"garbage", "hello", "GET", "/api/v1/organizations", "", 401},
			{"revoked token", revoked, "GET", "/api/v1/organizations", "", 401},
			{"revoked token", revoked, "POST", mineAPI + "/members", member, 401},

			{"read token", read, "GET", "/api/v1/organizations", "", 200},
			{"read token", read, "GET", "/api/v1/organizations?external_id=t-1", "", 200},
			{"read token", read, "GET", mineAPI, "", 200},
			{"read token", read, "GET", otherAPI + "/members", "", 200},
			{"read token", read, "GET", otherAPI + "/billing", "", 200},
			{"read token", read, "POST", "/api/v1/organizations", created, 403},
			{"read token", read, "POST", mineAPI + "/members", member, 403},
			{"read token", read, "PATCH", mineAPI + "/members/owner@example.com", `{"role":"billing"}`, 403},
			{"read token", read, "DELETE", mineAPI + "/members/owner@example.com", "", 403},
			{"read token", read, "PUT", mineAPI + "/external_id", `{"external_id":"t-2"}`, 403},
			{"read token", read, "DELETE", mineAPI + "/external_id", "", 403},

			{"org key", key, "GET", mineAPI, "", 200},
			{"org key", key, "GET", mineAPI + "/members", "", 200},
			{"org key", key, "GET", mineAPI + "/billing", "", 200},
			{"org key", key, "GET", "/api/v1/organizations", "", 403},
			{"org key", key, "GET", "/api/v1/organizations?external_id=t-1", "", 403},
			{"org key", key, "POST", "/api/v1/organizations", created, 403},
			{"org key", key, "GET", otherAPI, "", 404},
			{"org key", key, "GET", otherAPI + "/members", "", 404},
			{"org key", key, "POST", otherAPI + "/members", member, 404},
			{"org key", key, "POST", mineAPI + "/members", member, 403},
			{"org key", key, "PUT", mineAPI + "/external_id", `{"external_id":"t-2"}`, 403},

			{"write token", write, "GET", otherAPI + "/billing", "", 200},
			{"write token", write, "PUT", otherAPI + "/external_id", `{"external_id":"t-2"}`, 200},
			{"write token", write, "POST", "/api/v1/organizations", created, 201},
		} {
			r := a.call(tc.method, tc.path, tc.cred, tc.body)
			if r.status != tc.want {
				t.Errorf("%s: %s %s = %d %s, want %d", tc.who, tc.method, tc.path, r.status, r.body, tc.want)
			}
			if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", tc.who)
			}
		}
		// A session cookie is no API credential.
		if r := b.get("/api/v1/organizations"); r.status != http.StatusUnauthorized {
			t.Errorf("list with a session cookie = %d, want 401", r.status)
		}
		// The database never holds a token, only its hash.
		for _, tok := range []string{write, read, revoked} {
			var n int
			if err := db.Read().QueryRow(`SELECT COUNT(*) FROM service_tokens WHERE secret_hash = $1 OR prefix = $1 OR name = $1`, tok).Scan(&n); err != nil || n != 0 {
				t.Errorf("a token is stored as it is (%d rows, %v)", n, err)
			}
		}
	})
}

// Cursor pagination returns each organization exactly once, in id order,
// over more organizations than one page, with or without a billing state
// filter; a bad limit or cursor is refused with every error at once.
func TestVendorAPI_CursorPaginationEachOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, write := a.serviceToken("crm", org.ScopeWrite)
		_, agreement := a.subscribe(market.DemoPAYGCode)
		_, billing := a.linkNewOrg("payer@example.com", agreement, "Paying")
		paying := strings.Split(billing, "/")[2]
		var all []string
		for i := range 7 {
			o := decode[apiOrg](t, a.call("POST", "/api/v1/organizations", write,
				`{"external_id":"p-`+itoa(int64(i))+`","name":"P","admin_email":"payer@example.com"}`))
			all = append(all, itoa(o.ID))
		}
		all = append([]string{paying}, all...)
		walk := func(query string) []string {
			var seen []string
			cursor := ""
			for pages := 0; ; pages++ {
				q := query
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				r := a.call("GET", "/api/v1/organizations?"+q, write, "")
				page := decode[struct {
					Organizations []apiOrg `json:"organizations"`
					NextCursor    string   `json:"next_cursor"`
				}](t, r)
				if r.status != http.StatusOK || pages > 20 {
					t.Fatalf("GET ?%s = %d %s", q, r.status, r.body)
				}
				for _, o := range page.Organizations {
					seen = append(seen, itoa(o.ID))
				}
				if cursor = page.NextCursor; cursor == "" {
					return seen
				}
			}
		}
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"limit=3", all},
			{"limit=1", all},
			{"limit=200", all},
			{"", all},
			{"limit=2&billing_state=none", all[1:]},
			{"limit=2&billing_state=active", []string{paying}},
			{"billing_state=grace", nil},
		} {
			if got := walk(tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("pages of ?%s = %v, want %v", tc.query, got, tc.want)
			}
		}
		r := a.call("GET", "/api/v1/organizations?limit=0&billing_state=gone&cursor=!!", write, "")
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"limit"`) || !strings.Contains(r.body, `"billing_state"`) || !strings.Contains(r.body, `"cursor"`) {
			t.Errorf("bad query = %d %s, want 400 naming limit, billing_state and cursor", r.status, r.body)
		}
		for _, q := range []string{"limit=201", "limit=x", "cursor=bzE6LTE", "cursor=" + strings.Repeat("A", 100)} {
			if r := a.call("GET", "/api/v1/organizations?"+q, write, ""); r.status != http.StatusBadRequest {
				t.Errorf("?%s = %d, want 400", q, r.status)
			}
		}
	})
}

var newTokenRE = regexp.MustCompile(`id="new-token">\s*(mbt_[A-Za-z0-9_-]+)`)

// Operators create service tokens in the operator view, see each once,
// and revoke them; nobody else sees the page (#12).
func TestOperatorView_ServiceTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		ops := a.signUp("ops@example.com")
		if r := a.signUp("someone@example.com").get("/operator/tokens"); r.status != http.StatusNotFound {
			t.Fatalf("tokens page for a non-operator = %d, want 404", r.status)
		}
		if r := ops.post("/operator/tokens", url.Values{"name": {""}, "scope": {"root"}}); r.status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.body, `id="e-scope"`) || !strings.Contains(r.body, `id="e-name"`) {
			t.Fatalf("bad form = %d, want 422 with both errors", r.status)
		}
		r := ops.post("/operator/tokens", url.Values{"name": {"product back end"}, "scope": {"read"}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("create = %d %s", r.status, r.body)
		}
		page := ops.get(r.location)
		m := newTokenRE.FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("the page after creating a token does not show it: %s", page.body)
		}
		if again := ops.get(r.location); newTokenRE.MatchString(again.body) || !strings.Contains(again.body, `id="token-not-shown"`) {
			t.Errorf("a reload shows the token again")
		}
		if r := a.call("GET", "/api/v1/organizations", m[1], ""); r.status != http.StatusOK {
			t.Fatalf("the new token on the API = %d %s", r.status, r.body)
		}
		if r := a.call("POST", "/api/v1/organizations", m[1], `{"external_id":"x","name":"X","admin_email":"ops@example.com"}`); r.status != http.StatusForbidden {
			t.Errorf("the read token creating = %d, want 403", r.status)
		}
		var createdBy int64
		var id int64
		if err := db.Read().QueryRow(`SELECT id, created_by FROM service_tokens`).Scan(&id, &createdBy); err != nil || createdBy == 0 {
			t.Fatalf("created_by = %d, %v; want the operator", createdBy, err)
		}
		if r := ops.post("/operator/tokens/"+itoa(id)+"/revoke", nil); r.status != http.StatusSeeOther {
			t.Fatalf("revoke = %d", r.status)
		}
		if r := a.call("GET", "/api/v1/organizations", m[1], ""); r.status != http.StatusUnauthorized {
			t.Errorf("the revoked token = %d, want 401", r.status)
		}
		if list := ops.get("/operator/tokens"); !strings.Contains(list.body, "Revoked") || strings.Contains(list.body, m[1]) {
			t.Errorf("the list after revocation lacks the revocation or shows the token")
		}
	})
}

// Nobody can become the vendor API's own user (migration 0024): not by
// password, not by a reset link, which the demo's public mailbox would show
// anyone, and not by signing up again with its address.
func TestVendorAPIUser_NoWayIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b := a.browser()
		if r := b.post("/forgot-password", url.Values{"email": {org.VendorAPIEmail}}); r.status != http.StatusSeeOther {
			t.Fatalf("ask for a reset = %d", r.status)
		}
		if n := a.mailCount(org.VendorAPIEmail); n != 0 {
			t.Errorf("a reset of the vendor API's user mailed %d messages, want none", n)
		}
		for _, password := range []string{"", "correct horse battery staple"} {
			r := b.post("/login", url.Values{"email": {org.VendorAPIEmail}, "password": {password}})
			if b.cookie("mb_session") != "" || r.status == http.StatusSeeOther {
				t.Errorf("log-in as the vendor API's user with %q = %d → %q, session %q", password, r.status, r.location, b.cookie("mb_session"))
			}
		}
		var hash string
		if err := db.Read().QueryRow(`SELECT password_hash FROM users WHERE email = $1`, org.VendorAPIEmail).Scan(&hash); err != nil || hash != "" {
			t.Errorf("the vendor API's user has password hash %q (%v), want none", hash, err)
		}
	})
}
