package googleid

import (
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// SignupClaims are the claims of a sign-up JWT (contract §1.3).
type SignupClaims struct {
	Iss    string       `json:"iss"`
	Iat    int64        `json:"iat"`
	Exp    int64        `json:"exp"`
	Aud    string       `json:"aud"`
	Sub    string       `json:"sub"`
	Google SignupGoogle `json:"google"`
}

// SignupGoogle is the google claim of a sign-up JWT.
type SignupGoogle struct {
	Roles        []string `json:"roles"`
	UserIdentity string   `json:"user_identity,omitempty"`
	Orders       []string `json:"orders,omitempty"`
}

// PushClaims are the claims of a push OIDC token (contract §3.4), and of
// the ID tokens the token endpoint issues for a target_audience.
type PushClaims struct {
	Aud           string `json:"aud"`
	Azp           string `json:"azp"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Exp           int64  `json:"exp"`
	Iat           int64  `json:"iat"`
	Iss           string `json:"iss"`
	Sub           string `json:"sub"`
}

// SignupLifetime is a sign-up JWT's: exp = iat + 5 minutes (contract §1.3).
const SignupLifetime = 5 * time.Minute

// TokenOption spoils a minted token for a test of the seller's
// verification: each makes one check the seller must do fail.
type TokenOption func(*mintSpec)

type mintSpec struct {
	wrongKey bool
	issuer   *string
	audience *string
	expired  bool
	iat      time.Time
}

// WithWrongKey signs with a key that is published nowhere, under the kid of
// the current key: the signature check must fail.
func WithWrongKey() TokenOption { return func(m *mintSpec) { m.wrongKey = true } }

// WithIssuer sets iss to issuer instead of the configured one.
func WithIssuer(issuer string) TokenOption { return func(m *mintSpec) { m.issuer = &issuer } }

// WithAudience sets aud to audience instead of the one asked for.
func WithAudience(audience string) TokenOption { return func(m *mintSpec) { m.audience = &audience } }

// WithExpired makes a token whose exp is ten minutes before now: past any
// sane leeway (sellers allow about 30 s).
func WithExpired() TokenOption { return func(m *mintSpec) { m.expired = true } }

// WithIssuedAt sets iat (exp follows from the token's lifetime), e.g. in
// the future for the "iat not in the future" check.
func WithIssuedAt(t time.Time) TokenOption { return func(m *mintSpec) { m.iat = t } }

func (s *Server) spec(opts []TokenOption, lifetime time.Duration) (mintSpec, time.Time) {
	var m mintSpec
	for _, o := range opts {
		o(&m)
	}
	iat := s.now()
	if !m.iat.IsZero() {
		iat = m.iat
	}
	if m.expired {
		iat = iat.Add(-lifetime - 10*time.Minute)
	}
	return m, iat
}

// SignupToken mints the sign-up JWT the buyer's browser posts to the
// partner (contract §1.3): RS256 with the partner robot's current key, iss
// the configured sign-up issuer, aud the partner's sign-up domain, sub the
// procurement account id, exp = iat + 5 minutes on the emulator's clock,
// google{roles, user_identity, orders}. orders and userIdentity may be
// empty; they are then left out.
func (s *Server) SignupToken(sub, audience string, orders []string, userIdentity string, opts ...TokenOption) (string, error) {
	if sub == "" {
		return "", errors.New("sign-up token: sub (the procurement account id) is required")
	}
	if audience == "" {
		return "", errors.New("sign-up token: audience (the partner's sign-up domain) is required")
	}
	m, iat := s.spec(opts, SignupLifetime)
	c := SignupClaims{
		Iss: s.signupIssuer, Iat: iat.Unix(), Exp: iat.Add(SignupLifetime).Unix(), Aud: audience, Sub: sub,
		Google: SignupGoogle{Roles: s.signupRoles, UserIdentity: userIdentity, Orders: orders},
	}
	if m.issuer != nil {
		c.Iss = *m.issuer
	}
	if m.audience != nil {
		c.Aud = *m.audience
	}
	raw, err := s.sign(partnerRing, m.wrongKey, c)
	if err != nil {
		return "", fmt.Errorf("sign-up token: %w", err)
	}
	return raw, nil
}

// PushToken mints the OIDC token Pub/Sub puts on a push request (contract
// §3.4): RS256 with accounts.google.com's current key, iss the configured
// push issuer, aud as given (the subscription's audience, by default the
// push URL), email the push service account with email_verified true, sub
// and azp its numeric id, valid for TokenLifetime.
func (s *Server) PushToken(audience, email string, opts ...TokenOption) (string, error) {
	if audience == "" {
		return "", errors.New("push token: audience is required")
	}
	if err := checkEmail(email); err != nil {
		return "", fmt.Errorf("push token: %w", err)
	}
	m, iat := s.spec(opts, s.lifetime)
	c := s.idClaims(audience, email, iat)
	if m.issuer != nil {
		c.Iss = *m.issuer
	}
	if m.audience != nil {
		c.Aud = *m.audience
	}
	raw, err := s.sign(oidcRing, m.wrongKey, c)
	if err != nil {
		return "", fmt.Errorf("push token: %w", err)
	}
	return raw, nil
}

func (s *Server) idClaims(audience, email string, iat time.Time) PushClaims {
	id := numericID(email)
	return PushClaims{
		Aud: audience, Azp: id, Sub: id, Email: email, EmailVerified: true,
		Iat: iat.Unix(), Exp: iat.Add(s.lifetime).Unix(), Iss: s.pushIssuer,
	}
}

// sign signs claims with ring r's current key, or with the unpublished
// forger key under the current kid.
func (s *Server) sign(r ring, forge bool, claims any) (string, error) {
	k := s.state.signer(r)
	key := k.key
	if forge {
		f, err := s.forgerKey()
		if err != nil {
			return "", err
		}
		key = f.key
	}
	return signJWT(key, k.kid, claims)
}

func signJWT(key any, kid string, claims any) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return raw, nil
}

// forgerKey is made on first use: tests that never forge pay nothing.
func (s *Server) forgerKey() (*signingKey, error) {
	s.forgerOnce.Do(func() {
		s.forger, s.forgerErr = newSigningKey(s.rand, "forger.invalid", s.now())
	})
	return s.forger, s.forgerErr
}

// trimBearer takes the token of an Authorization header value.
func trimBearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
