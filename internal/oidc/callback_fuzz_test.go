package oidc_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/oidc"
)

// FuzzParseCallback reads whatever anyone sends to the callback: it never
// panics, refuses with an invalid-input error rather than anything else,
// and what it accepts has a state, a code or an error, within bounds.
func FuzzParseCallback(f *testing.F) {
	for _, seed := range []string{
		"code=abc&state=xyz",
		"error=access_denied&error_description=The+user+cancelled&state=xyz",
		"state=xyz",
		"code=abc",
		"",
		"code=%zz&state=1",
		"state=a&state=b&code=c&code=d",
		"code=" + string(make([]byte, 5000)) + "&state=s",
		"iss=https%3A%2F%2Fidp.example&code=c&state=s&session_state=x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := oidc.ParseCallback(raw)
		if err != nil {
			if fault.KindOf(err) != fault.KindInvalid {
				t.Fatalf("ParseCallback(%q) = %v, of kind %v; want an invalid-input error", raw, err, fault.KindOf(err))
			}
			return
		}
		if c.State == "" || (c.Code == "" && c.Error == "") || len(c.State) > 256 || len(c.Code) > 4096 {
			t.Fatalf("ParseCallback(%q) accepted %+v", raw, c)
		}
		q, err := url.ParseQuery(raw)
		if err != nil || q.Get("state") != c.State || q.Get("code") != c.Code {
			t.Fatalf("ParseCallback(%q) = %+v, not what the query says (%v)", raw, c, err)
		}
	})
}

func TestCheckIssuer(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		ok     bool
	}{
		{"https://idp.example.com", true},
		{"https://login.microsoftonline.com/tenant/v2.0", true},
		{"http://127.0.0.1:9000", true},
		{"http://localhost:9000/realms/x", true},
		{"http://[::1]:9000", true},
		{"http://idp.example.com", false},
		{"http://10.0.0.5", false},
		{"ftp://idp.example.com", false},
		{"idp.example.com", false},
		{"https://", false},
		{"https://idp.example.com?x=1", false},
	} {
		if err := oidc.CheckIssuer(tc.issuer); (err == nil) != tc.ok {
			t.Errorf("CheckIssuer(%q) = %v, want ok %v", tc.issuer, err, tc.ok)
		}
	}
}

func TestSplitScopes_AlwaysAsksForOpenID(t *testing.T) {
	for in, want := range map[string]string{
		"openid email profile": "openid email profile",
		"email,profile":        "openid email profile",
		"":                     "openid",
		" groups  openid ":     "openid groups",
	} {
		got := oidc.SplitScopes(in)
		if s := strings.Join(got, " "); s != want {
			t.Errorf("SplitScopes(%q) = %q, want %q", in, s, want)
		}
	}
}
