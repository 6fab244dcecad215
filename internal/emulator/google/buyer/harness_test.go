package buyer

import (
	"bytes"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// testNonce is the CSRF nonce the test browser holds.
const testNonce = "0123456789abcdef0123456789abcdef"

// fixture is the fake market and the pages mounted at prefix the way the
// house mounts them.
type fixture struct {
	m     *fakeMarket
	pages *Pages
	h     http.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := newFakeMarket()
	p, err := New(Config{Market: m, Prefix: prefix, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 1<<12))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, p.Handler()))
	return &fixture{m: m, pages: p, h: mux}
}

// req is one browser request: signed in with billing (none: signed out),
// a form for a POST (which gets this browser's CSRF token unless noCSRF),
// and extra headers.
type req struct {
	method, path string
	billing      string
	form         url.Values
	noCSRF       bool
	header       http.Header
}

func (f *fixture) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	body := ""
	if r.form != nil {
		form := url.Values{}
		for k, v := range r.form {
			form[k] = v
		}
		if !r.noCSRF && r.method == http.MethodPost && !form.Has(csrfField) {
			form.Set(csrfField, csrfToken(f.pages.csrfKey, testNonce))
		}
		body = form.Encode()
	}
	hr := httptest.NewRequest(r.method, "http://127.0.0.1:8090"+r.path, strings.NewReader(body))
	if r.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	hr.AddCookie(&http.Cookie{Name: csrfCookie, Value: testNonce})
	if r.billing != "" {
		hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: session{BillingAccount: r.billing, Email: buyerEmail}.encode()})
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, hr)
	return w
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// checkPage fails unless the answer has status and every fragment, and no
// trace of Go internals.
func checkPage(t *testing.T, w *httptest.ResponseRecorder, status int, fragments ...string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body:\n%s", w.Code, status, w.Body)
	}
	body := w.Body.String()
	if ct := w.Header().Get("Content-Type"); status != http.StatusSeeOther && !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	for _, bad := range []string{"goroutine ", "panic:", ".go:", "runtime error"} {
		if strings.Contains(body, bad) {
			t.Errorf("page shows %q:\n%s", bad, body)
		}
	}
	for _, want := range fragments {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
}

var (
	formRE   = regexp.MustCompile(`(?s)<form id="handoff"[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// handoffForm is the auto-submitting form of a hand-off page: its action
// and its hidden fields, unescaped as a browser reads them.
func handoffForm(t *testing.T, body string) (string, url.Values) {
	t.Helper()
	m := formRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no hand-off form:\n%s", body)
	}
	fields := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
		fields.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), fields
}
