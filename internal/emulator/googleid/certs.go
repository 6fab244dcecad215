package googleid

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// robotKeys are the published keys of a robot account: the partner robot's
// key set, or an issued service account's keys. ok is false for an address
// the stand-in does not know.
func (s *Server) robotKeys(email string) ([]*signingKey, bool) {
	if email == PartnerEmail {
		return s.state.published(partnerRing), true
	}
	keys := s.state.accountKeys(email)
	return keys, len(keys) > 0
}

// x509Map serves GET /robot/v1/metadata/x509/{email}: a JSON object of kid
// → PEM certificate, as Google's robot metadata does (contract §1.3).
func (s *Server) x509Map(w http.ResponseWriter, r *http.Request) {
	keys, ok := s.robotKeys(r.PathValue("email"))
	if !ok {
		s.robotNotFound(w)
		return
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k.kid] = k.certPEM()
	}
	s.cacheable(w)
	writeJSON(w, http.StatusOK, out)
}

// jwk is one key as Google's JWKS documents write it.
type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

func toJWKS(keys []*signingKey) jwks {
	set := jwks{Keys: []jwk{}}
	for _, k := range keys {
		pub := k.key.PublicKey
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Alg: "RS256", Use: "sig", Kid: k.kid,
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	return set
}

// robotJWKS serves GET /robot/v1/metadata/jwk/{email}: the same keys as the
// x509 map, as a JWKS.
func (s *Server) robotJWKS(w http.ResponseWriter, r *http.Request) {
	keys, ok := s.robotKeys(r.PathValue("email"))
	if !ok {
		s.robotNotFound(w)
		return
	}
	s.cacheable(w)
	writeJSON(w, http.StatusOK, toJWKS(keys))
}

// oidcJWKS serves GET /oauth2/v3/certs, the keys of push OIDC tokens.
func (s *Server) oidcJWKS(w http.ResponseWriter, r *http.Request) {
	s.cacheable(w)
	writeJSON(w, http.StatusOK, toJWKS(s.state.published(oidcRing)))
}

// openIDConfiguration is the part of accounts.google.com's discovery
// document verifiers read. Its issuer is the push issuer (by default
// Google's own), so a verifier that insists the issuer match the document's
// URL must be given the JWKS URL directly instead (go-oidc's
// NewVerifier with NewRemoteKeySet), as sellers configured for production
// are anyway.
type openIDConfiguration struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	ResponseTypes         []string `json:"response_types_supported"`
	SubjectTypes          []string `json:"subject_types_supported"`
	IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported       []string `json:"scopes_supported"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported       []string `json:"claims_supported"`
	GrantTypes            []string `json:"grant_types_supported"`
}

func (s *Server) openIDConfig(w http.ResponseWriter, r *http.Request) {
	s.cacheable(w)
	writeJSON(w, http.StatusOK, openIDConfiguration{
		Issuer:                s.pushIssuer,
		AuthorizationEndpoint: s.base + "o/oauth2/v2/auth",
		TokenEndpoint:         s.TokenURL(),
		JWKSURI:               s.OIDCJWKSURL(),
		ResponseTypes:         []string{"code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"},
		SubjectTypes:          []string{"public"},
		IDTokenSigningAlgs:    []string{"RS256"},
		ScopesSupported:       []string{"openid", "email", "profile"},
		TokenAuthMethods:      []string{"client_secret_post", "client_secret_basic"},
		ClaimsSupported:       []string{"aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"},
		GrantTypes:            []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
	})
}

// cacheable sets the caching headers Google's key documents carry.
func (s *Server) cacheable(w http.ResponseWriter) {
	secs := int64(s.maxAge / time.Second)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.FormatInt(secs, 10)+", must-revalidate, no-transform")
	w.Header().Set("Expires", s.now().Add(s.maxAge).UTC().Format(http.TimeFormat))
}

// robotNotFound is Google's answer for an account it does not know.
func (s *Server) robotNotFound(w http.ResponseWriter) {
	noStore(w)
	writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
		"code": http.StatusNotFound, "message": "Not Found", "status": "NOT_FOUND",
		"errors": []map[string]string{{"message": "Not Found", "domain": "global", "reason": "notFound"}},
	}})
}

// noStore marks a response that must not be cached: tokens and errors.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
