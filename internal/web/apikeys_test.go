package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

var newKeyRE = regexp.MustCompile(`id="new-key">\s*(mbk_[A-Za-z0-9_-]+)`)

// postKey posts the new-key form with headers (none: a plain HTTP client
// such as curl, holding the session cookie) and, when the server creates
// the key, returns it from the page the creation redirects to.
func (b *browser) postKey(path, name string, headers map[string]string) (response, string) {
	b.a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.a.srv.URL+path+"api-keys", strings.NewReader(url.Values{"name": {name}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	r := b.do(req)
	if r.status != http.StatusSeeOther {
		return r, ""
	}
	m := newKeyRE.FindStringSubmatch(b.get(r.location).body)
	if m == nil {
		b.a.t.Fatalf("the page after creating a key does not show it")
	}
	return r, m[1]
}

// apiStatus is the status of a billing API call with key.
func (a *app) apiStatus(orgID, key string) int {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/api/v1/organizations/"+orgID+"/billing", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (a *app) keyCount(orgID string) int {
	a.t.Helper()
	var n int
	if err := a.db.Read().QueryRow(`SELECT COUNT(*) FROM api_keys WHERE org_id = $1`, orgID).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// An API key is made over plain HTTP, outside any browser: the server's
// cross-origin protection lets a request that carries no browser headers
// through (it cannot have been sent by another site's page), as it does a
// same-origin browser's, and refuses a cross-site one. A key made works
// with the API, and only its hash is stored.
func TestAPIKeys_CreateOverPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers func(srv string) map[string]string
		created bool
	}{
		{"no browser headers, as curl sends", func(string) map[string]string { return nil }, true},
		{"same-origin browser", func(srv string) map[string]string {
			return map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv}
		}, true},
		{"Origin of this site only", func(srv string) map[string]string { return map[string]string{"Origin": srv} }, true},
		{"cross-site by Sec-Fetch-Site", func(string) map[string]string { return map[string]string{"Sec-Fetch-Site": "cross-site"} }, false},
		{"another site's Origin", func(string) map[string]string { return map[string]string{"Origin": "https://evil.example"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				a := newApp(t, db)
				admin := a.signUp("keys@example.com")
				path := admin.createOrg("Acme")
				orgID := strings.Trim(strings.TrimPrefix(path, "/orgs/"), "/")
				r, key := admin.postKey(path, "ingest", tc.headers(a.srv.URL))
				if !tc.created {
					if r.status != http.StatusForbidden || a.keyCount(orgID) != 0 {
						t.Fatalf("cross-site creation = %d with %d keys stored, want 403 and none", r.status, a.keyCount(orgID))
					}
					return
				}
				if r.status != http.StatusSeeOther || key == "" || a.keyCount(orgID) != 1 {
					t.Fatalf("creation = %d → %q, key %q, %d keys stored; want one key shown once", r.status, r.location, key, a.keyCount(orgID))
				}
				var stored int
				if err := db.Read().QueryRow(`SELECT COUNT(*) FROM api_keys WHERE secret_hash = $1`, key).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if stored != 0 {
					t.Fatal("the key itself is stored; only its hash may be")
				}
				if s := a.apiStatus(orgID, key); s != http.StatusOK {
					t.Fatalf("the new key with the API = %d, want 200", s)
				}
				if actions := a.auditActions(orgID); actions[0] != "apikey.create" {
					t.Fatalf("audit log = %v, want apikey.create on top", actions)
				}
			})
		})
	}
}

// An admin revokes a key: the API refuses it from then on, and the audit
// log says so. A developer or billing member may not, and the key keeps
// working.
func TestAPIKeys_AdminRevokes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		tm := a.team()
		_, key := tm.admin.postKey(tm.path, "ingest", nil)
		var id int64
		if err := db.Read().QueryRow(`SELECT id FROM api_keys WHERE org_id = $1`, tm.orgID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		revoked := func() bool { return a.revoked("api_keys", id) }
		revoke := tm.path + "api-keys/" + itoa(id) + "/revoke"
		tm.nonAdminsRefused(revoke)
		if revoked() || a.apiStatus(tm.orgID, key) != http.StatusOK {
			t.Fatal("a refused revoke disabled the key")
		}
		r := tm.admin.post(revoke, nil)
		if r.status != http.StatusSeeOther || pathOf(r.location) != tm.path+"api-keys" {
			t.Fatalf("revoke by the admin = %d → %q", r.status, r.location)
		}
		if !revoked() {
			t.Fatal("the key is not marked revoked")
		}
		if s := a.apiStatus(tm.orgID, key); s != http.StatusUnauthorized {
			t.Fatalf("the revoked key with the API = %d, want 401", s)
		}
		if page := tm.admin.get(r.location); !strings.Contains(page.body, "Key revoked.") {
			t.Fatal("the key list does not say the key was revoked")
		}
		if r := tm.admin.post(revoke, nil); r.status != http.StatusNotFound {
			t.Fatalf("revoking it again = %d, want 404", r.status)
		}
		if actions := a.auditActions(tm.orgID); actions[0] != "apikey.revoke" {
			t.Fatalf("audit log = %v, want apikey.revoke on top", actions)
		}
	})
}

