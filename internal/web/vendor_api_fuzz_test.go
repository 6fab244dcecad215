package web_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// FuzzVendorAPIBodies sends any body to every vendor API endpoint that
// takes one, on SQLite and, when the tests have one, PostgreSQL: whatever
// the body, the answer is never a 5xx, an error is JSON with a message,
// and a create that succeeds made the organization it names.
func FuzzVendorAPIBodies(f *testing.F) {
	for _, s := range []string{`{"external_id":"t-1","name":"Acme","admin_email":"a@example.com"}`, `{"email":"b@example.com","role":"admin"}`,
		`{"role":"billing"}`, `{"external_id":"t-2"}`, `{}`, `[]`, `null`, `{"external_id":1}`, `{"name":"\u0000","external_id":"x","admin_email":"a@b.c"}`,
		`{"external_id":"` + strings.Repeat("a", 129) + `","name":"N","admin_email":"n@example.com"}`, `{"email":"A@EXAMPLE.COM","role":"developer"}`} {
		f.Add([]byte(s))
	}
	type target struct {
		a      *app
		token  string
		orgAPI string
	}
	var targets []target
	engines := []string{"sqlite"}
	if os.Getenv(storetest.PostgresURLEnv) != "" {
		engines = append(engines, "postgres")
	}
	for _, engine := range engines {
		a := newApp(f, storetest.Open(f, engine))
		_, tok := a.serviceToken("fuzz", org.ScopeWrite)
		a.signUp("a@example.com")
		o := decode[apiOrg](f, a.call("POST", "/api/v1/organizations", tok, `{"external_id":"seed","name":"Seed","admin_email":"a@example.com"}`))
		targets = append(targets, target{a: a, token: tok, orgAPI: "/api/v1/organizations/" + itoa(o.ID)})
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tg := range targets {
			for _, ep := range []struct{ method, path string }{
				{"POST", "/api/v1/organizations"},
				{"POST", tg.orgAPI + "/members"},
				{"PATCH", tg.orgAPI + "/members/a@example.com"},
				{"PUT", tg.orgAPI + "/external_id"},
			} {
				r := tg.a.callT(t, ep.method, ep.path, tg.token, string(body))
				if r.status >= 500 {
					t.Fatalf("%s %s %q = %d %s", ep.method, ep.path, body, r.status, r.body)
				}
				if r.status >= 400 && !strings.Contains(r.body, `"error":"`) {
					t.Fatalf("%s %s %q = %d without an error message: %s", ep.method, ep.path, body, r.status, r.body)
				}
				if ep.path == "/api/v1/organizations" && (r.status == http.StatusCreated || r.status == http.StatusOK) {
					o := decode[apiOrg](t, r)
					if o.ExternalID == nil {
						t.Fatalf("create answered %d without external_id: %s", r.status, r.body)
					}
					if found := tg.a.callT(t, "GET", "/api/v1/organizations?external_id="+*o.ExternalID, tg.token, ""); !strings.Contains(found.body, `"id":`+itoa(o.ID)) {
						t.Fatalf("created %s, then not found: %s", r.body, found.body)
					}
				}
			}
		}
	})
}
