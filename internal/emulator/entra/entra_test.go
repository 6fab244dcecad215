package entra

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // fragments of the error; none for a valid config
	}{
		{"minimal", Config{PublicURL: "https://127.0.0.1:8081/entra/"}, nil},
		{"no trailing slash, http", Config{PublicURL: "http://localhost:8081/entra"}, nil},
		{"v2 tokens", Config{PublicURL: "https://h/", APITokenVersion: TokenVersion2, WebhookTokenVersion: TokenVersion2}, nil},
		{"everything wrong", Config{PublicURL: "ftp://h/?x=1", APITokenVersion: "3.0", TokenLifetime: time.Second, ClockSkew: -1},
			[]string{"public URL", "API token version", "durations", "token lifetime"}},
		{"no public URL", Config{}, []string{"public URL is required"}},
		{"query in public URL", Config{PublicURL: "https://h/entra/?a=b"}, []string{"public URL"}},
		{"previous key shorter than a token", Config{PublicURL: "https://h/", TokenLifetime: 2 * time.Hour, PreviousKeyLifetime: time.Hour}, []string{"cut tokens still in flight"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRegisterApp(t *testing.T) {
	e := newEnv(t)
	hash := HashSecret("x")
	tests := []struct {
		name string
		app  App
		want string // fragment of the error; "" for success
	}{
		{"new app in a known tenant", App{TenantID: testTenant, ClientID: unknownGUID, SecretHash: hash}, ""},
		{"replacing the secret", App{TenantID: strings.ToUpper(testTenant), ClientID: testClient, SecretHash: HashSecret("new")}, ""},
		{"domain-named tenant", App{TenantID: "contoso.onmicrosoft.com", ClientID: "33333333-2222-4333-8444-555555555555", SecretHash: hash}, ""},
		{"client id taken in another tenant", App{TenantID: otherTenant, ClientID: testClient, SecretHash: hash}, "already registered in tenant"},
		{"the marketplace's own app", App{TenantID: testTenant, ClientID: MarketplaceAppID, SecretHash: hash}, "marketplace's own app"},
		{"common is no tenant", App{TenantID: "Common", ClientID: "44444444-2222-4333-8444-555555555555", SecretHash: hash}, "multi-tenant aliases"},
		{"slash in an id", App{TenantID: "a/b", ClientID: "c", SecretHash: hash}, "only letters"},
		{"a secret, not its hash", App{TenantID: testTenant, ClientID: "55555555-2222-4333-8444-555555555555", SecretHash: "plain"}, "secret hash"},
		{"nothing", App{}, "tenant id is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.s.RegisterApp(tt.app)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("RegisterApp = %v, want %q", err, tt.want)
			}
		})
	}
	apps := e.s.Apps()
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.TenantID+"/"+a.ClientID)
		if !isGUID(a.ObjectID) {
			t.Errorf("%s has object id %q, want a derived GUID", a.ClientID, a.ObjectID)
		}
	}
	want := []string{"72f988bf-86f1-41af-91ab-2d7cd011db47/00000000-0000-4000-8000-000000000000",
		"72f988bf-86f1-41af-91ab-2d7cd011db47/11111111-2222-4333-8444-555555555555",
		"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/99999999-8888-4777-8666-555555555555",
		"contoso.onmicrosoft.com/33333333-2222-4333-8444-555555555555"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("Apps() = %v, want %v", ids, want)
	}
	// The replaced secret is the one that works now.
	status, _, _ := e.post(t, "POST", testTenant+"/oauth2/v2.0/token", form,
		values("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret, "scope", MarketplaceScope), nil)
	if status != http.StatusUnauthorized {
		t.Errorf("old secret after replacement: %d, want 401", status)
	}
}

// The discovery documents hold what MSAL checks (issuer on the authority's
// host, authorization and token endpoints) and every URL on PublicURL.
func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (int, map[string]any) {
		resp, err := e.client.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, doc
	}
	root := e.base + testTenant
	tests := []struct {
		path string
		want map[string]string
	}{
		{strings.ToUpper(testTenant) + "/v2.0/.well-known/openid-configuration", map[string]string{
			"issuer": root + "/v2.0", "token_endpoint": root + "/oauth2/v2.0/token",
			"authorization_endpoint": root + "/oauth2/v2.0/authorize", "jwks_uri": root + "/discovery/v2.0/keys"}},
		{testTenant + "/.well-known/openid-configuration", map[string]string{
			"issuer": "https://sts.windows.net/" + testTenant + "/", "token_endpoint": root + "/oauth2/token",
			"authorization_endpoint": root + "/oauth2/authorize", "jwks_uri": root + "/discovery/keys"}},
	}
	for _, tt := range tests {
		status, doc := get(tt.path)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %v", tt.path, status, doc)
		}
		for k, v := range tt.want {
			if doc[k] != v {
				t.Errorf("%s: %s = %v, want %s", tt.path, k, doc[k], v)
			}
		}
		iss, _ := url.Parse(doc["issuer"].(string))
		if strings.HasPrefix(tt.path, strings.ToUpper(testTenant)) && iss.Host != e.srv.Listener.Addr().String() {
			t.Errorf("v2 issuer host %s, want the authority's", iss.Host)
		}
	}
	for _, path := range []string{unknownGUID + "/v2.0/.well-known/openid-configuration", unknownGUID + "/.well-known/openid-configuration"} {
		status, doc := get(path)
		if status != http.StatusBadRequest || doc["error"] != "invalid_tenant" || doc["error_codes"].([]any)[0] != float64(90002) {
			t.Errorf("%s: %d %v, want 400 invalid_tenant 90002", path, status, doc)
		}
	}
	status, doc := get(testTenant + "/oauth2/v2.0/authorize?client_id=x")
	if status != http.StatusBadRequest || !strings.Contains(doc["error_description"].(string), "not modelled") {
		t.Errorf("authorize: %d %v, want a 400 saying it is not modelled", status, doc)
	}
}