var (
	rowRE = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	tagRE = regexp.MustCompile(`<[^>]*>`)
	wsRE  = regexp.MustCompile(`\s+`)
)

// auditRows are the cells of each row of the audit page's table body, as
// the text a person reads.
func auditRows(body string) [][]string {
	var rows [][]string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[1], "<th") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(m[1], "</td>") {
			if text := strings.TrimSpace(wsRE.ReplaceAllString(tagRE.ReplaceAllString(c, ""), " ")); text != "" {
				cells = append(cells, html.UnescapeString(text))
			}
		}
		rows = append(rows, cells)
	}
	return rows
}

// The audit page shows what the actions of the console wrote, newest
// first, each with who did it and the detail; only admins see it.
func TestAudit_PageShowsTheActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		tm := a.team()
		if r := tm.admin.post(tm.path+"members/"+itoa(tm.devID)+"/role", url.Values{"role": {"billing"}}); r.status != http.StatusSeeOther {
			t.Fatalf("change role = %d", r.status)
		}
		tm.admin.postKey(tm.path, "ingest", nil)
		var keyID int64
		var prefix string
		if err := db.Read().QueryRow(`SELECT id, prefix FROM api_keys WHERE org_id = $1`, tm.orgID).Scan(&keyID, &prefix); err != nil {
			t.Fatal(err)
		}
		tm.admin.post(tm.path+"api-keys/"+itoa(keyID)+"/revoke", nil)
		tm.admin.post(tm.path+"members/invite", url.Values{"email": {"late@example.com"}, "role": {"admin"}})
		var invID int64
		if err := db.Read().QueryRow(`SELECT id FROM invitations WHERE email = 'late@example.com'`).Scan(&invID); err != nil {
			t.Fatal(err)
		}
		tm.admin.post(tm.path+"invitations/"+itoa(invID)+"/revoke", nil)
		tm.admin.post(tm.path+"members/"+itoa(tm.bilID)+"/remove", nil)
		tm.dev.post(tm.path+"members/"+itoa(tm.devID)+"/remove", nil) // leaves

		want := []struct{ actor, action, detail string }{
			{"dev@example.com", "member.remove", "user " + itoa(tm.devID) + " (billing)"},
			{"admin@example.com", "member.remove", "user " + itoa(tm.bilID) + " (billing)"},
			{"admin@example.com", "member.invite.revoke", "late@example.com"},
			{"admin@example.com", "member.invite", "late@example.com as admin"},
			{"admin@example.com", "apikey.revoke", "ingest"},
			{"admin@example.com", "apikey.create", "ingest (" + prefix + "…)"},
			{"admin@example.com", "member.role", "user " + itoa(tm.devID) + ": developer → billing"},
			{"bill@example.com", "member.join", "bill@example.com as billing"},
			{"admin@example.com", "member.invite", "bill@example.com as billing"},
			{"dev@example.com", "member.join", "dev@example.com as developer"},
			{"admin@example.com", "member.invite", "dev@example.com as developer"},
			{"admin@example.com", "organization.create", "Acme"},
		}
		if got := a.auditActions(tm.orgID); len(got) != len(want) {
			t.Fatalf("audit log holds %v, want %d entries", got, len(want))
		}
		page := tm.admin.get(tm.path + "audit")
		if page.status != http.StatusOK {
			t.Fatalf("audit page = %d", page.status)
		}
		rows := auditRows(page.body)
		if len(rows) != len(want) {
			t.Fatalf("audit page has %d rows, want %d: %q", len(rows), len(want), rows)
		}
		for i, w := range want {
			if cells := rows[i]; len(cells) != 4 || cells[1] != w.actor || cells[2] != w.action || cells[3] != w.detail {
				t.Errorf("row %d = %q, want [time %s %s %s]", i, cells, w.actor, w.action, w.detail)
			}
		}
		if r := tm.billing.get(tm.path + "audit"); r.status != http.StatusNotFound {
			// The billing member was removed above: not a member any more.
			t.Errorf("audit page for a removed member = %d, want 404", r.status)
		}
	})
}
