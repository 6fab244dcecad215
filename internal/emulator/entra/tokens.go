package entra

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// claims are those of an Entra app-only access token. Real v1 tokens carry
// appid/appidacr and v2 tokens azp/azpacr; both pairs are set, so a seller
// reading either finds it.
type claims struct {
	Aud      string `json:"aud"`
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	Exp      int64  `json:"exp"`
	AppID    string `json:"appid"`
	AppIDAcr string `json:"appidacr"`
	Azp      string `json:"azp"`
	AzpAcr   string `json:"azpacr"`
	Idp      string `json:"idp,omitempty"`
	Idtyp    string `json:"idtyp"`
	Oid      string `json:"oid"`
	Sub      string `json:"sub"`
	Tid      string `json:"tid"`
	Uti      string `json:"uti"`
	Ver      string `json:"ver"`
}

// Client authentication methods, as appidacr/azpacr say them.
const (
	acrSecret      = "1"
	acrCertificate = "2" // how Microsoft's own services authenticate
)

// maxTokenLength bounds what VerifyAccessToken parses; Entra's tokens are a
// few kilobytes.
const maxTokenLength = 16 << 10

// Failures of VerifyAccessToken. Every one wraps ErrInvalidToken; an expired
// token also ErrTokenExpired, a token of an app no longer registered also
// ErrUnknownApp. The marketplace API answers all of them with 403.
var (
	ErrInvalidToken = errors.New("invalid access token")
	ErrTokenExpired = errors.New("token expired")
	ErrUnknownApp   = errors.New("app not registered")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// Caller is who an access token speaks for: the marketplace API maps
// (TenantID, AppID) to the publisher, as the real one does.
type Caller struct {
	TenantID string
	AppID    string
}

func (s *Server) sign(c claims) (string, error) {
	k := s.keys.signer()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", k.kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.key, KeyID: k.kid}}, opts)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return raw, nil
}

func (s *Server) baseClaims(tenantID string, v TokenVersion, now time.Time) (claims, error) {
	uti := make([]byte, 16)
	if _, err := s.rand.Read(uti); err != nil {
		return claims{}, fmt.Errorf("token id: %w", err)
	}
	c := claims{
		Iss: s.Issuer(tenantID, v), Tid: tenantID, Ver: string(v), Idtyp: "app",
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(s.lifetime).Unix(),
		Uti: base64.RawURLEncoding.EncodeToString(uti),
	}
	if v == TokenVersion1 {
		c.Idp = c.Iss // v1 app tokens name their own issuer as identity provider
	}
	return c, nil
}

// IssueAccessToken mints the marketplace API access token the token
// endpoints give a registered app, without the HTTP round trip (for the
// emulator's own tests and tools). It returns the token and its expiry.
func (s *Server) IssueAccessToken(tenantID, clientID string, now time.Time) (string, time.Time, error) {
	a, ok := s.app(tenantID, clientID)
	if !ok {
		return "", time.Time{}, fmt.Errorf("issue access token: %w: %s in tenant %s", ErrUnknownApp, clientID, tenantID)
	}
	return s.issue(a, now)
}

func (s *Server) issue(a App, now time.Time) (string, time.Time, error) {
	c, err := s.baseClaims(a.TenantID, s.apiVersion, now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: %w", err)
	}
	c.Aud = MarketplaceAppID
	c.AppID, c.Azp = a.ClientID, a.ClientID
	c.AppIDAcr, c.AzpAcr = acrSecret, acrSecret
	c.Oid, c.Sub = a.ObjectID, a.ObjectID
	raw, err := s.sign(c)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: %w", err)
	}
	return raw, time.Unix(c.Exp, 0), nil
}

