package web_test

import (
	"net/http"
	"testing"

	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// A member named in the path by something no address or user id can be (a
// NUL byte, bytes that are not UTF-8, control characters, a huge number)
// is no member: 404 on both engines, never a 500 from PostgreSQL refusing
// the text (#12).
func TestVendorAPI_MemberRefNoAddressCanBe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, write := a.serviceToken("crm", org.ScopeWrite)
		a.signUp("alice@example.com")
		o := decode[apiOrg](t, a.call("POST", "/api/v1/organizations", write, `{"external_id":"t-1","name":"Acme","admin_email":"alice@example.com"}`))
		members := "/api/v1/organizations/" + itoa(o.ID) + "/members/"
		for _, ref := range []string{"%00", "a%00@example.com", "%FF%FE@example.com", "%C3", "a%0D%0A@example.com", "99999999999999999999"} {
			for _, tc := range []struct{ method, body string }{{"PATCH", `{"role":"billing"}`}, {"DELETE", ""}} {
				if r := a.call(tc.method, members+ref, write, tc.body); r.status != http.StatusNotFound {
					t.Errorf("%s members/%s = %d %s, want 404", tc.method, ref, r.status, r.body)
				}
			}
		}
	})
}
