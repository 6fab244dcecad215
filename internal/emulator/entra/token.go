package entra

import (
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxTokenRequest bounds a token request body; real ones are a few hundred
// bytes (a client assertion, which is not modelled, a few kilobytes).
const maxTokenRequest = 64 << 10

// tokenRequest is a parsed client-credentials request.
type tokenRequest struct {
	clientID string
	secret   string // "" when none was sent
	scope    string // v2
	resource string // v1
}

// oidcScopes are what MSAL appends to every request's scope
// ("… openid offline_access profile"); Entra ignores them for app tokens.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// parseTokenRequest reads and checks the shape of a token request, in
// Entra's order: grant type, client, then the scope or resource. v1 is the
// /oauth2/token endpoint, which takes resource= instead of scope=.
func parseTokenRequest(r *http.Request, v1 bool) (tokenRequest, *entraError) {
	var req tokenRequest
	form, err := readForm(r)
	if err != nil {
		return req, err
	}
	grant, err := single(form, "grant_type")
	if err != nil {
		return req, err
	}
	if grant == "" {
		return req, errMissing("grant_type")
	}
	if grant != "client_credentials" {
		return req, errGrantType(grant)
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return req, errNotModelled("A client assertion (a certificate credential)")
	}
	if req.clientID, err = single(form, "client_id"); err != nil {
		return req, err
	}
	if req.secret, err = single(form, "client_secret"); err != nil {
		return req, err
	}
	if user, pass, ok, err := basicAuth(r); err != nil {
		return req, err
	} else if ok {
		// RFC 6749 §2.3: one authentication method per request, and a
		// client_id in the body must name the same client.
		if req.secret != "" {
			return req, errMalformed("the client secret was sent both in the Authorization header and in the body.")
		}
		if req.clientID != "" && !strings.EqualFold(req.clientID, user) {
			return req, errMalformed("client_id in the body differs from the one in the Authorization header.")
		}
		req.clientID, req.secret = user, pass
	}
	if req.clientID == "" {
		return req, errMissing("client_id")
	}
	if v1 {
		if req.resource, err = single(form, "resource"); err != nil {
			return req, err
		}
		if req.resource == "" {
			return req, errMissing("resource")
		}
	} else {
		if req.scope, err = single(form, "scope"); err != nil {
			return req, err
		}
		if strings.TrimSpace(req.scope) == "" {
			return req, errMissing("scope")
		}
	}
	return req, nil
}

// readForm reads the body as a form. Another content type reads as an empty
// form, so the answer is Entra's "must contain grant_type".
func readForm(r *http.Request) (url.Values, *entraError) {
	if r.Body == nil {
		return url.Values{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequest+1))
	if err != nil {
		return nil, errMalformed("the request body could not be read.")
	}
	if len(body) > maxTokenRequest {
		return nil, errMalformed("the request body is larger than 64 KiB.")
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/x-www-form-urlencoded" {
		return url.Values{}, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errMalformed("the body is not a valid application/x-www-form-urlencoded form.")
	}
	return form, nil
}

// single is a parameter's value, refusing repeats (RFC 6749 §3.2: a
// parameter must not be included more than once), which two parsers could
// read differently.
func single(form url.Values, name string) (string, *entraError) {
	vs := form[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		return "", errMalformed("the parameter '" + name + "' is repeated.")
	}
}

// basicAuth reads HTTP Basic client authentication, whose user and password
// are form-encoded before base64 (RFC 6749 §2.3.1; x/oauth2 does so).
func basicAuth(r *http.Request) (user, pass string, ok bool, e *entraError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, errMalformed("the Authorization header of a token request must use Basic.")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false, errMalformed("the Basic credentials are not valid base64.")
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false, errMalformed("the Basic credentials have no ':'.")
	}
	if user, err = url.QueryUnescape(u); err != nil {
		return "", "", false, errMalformed("the Basic user is not form-encoded.")
	}
	if pass, err = url.QueryUnescape(p); err != nil {
		return "", "", false, errMalformed("the Basic password is not form-encoded.")
	}
	return user, pass, true, nil
}

