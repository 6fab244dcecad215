package azuremp

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConfig_Validate: every missing or invalid field is reported at once;
// https is required but for loopback hosts.
func TestConfig_Validate(t *testing.T) {
	good := Config{TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error, all of them
	}{
		{"production defaults", func(*Config) {}, nil},
		{"a domain tenant", func(c *Config) { c.TenantID = "contoso.onmicrosoft.com" }, nil},
		{"the emulator over https", func(c *Config) {
			c.BaseURL, c.AuthorityHost = "https://127.0.0.1:8081/azure/api", "https://127.0.0.1:8081/entra/"
		}, nil},
		{"loopback over http", func(c *Config) { c.BaseURL, c.AuthorityHost = "http://localhost:8081/api/", "http://[::1]:8081/entra" }, nil},
		{"everything missing", func(c *Config) { *c = Config{} }, []string{"tenant id: required", "client id: required", "client secret: required"}},
		{"http elsewhere", func(c *Config) {
			c.BaseURL, c.AuthorityHost = "http://marketplaceapi.microsoft.com/api", "http://10.0.0.1/"
		},
			[]string{"azure API URL", "azure authority host", "https is required"}},
		{"not absolute", func(c *Config) { c.BaseURL = "marketplaceapi.microsoft.com/api" }, []string{"want an absolute https URL"}},
		{"a query", func(c *Config) { c.AuthorityHost = "https://login.microsoftonline.com/?x=1" }, []string{"want no user, query or fragment"}},
		{"credentials in the URL", func(c *Config) { c.BaseURL = "https://u:p@marketplaceapi.microsoft.com/api" }, []string{"want no user"}},
		{"a tenant that leaves its path segment", func(c *Config) { c.TenantID = "../common" }, []string{"want a GUID or a domain name"}},
		{"a client id with a space", func(c *Config) { c.ClientID = "a b" }, []string{"spaces"}},
		{"negative bounds", func(c *Config) { c.AttemptTimeout, c.MaxAttempts, c.MaxRetryAfter = -1, -1, -1 },
			[]string{"attempt timeout", "max attempts", "Retry-After"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := New(c); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

// TestConfig_URLs: the token, key and issuer URLs Entra uses, from the
// authority host with or without its final '/'.
func TestConfig_URLs(t *testing.T) {
	c := Config{TenantID: testTenant}
	if got, want := c.TokenURL(), "https://login.microsoftonline.com/"+testTenant+"/oauth2/v2.0/token"; got != want {
		t.Errorf("TokenURL %s, want %s", got, want)
	}
	c.AuthorityHost = "https://127.0.0.1:8081/entra"
	if got, want := c.KeysURL(), "https://127.0.0.1:8081/entra/"+testTenant+"/discovery/v2.0/keys"; got != want {
		t.Errorf("KeysURL %s, want %s", got, want)
	}
	want := []string{"https://sts.windows.net/" + testTenant + "/", "https://127.0.0.1:8081/entra/" + testTenant + "/v2.0"}
	if got := c.Issuers(); got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Issuers %v, want %v", got, want)
	}
}

// TestToken_CachedAndRefreshed: one client-credentials request serves
// calls until five minutes before expiry; a refused token is dropped.
func TestToken_CachedAndRefreshed(t *testing.T) {
	f, c, _, clk := newFake(t, reply(200, sample(t, "subscription.json")))
	get := func() {
		t.Helper()
		if _, err := c.Subscription(ctx, testSubID); err != nil {
			t.Fatal(err)
		}
	}
	get()
	get()
	clk.Advance(50 * time.Minute)
	get()
	if len(f.tokenForms) != 1 {
		t.Fatalf("%d token requests within the token's life, want 1", len(f.tokenForms))
	}
	form := f.tokenForms[0]
	for k, v := range map[string]string{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testSecret,
		"scope": "20e940b3-4c77-4b0b-9a53-9e16a1b010a7/.default"} {
		if form[k] != v {
			t.Errorf("token request %s=%q, want %q", k, form[k], v)
		}
	}
	clk.Advance(5 * time.Minute) // 55 min: within 5 min of expiry
	get()
	if len(f.tokenForms) != 2 {
		t.Fatalf("%d token requests, want a refresh", len(f.tokenForms))
	}
	f.setAPI(reply(403, nil))
	if _, err := c.Subscription(ctx, testSubID); !errors.Is(err, ErrForbidden) {
		t.Fatalf("%v, want ErrForbidden", err)
	}
	f.setAPI(reply(200, sample(t, "subscription.json")))
	get()
	if len(f.tokenForms) != 3 {
		t.Errorf("%d token requests, want a new token after a 403", len(f.tokenForms))
	}
	reqs := f.seen()
	if got := reqs[len(reqs)-1].Header.Get("Authorization"); got != "Bearer token-3" {
		t.Errorf("sent %q, want the new token", got)
	}
}

// TestToken_EntraRefuses: a wrong secret is ErrForbidden with Entra's
// code, and nothing reaches the API.
func TestToken_EntraRefuses(t *testing.T) {
	f, c, _, _ := newFake(t, reply(200, nil))
	f.tokenStatus = http.StatusUnauthorized
	err := c.Activate(ctx, testSubID, "gold", Seats{})
	var ae *APIError
	if !errors.Is(err, ErrForbidden) || !errors.As(err, &ae) || ae.Code != "invalid_client" || !strings.Contains(ae.Message, "AADSTS7000215") {
		t.Fatalf("%v, want ErrForbidden with Entra's code", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("the secret is in the error: %v", err)
	}
	if len(f.seen()) != 0 {
		t.Errorf("the API was called without a token")
	}
}

// TestOutbound_OnlyConfiguredHosts: whatever a caller or an answer points
// at, requests go to the API's and the authority's origins only, and
// redirects are not followed.
func TestOutbound_OnlyConfiguredHosts(t *testing.T) {
	f, c, _, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://evil.example/steal", http.StatusTemporaryRedirect)
	})
	if _, err := c.Subscription(ctx, testSubID); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("redirect: %v, want it refused", err)
	}
	guard := c.http.Transport.(hostGuard)
	for _, u := range []string{"https://evil.example/api", "http://" + strings.TrimPrefix(f.srv.URL, "https://") + "/api", "https://127.0.0.1:1/"} {
		req := &http.Request{Method: "GET", URL: mustParse(t, u), Header: http.Header{}}
		if _, err := guard.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refused request") {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
