package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/oidc"
	"github.com/marketbridge/marketbridge/internal/secret"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// FuzzOIDCCallback sends anything to the sign-in callback, with any state
// cookie: the console never fails with a 5xx and never opens a session for
// a state it did not hand out.
func FuzzOIDCCallback(f *testing.F) {
	for _, seed := range [][2]string{
		{"code=abc&state=xyz", "xyz"},
		{"code=abc&state=xyz", ""},
		{"error=access_denied&state=xyz", "xyz"},
		{"state=xyz", "xyz"},
		{"", ""},
		{"code=%zz&state=%", "%"},
		{"state=" + strings.Repeat("a", 300) + "&code=c", strings.Repeat("a", 300)},
		{"code=c&state=s&state=t", "t"},
	} {
		f.Add(seed[0], seed[1])
	}
	forger := startForger(f)
	a := newApp(f, storetest.Open(f, "sqlite"), withOIDC(f, forger.srv.URL, forgerClient, "secret"))
	forger.mint = func(fg *tokenForger, nonce string) string { return fg.sign(fg.published, fg.claims(nonce)) }
	h := a.srv.Config.Handler
	f.Fuzz(func(t *testing.T, query, cookie string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery = oidc.CallbackPath, query
		if cookie != "" {
			// Under the name a browser given the query's state holds it.
			state := req.URL.Query().Get("state")
			req.Header.Set("Cookie", "mb_oidc_"+secret.Hash(state)[:16]+"="+cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("callback ?%q with cookie %q: %d %.300s", query, cookie, rec.Code, rec.Body.String())
		}
		for _, c := range rec.Result().Cookies() {
			if c.Name == "mb_session" && c.Value != "" {
				t.Fatalf("callback ?%q with cookie %q opened a session", query, cookie)
			}
		}
	})
}
