package entra

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// post sends a token request and decodes the JSON answer.
func (e *env) post(t *testing.T, method, path, contentType, body string, header http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, out
}

const form = "application/x-www-form-urlencoded"

func values(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func basic(user, pass string) http.Header {
	cred := url.QueryEscape(user) + ":" + url.QueryEscape(pass)
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(cred))}}
}

func TestTokenEndpoint_ErrorShapes(t *testing.T) {
	e := newEnv(t)
	v2 := testTenant + "/oauth2/v2.0/token"
	v1 := testTenant + "/oauth2/token"
	good := []string{"grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret}
	with := func(extra ...string) string { return values(append(append([]string{}, good...), extra...)...) }
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		header      http.Header
		status      int
		code        string
		aadsts      float64
	}{
		{"GET is refused", http.MethodGet, v2, "", "", nil, 400, "invalid_request", 900561},
		{"unknown tenant", "POST", unknownGUID + "/oauth2/v2.0/token", form, with("scope", MarketplaceScope), nil, 400, "invalid_request", 90002},
		{"unknown tenant v1", "POST", unknownGUID + "/oauth2/token", form, with("resource", MarketplaceAppID), nil, 400, "invalid_request", 90002},
		{"malformed tenant", "POST", "no%20such/oauth2/v2.0/token", form, with("scope", MarketplaceScope), nil, 400, "invalid_tenant", 900023},
		{"common tenant", "POST", "common/oauth2/v2.0/token", form, with("scope", MarketplaceScope), nil, 400, "invalid_request", 50059},
		{"missing grant_type", "POST", v2, form, values("client_id", testClient, "client_secret", testSecret, "scope", MarketplaceScope), nil, 400, "invalid_request", 900144},
		{"JSON body reads as empty", "POST", v2, "application/json", `{"grant_type":"client_credentials"}`, nil, 400, "invalid_request", 900144},
		{"other grant", "POST", v2, form, values("grant_type", "password", "client_id", testClient, "scope", MarketplaceScope), nil, 400, "unsupported_grant_type", 70003},
		{"client assertion", "POST", v2, form, values("grant_type", "client_credentials", "client_id", testClient, "client_assertion", "x.y.z", "scope", MarketplaceScope), nil, 400, "invalid_request", 90023},
		{"repeated parameter", "POST", v2, form, with("scope", MarketplaceScope, "client_id", testClient), nil, 400, "invalid_request", 90023},
		{"bad form encoding", "POST", v2, form, "grant_type=client_credentials&scope=%zz", nil, 400, "invalid_request", 90023},
		{"missing client_id", "POST", v2, form, values("grant_type", "client_credentials", "client_secret", testSecret, "scope", MarketplaceScope), nil, 400, "invalid_request", 900144},
		{"missing scope", "POST", v2, form, with(), nil, 400, "invalid_request", 900144},
		{"blank scope", "POST", v2, form, with("scope", "  "), nil, 400, "invalid_request", 900144},
		{"missing resource v1", "POST", v1, form, with(), nil, 400, "invalid_request", 900144},
		{"unknown app", "POST", v2, form, values("grant_type", "client_credentials", "client_id", unknownGUID, "client_secret", testSecret, "scope", MarketplaceScope), nil, 400, "unauthorized_client", 700016},
		{"app of another tenant", "POST", v2, form, values("grant_type", "client_credentials", "client_id", otherClient, "client_secret", otherSecret, "scope", MarketplaceScope), nil, 400, "unauthorized_client", 700016},
		{"no secret", "POST", v2, form, values("grant_type", "client_credentials", "client_id", testClient, "scope", MarketplaceScope), nil, 401, "invalid_client", 7000218},
		{"bad secret", "POST", v2, form, values("grant_type", "client_credentials", "client_id", testClient, "client_secret", "wrong", "scope", MarketplaceScope), nil, 401, "invalid_client", 7000215},
		{"bad secret v1", "POST", v1, form, values("grant_type", "client_credentials", "client_id", testClient, "client_secret", "wrong", "resource", MarketplaceAppID), nil, 401, "invalid_client", 7000215},
		{"bad secret in Basic", "POST", v2, form, values("grant_type", "client_credentials", "scope", MarketplaceScope), basic(testClient, "wrong"), 401, "invalid_client", 7000215},
		{"secret in Basic and body", "POST", v2, form, with("scope", MarketplaceScope), basic(testClient, testSecret), 400, "invalid_request", 90023},
		{"Basic names another client", "POST", v2, form, values("grant_type", "client_credentials", "client_id", otherClient, "scope", MarketplaceScope), basic(testClient, testSecret), 400, "invalid_request", 90023},
		{"Bearer instead of Basic", "POST", v2, form, with("scope", MarketplaceScope), http.Header{"Authorization": {"Bearer x"}}, 400, "invalid_request", 90023},
		{"Basic not base64", "POST", v2, form, values("grant_type", "client_credentials", "scope", MarketplaceScope), http.Header{"Authorization": {"Basic !!!"}}, 400, "invalid_request", 90023},
		{"wrong scope", "POST", v2, form, with("scope", "https://graph.microsoft.com/.default"), nil, 400, "invalid_scope", 70011},
		{"scope without .default", "POST", v2, form, with("scope", MarketplaceAppID), nil, 400, "invalid_scope", 70011},
		{"two resource scopes", "POST", v2, form, with("scope", MarketplaceScope+" https://graph.microsoft.com/.default"), nil, 400, "invalid_scope", 70011},
		{"wrong resource v1", "POST", v1, form, with("resource", "https://management.azure.com/"), nil, 400, "invalid_resource", 500011},
		{"oversized body", "POST", v2, form, with("scope", MarketplaceScope, "pad", strings.Repeat("x", maxTokenRequest)), nil, 400, "invalid_request", 90023},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := e.post(t, tt.method, tt.path, tt.contentType, tt.body, tt.header)
			if status != tt.status || body["error"] != tt.code {
				t.Fatalf("got %d %v, want %d %s: %v", status, body["error"], tt.status, tt.code, body)
			}
			codes, _ := body["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != tt.aadsts {
				t.Errorf("error_codes = %v, want [%v]", body["error_codes"], tt.aadsts)
			}
			desc, _ := body["error_description"].(string)
			if !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", int(tt.aadsts))) {
				t.Errorf("error_description %q does not start with the AADSTS code", desc)
			}
			trace, corr := body["trace_id"].(string), body["correlation_id"].(string)
			if !isGUID(trace) || !isGUID(corr) || header.Get("x-ms-request-id") != trace {
				t.Errorf("trace_id %q, correlation_id %q, x-ms-request-id %q: want GUIDs, the trace id in the header", trace, corr, header.Get("x-ms-request-id"))
			}
			if !strings.Contains(desc, "Trace ID: "+trace) || !strings.Contains(desc, "Correlation ID: "+corr) {
				t.Errorf("error_description %q does not repeat the ids", desc)
			}
			if ts, _ := body["timestamp"].(string); ts != "2026-03-01 10:00:00Z" {
				t.Errorf("timestamp = %q, want Entra's format of the stand-in's clock", ts)
			}
			if cc := header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestTokenEndpoint_EchoesClientRequestID(t *testing.T) {
	e := newEnv(t)
	const id = "0b5c5e1c-7c2f-4a4e-9a4e-1f2d3c4b5a69"
	for _, body := range []string{
		values("grant_type", "client_credentials", "client_id", testClient, "client_secret", "wrong", "scope", MarketplaceScope),
		values("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret, "scope", MarketplaceScope),
	} {
		status, header, out := e.post(t, "POST", testTenant+"/oauth2/v2.0/token", form, body, http.Header{"Client-Request-Id": {id}})
		if header.Get("client-request-id") != id {
			t.Errorf("%d: client-request-id header = %q, want the one sent", status, header.Get("client-request-id"))
		}
		if status != http.StatusOK && out["correlation_id"] != id {
			t.Errorf("correlation_id = %v, want the client-request-id sent", out["correlation_id"])
		}
	}
}

// The answers' shapes: v2 numbers, v1 numeric strings (contract §2.2), and
// both accept the client's secret in the body or in Basic.
func TestTokenEndpoint_Success(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	tests := []struct {
		name   string
		path   string
		body   string
		header http.Header
		v1     bool
	}{
		{"v2 secret in body", testTenant + "/oauth2/v2.0/token", values("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret, "scope", MarketplaceScope), nil, false},
		{"v2 secret in Basic", testTenant + "/oauth2/v2.0/token", values("grant_type", "client_credentials", "scope", MarketplaceScope), basic(testClient, testSecret), false},
		{"v2 MSAL's extra scopes, upper-case ids", strings.ToUpper(testTenant) + "/oauth2/v2.0/token", values("grant_type", "client_credentials", "client_id", strings.ToUpper(testClient), "client_secret", testSecret, "scope", strings.ToUpper(MarketplaceAppID)+"/.default openid offline_access profile", "client_info", "1"), nil, false},
		{"v1 secret in body", testTenant + "/oauth2/token", values("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret, "resource", MarketplaceAppID), nil, true},
		{"v1 secret in Basic", testTenant + "/oauth2/token", values("grant_type", "client_credentials", "resource", MarketplaceAppID), basic(testClient, testSecret), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.post(t, "POST", tt.path, form, tt.body, tt.header)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, body)
			}
			if body["token_type"] != "Bearer" {
				t.Errorf("token_type = %v", body["token_type"])
			}
			if tt.v1 {
				want := map[string]any{"expires_in": "3599", "ext_expires_in": "3599", "resource": MarketplaceAppID,
					"expires_on": fmt.Sprint(now.Add(time.Hour).Unix()), "not_before": fmt.Sprint(now.Unix())}
				for k, v := range want {
					if body[k] != v {
						t.Errorf("%s = %#v, want %#v", k, body[k], v)
					}
				}
			} else if body["expires_in"] != float64(3599) || body["ext_expires_in"] != float64(3599) {
				t.Errorf("expires_in = %#v, ext_expires_in = %#v, want the number 3599", body["expires_in"], body["ext_expires_in"])
			}
			caller, err := e.s.VerifyAccessToken(body["access_token"].(string), now)
			if err != nil {
				t.Fatalf("VerifyAccessToken: %v", err)
			}
			if caller != (Caller{TenantID: testTenant, AppID: testClient}) {
				t.Errorf("caller = %+v", caller)
			}
		})
	}
}
