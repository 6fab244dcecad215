package googleid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// JWTBearerGrant is the grant type of the service-account flow (RFC 7523).
const JWTBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// maxTokenRequest bounds a token request body; real ones are about 1 KiB.
const maxTokenRequest = 64 << 10

// maxAssertionLifetime is Google's limit on exp - iat of an assertion.
const maxAssertionLifetime = time.Hour

// oauthError is an error of Google's OAuth2 token endpoint:
// {"error": ..., "error_description": ...} with its HTTP status.
type oauthError struct {
	status      int
	code        string
	description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

// The errors the token endpoint answers with, worded as Google's.
func errRequest(desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_request", desc}
}

func errGrant(desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_grant", desc}
}

var (
	errSignature = errGrant("Invalid JWT Signature.")
	errTimeframe = errGrant("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	errScope     = &oauthError{http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided."}
	errDelegate  = &oauthError{http.StatusUnauthorized, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested. (The emulator does not model domain-wide delegation: leave sub out or equal to iss.)"}
)

// assertionClaims are those x/oauth2's jwt package and
// cloud.google.com/go/auth put in a service account's assertion.
type assertionClaims struct {
	Iss            string `json:"iss"`
	Sub            string `json:"sub"`
	Aud            string `json:"aud"`
	Scope          string `json:"scope"`
	TargetAudience string `json:"target_audience"`
	Iat            int64  `json:"iat"`
	Exp            int64  `json:"exp"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token,omitempty"`
	IDToken     string `json:"id_token,omitempty"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	TokenType   string `json:"token_type,omitempty"`
}

// token serves POST /token: the JWT-bearer grant of a service account
// whose key this stand-in issued. With scope it answers an access token
// for the emulator's APIs; with target_audience (and no scope) an ID token,
// as Google's endpoint does.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	resp, e := s.grant(r)
	if e != nil {
		s.log.Debug("google token refused", "error", e.code, "description", e.description)
		noStore(w)
		writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) grant(r *http.Request) (tokenResponse, *oauthError) {
	if r.Method != http.MethodPost {
		return tokenResponse{}, &oauthError{http.StatusMethodNotAllowed, "invalid_request", "Invalid HTTP method " + r.Method + ": the token endpoint takes POST."}
	}
	form, e := readForm(r)
	if e != nil {
		return tokenResponse{}, e
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		return tokenResponse{}, errRequest("Required parameter is missing: grant_type")
	case grant != JWTBearerGrant:
		return tokenResponse{}, &oauthError{http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: " + grant + " (the emulator models the service-account JWT-bearer grant only)"}
	}
	assertion := form.Get("assertion")
	if assertion == "" {
		return tokenResponse{}, errRequest("Required parameter is missing: assertion")
	}
	c, key, e := s.checkAssertion(assertion)
	if e != nil {
		return tokenResponse{}, e
	}
	now := s.now()
	if c.Scope == "" && c.TargetAudience != "" {
		id, err := signJWT(s.state.signer(oidcRing).key, s.state.signer(oidcRing).kid, s.idClaims(c.TargetAudience, key.Email, now))
		if err != nil {
			return tokenResponse{}, &oauthError{http.StatusInternalServerError, "internal_failure", "the emulator could not sign an ID token; see its log"}
		}
		return tokenResponse{IDToken: id}, nil
	}
	if !knownScopes(c.Scope) {
		return tokenResponse{}, errScope
	}
	tok, err := s.sealAccessToken(key.Email, c.Scope, now.Add(s.lifetime))
	if err != nil {
		return tokenResponse{}, &oauthError{http.StatusInternalServerError, "internal_failure", "the emulator could not issue a token; see its log"}
	}
	s.log.Debug("google access token issued", "email", key.Email, "key_id", key.KeyID)
	// Google counts down from the second the token was issued: 3599 for an hour.
	return tokenResponse{AccessToken: tok, ExpiresIn: int64(s.lifetime/time.Second) - 1, TokenType: "Bearer"}, nil
}

// checkAssertion verifies a service account's assertion: signed by an
// issued, unrevoked key named by kid, iss its account, aud this token
// endpoint, no impersonation, and a lifetime of at most an hour around now.
func (s *Server) checkAssertion(raw string) (assertionClaims, *saKey, *oauthError) {
	var c assertionClaims
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return c, nil, errGrant("Invalid JWT: the assertion is not a compact RS256 JWS.")
	}
	key, ok := s.state.accountKey(tok.Headers[0].KeyID)
	if !ok {
		// Google answers the same for a deleted key and a wrong signature.
		return c, nil, errSignature
	}
	if err := tok.Claims(&key.signing.key.PublicKey, &c); err != nil {
		return c, nil, errSignature
	}
	if c.Iss != key.Email {
		return c, nil, errGrant("Invalid grant: account not found")
	}
	if c.Sub != "" && c.Sub != c.Iss {
		return c, nil, errDelegate
	}
	if c.Aud != s.TokenURL() {
		return c, nil, errGrant("Invalid JWT: Failed audience check. The right audience is " + s.TokenURL())
	}
	if e := s.checkTimes(c.Iat, c.Exp); e != nil {
		return c, nil, e
	}
	return c, key, nil
}

func (s *Server) checkTimes(iat, exp int64) *oauthError {
	now := s.now()
	if iat == 0 || exp == 0 || exp <= iat || time.Duration(exp-iat)*time.Second > maxAssertionLifetime {
		return errTimeframe
	}
	if !now.Before(time.Unix(exp, 0).Add(s.skew)) || now.Add(s.skew).Before(time.Unix(iat, 0)) {
		return errTimeframe
	}
	return nil
}

// knownScopes accepts a space-separated list of Google API scopes and the
// OpenID ones; anything else, or nothing, is Google's invalid_scope.
func knownScopes(scope string) bool {
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return false
	}
	for _, sc := range fields {
		if !strings.HasPrefix(sc, "https://www.googleapis.com/auth/") && sc != "openid" && sc != "email" && sc != "profile" {
			return false
		}
	}
	return true
}

// readForm reads the body as a form. Another content type reads as an empty
// form, so the answer is Google's "missing grant_type".
func readForm(r *http.Request) (url.Values, *oauthError) {
	if r.Body == nil {
		return url.Values{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequest+1))
	if err != nil {
		return nil, errRequest("The request body could not be read.")
	}
	if len(body) > maxTokenRequest {
		return nil, errRequest("The request body is larger than 64 KiB.")
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/x-www-form-urlencoded" {
		return url.Values{}, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errRequest("The body is not a valid application/x-www-form-urlencoded form.")
	}
	for name, vs := range form {
		if len(vs) > 1 {
			return nil, errRequest("Parameter " + name + " is repeated.")
		}
	}
	return form, nil
}

// accessTokenPrefix is how Google's access tokens start.
const accessTokenPrefix = "ya29."

// sealed is what an access token carries. Access tokens are sealed with a
// secret kept in the data folder rather than remembered, so they outlive a
// restart of the emulator as Google's outlive nothing of the seller's.
type sealed struct {
	Email string `json:"e"`
	Scope string `json:"s"`
	Exp   int64  `json:"x"`
	Nonce string `json:"n"`
}

func (s *Server) sealAccessToken(email, scope string, exp time.Time) (string, error) {
	nonce := make([]byte, 12)
	if _, err := s.rand.Read(nonce); err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	body, err := json.Marshal(sealed{Email: email, Scope: scope, Exp: exp.Unix(), Nonce: hex.EncodeToString(nonce)})
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return accessTokenPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

func (s *Server) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.state.accessSecret())
	m.Write([]byte(accessTokenPrefix + payload))
	return m.Sum(nil)
}

// openAccessToken checks an access token's seal; ok is false for anything
// this stand-in did not issue.
func (s *Server) openAccessToken(tok string) (sealed, bool) {
	var out sealed
	rest, ok := strings.CutPrefix(tok, accessTokenPrefix)
	if !ok {
		return out, false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return out, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return out, false
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(body, &out) != nil || out.Email == "" {
		return out, false
	}
	return out, true
}

// IssueAccessToken is the access token the token endpoint would give email
// (which need not have a key), without the round trip: for the emulator's
// own tests and tools.
func (s *Server) IssueAccessToken(email string) (string, error) {
	if err := checkEmail(email); err != nil {
		return "", fmt.Errorf("issue access token: %w", err)
	}
	return s.sealAccessToken(email, "https://www.googleapis.com/auth/cloud-platform", s.now().Add(s.lifetime))
}