// WebhookToken mints the bearer token the marketplace attaches to a webhook
// call to a publisher (contract §4.4): aud is the publisher's app id (or
// whatever audience the publisher's app expects), tid the publisher's
// tenant, azp and appid the marketplace's app, iss v1 or v2 as
// WebhookTokenVersion says. The publisher verifies it with the JWKS of its
// tenant.
func (s *Server) WebhookToken(tenantID, audience string, now time.Time) (string, error) {
	if err := checkID("tenant id", tenantID); err != nil {
		return "", fmt.Errorf("webhook token: %w", err)
	}
	if audience == "" || len(audience) > 512 {
		return "", errors.New("webhook token: audience: want the publisher's app id")
	}
	tenantID = strings.ToLower(tenantID)
	c, err := s.baseClaims(tenantID, s.hookVersion, now)
	if err != nil {
		return "", fmt.Errorf("webhook token: %w", err)
	}
	c.Aud = audience
	c.AppID, c.Azp = MarketplaceAppID, MarketplaceAppID
	c.AppIDAcr, c.AzpAcr = acrCertificate, acrCertificate
	sp := derivedID("marketplace-sp", tenantID)
	c.Oid, c.Sub = sp, sp
	raw, err := s.sign(c)
	if err != nil {
		return "", fmt.Errorf("webhook token: %w", err)
	}
	return raw, nil
}

// VerifyAccessToken checks a bearer token sent to the marketplace API: RS256
// signed by a published key (the current one, or the previous one within
// PreviousKeyLifetime), aud the marketplace API, iss one of this stand-in's
// for its tid, exp and nbf within ClockSkew of now, an app-only token, and
// its app still registered.
func (s *Server) VerifyAccessToken(raw string, now time.Time) (Caller, error) {
	if raw == "" {
		return Caller{}, invalid("no token")
	}
	if len(raw) > maxTokenLength {
		return Caller{}, invalid("longer than %d bytes", maxTokenLength)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return Caller{}, invalid("%v", err)
	}
	if len(tok.Headers) != 1 {
		return Caller{}, invalid("want one signature")
	}
	kid := tok.Headers[0].KeyID
	var key *signingKey
	for _, k := range s.keys.published(now, s.keepPrevious) {
		if k.kid == kid {
			key = k
		}
	}
	if key == nil {
		return Caller{}, invalid("signed by unknown or retired key %q", kid)
	}
	var c claims
	if err := tok.Claims(&key.key.PublicKey, &c); err != nil {
		return Caller{}, invalid("%v", err)
	}
	if !strings.EqualFold(c.Aud, MarketplaceAppID) {
		return Caller{}, invalid("audience %q is not the marketplace API %s", c.Aud, MarketplaceAppID)
	}
	if checkID("tid", c.Tid) != nil {
		return Caller{}, invalid("no usable tid")
	}
	if c.Iss != s.Issuer(c.Tid, TokenVersion1) && c.Iss != s.Issuer(c.Tid, TokenVersion2) {
		return Caller{}, invalid("issuer %q is not tenant %s's", c.Iss, c.Tid)
	}
	if c.Idtyp != "app" {
		return Caller{}, invalid("not an app-only token (idtyp %q)", c.Idtyp)
	}
	app := c.AppID
	if app == "" {
		app = c.Azp
	}
	if app == "" || (c.Azp != "" && !strings.EqualFold(c.Azp, app)) {
		return Caller{}, invalid("appid %q and azp %q do not name one app", c.AppID, c.Azp)
	}
	if c.Exp == 0 || c.Nbf == 0 {
		return Caller{}, invalid("exp and nbf are required")
	}
	if exp := time.Unix(c.Exp, 0); !now.Before(exp.Add(s.skew)) {
		return Caller{}, fmt.Errorf("%w: %w at %s", ErrInvalidToken, ErrTokenExpired, exp.UTC().Format(time.RFC3339))
	}
	if nbf := time.Unix(c.Nbf, 0); now.Add(s.skew).Before(nbf) {
		return Caller{}, invalid("not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	a, ok := s.app(c.Tid, app)
	if !ok {
		return Caller{}, fmt.Errorf("%w: %w: %s in tenant %s", ErrInvalidToken, ErrUnknownApp, app, c.Tid)
	}
	return Caller{TenantID: a.TenantID, AppID: a.ClientID}, nil
}
