package entra

import (
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
)

// openIDConfiguration is the part of Entra's discovery document that
// clients read. MSAL refuses one without issuer, authorization_endpoint or
// token_endpoint, and one whose issuer is not on the authority's host.
type openIDConfiguration struct {
	Issuer                   string   `json:"issuer"`
	AuthorizationEndpoint    string   `json:"authorization_endpoint"`
	TokenEndpoint            string   `json:"token_endpoint"`
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI                  string   `json:"jwks_uri"`
	ResponseModes            []string `json:"response_modes_supported"`
	ResponseTypes            []string `json:"response_types_supported"`
	SubjectTypes             []string `json:"subject_types_supported"`
	IDTokenSigningAlgs       []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported          []string `json:"scopes_supported,omitempty"`
	RequestURIParameter      bool     `json:"request_uri_parameter_supported"`
	TenantRegionScope        string   `json:"tenant_region_scope"`
	CloudInstanceName        string   `json:"cloud_instance_name"`
	CloudGraphHostName       string   `json:"cloud_graph_host_name"`
	MSGraphHost              string   `json:"msgraph_host"`
}

// openIDConfig serves GET /{tenant}/v2.0/.well-known/openid-configuration
// (v1 false) and GET /{tenant}/.well-known/openid-configuration (v1 true).
// The v2 issuer is on the emulator's host, as MSAL insists; the v1 one is
// sts.windows.net's, as Entra's is, because that is what v1 tokens carry.
func (s *Server) openIDConfig(v1 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, e := s.tenantOf(r, "invalid_tenant")
		if e != nil {
			s.writeError(w, r, e)
			return
		}
		root := s.base + tenant
		doc := openIDConfiguration{
			TokenEndpointAuthMethods: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			ResponseModes:            []string{"query", "fragment", "form_post"},
			ResponseTypes:            []string{"code", "id_token", "code id_token", "token id_token", "token"},
			SubjectTypes:             []string{"pairwise"},
			IDTokenSigningAlgs:       []string{"RS256"},
			TenantRegionScope:        "WW",
			CloudInstanceName:        "microsoftonline.com",
			CloudGraphHostName:       "graph.windows.net",
			MSGraphHost:              "graph.microsoft.com",
		}
		if v1 {
			doc.Issuer = s.Issuer(tenant, TokenVersion1)
			doc.AuthorizationEndpoint = root + "/oauth2/authorize"
			doc.TokenEndpoint = root + "/oauth2/token"
			doc.JWKSURI = root + "/discovery/keys"
		} else {
			doc.Issuer = s.Issuer(tenant, TokenVersion2)
			doc.AuthorizationEndpoint = root + "/oauth2/v2.0/authorize"
			doc.TokenEndpoint = root + "/oauth2/v2.0/token"
			doc.JWKSURI = root + "/discovery/v2.0/keys"
			doc.ScopesSupported = []string{"openid", "profile", "email", "offline_access"}
		}
		w.Header().Set("Cache-Control", "max-age=86400, private")
		writeJSON(w, http.StatusOK, doc)
	}
}

// jwk is one key of the JWKS as Entra writes it: kid equal to x5t, the
// certificate in x5c.
type jwk struct {
	Kty string   `json:"kty"`
	Use string   `json:"use"`
	Kid string   `json:"kid"`
	X5t string   `json:"x5t"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	X5c []string `json:"x5c"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

// keySet serves the JWKS at /{tenant}/discovery/v2.0/keys and
// /{tenant}/discovery/keys. Entra's keys are the same for every tenant, so
// common and organizations serve them too.
func (s *Server) keySet(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !reservedTenants[strings.ToLower(tenant)] {
		if _, e := s.tenantOf(r, "invalid_tenant"); e != nil {
			s.writeError(w, r, e)
			return
		}
	}
	var set jwks
	for _, k := range s.keys.published(s.now(), s.keepPrevious) {
		pub := k.key.PublicKey
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
			N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			X5c: []string{base64.StdEncoding.EncodeToString(k.certDER)},
		})
	}
	// Entra lets clients cache keys for a day; verifiers refetch when a
	// token names a kid they have not seen, which is how rotation reaches them.
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, set)
}

// authorize answers the interactive endpoints the discovery documents must
// name for MSAL but client credentials never visit.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, errNotModelled("Interactive sign-in (the authorization endpoint)"))
}