// checkScope accepts the marketplace API's .default scope, beside the OIDC
// scopes MSAL always adds.
func checkScope(scope string) *entraError {
	var resources []string
	for _, sc := range strings.Fields(scope) {
		if !oidcScopes[strings.ToLower(sc)] {
			resources = append(resources, sc)
		}
	}
	if len(resources) != 1 || !strings.EqualFold(resources[0], MarketplaceScope) {
		return errScope(scope)
	}
	return nil
}

// tenantOf checks the tenant segment of a token or discovery URL, naming it
// as the app registrations do.
func (s *Server) tenantOf(r *http.Request, unknownCode string) (string, *entraError) {
	tenant := r.PathValue("tenant")
	if checkID("tenant", tenant) != nil {
		return "", errTenantMalformed(tenant)
	}
	if reservedTenants[strings.ToLower(tenant)] {
		return "", errNoTenant()
	}
	if !s.knownTenant(tenant) {
		return "", errUnknownTenant(unknownCode, tenant)
	}
	return strings.ToLower(tenant), nil
}

// tokenResponseV2 is the v2 endpoint's answer.
type tokenResponseV2 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// tokenResponseV1 is the v1 endpoint's answer, numbers as strings.
type tokenResponseV1 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
}

// token serves POST /{tenant}/oauth2/v2.0/token (v1 false) and
// POST /{tenant}/oauth2/token (v1 true).
func (s *Server) token(v1 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			s.writeError(w, r, errMethod(r.Method))
			return
		}
		tenant, e := s.tenantOf(r, "invalid_request")
		if e != nil {
			s.writeError(w, r, e)
			return
		}
		req, e := parseTokenRequest(r, v1)
		if e != nil {
			s.writeError(w, r, e)
			return
		}
		app, ok := s.app(tenant, req.clientID)
		if !ok {
			s.writeError(w, r, errUnknownApp(req.clientID, tenant))
			return
		}
		if req.secret == "" {
			s.writeError(w, r, errNoSecret())
			return
		}
		if !secretMatches(app.SecretHash, req.secret) {
			s.writeError(w, r, errBadSecret(app.ClientID))
			return
		}
		if v1 {
			if !strings.EqualFold(req.resource, MarketplaceAppID) {
				s.writeError(w, r, errResource(req.resource, tenant))
				return
			}
		} else if e := checkScope(req.scope); e != nil {
			s.writeError(w, r, e)
			return
		}
		now := s.now()
		raw, exp, err := s.issue(app, now)
		if err != nil {
			s.log.Error("entra token not issued", "error", err)
			http.Error(w, "the emulator could not sign a token; see its log", http.StatusInternalServerError)
			return
		}
		trace, _ := s.requestIDs(w, r)
		s.log.Debug("entra token issued", "tenant", tenant, "client_id", app.ClientID, "v1", v1, "trace_id", trace)
		noStore(w)
		// Entra counts down from the second the token was issued: 3599 for an hour.
		expiresIn := int64(s.lifetime/time.Second) - 1
		if v1 {
			writeJSON(w, http.StatusOK, tokenResponseV1{
				TokenType: "Bearer", ExpiresIn: strconv.FormatInt(expiresIn, 10), ExtExpiresIn: strconv.FormatInt(expiresIn, 10),
				ExpiresOn: strconv.FormatInt(exp.Unix(), 10), NotBefore: strconv.FormatInt(now.Unix(), 10),
				Resource: MarketplaceAppID, AccessToken: raw,
			})
			return
		}
		writeJSON(w, http.StatusOK, tokenResponseV2{TokenType: "Bearer", ExpiresIn: expiresIn, ExtExpiresIn: expiresIn, AccessToken: raw})
	}
}
