package gcpmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Token bounds (§1.4).
const (
	// clockSkew is the leeway on exp and iat: Google's tokens live five
	// minutes, so more would matter.
	clockSkew = 30 * time.Second
	// maxTokenLen bounds a token read; Google's are about 1 KiB.
	maxTokenLen = 16 << 10
)

// Signup is what a verified sign-up JWT says.
type Signup struct {
	// Account is the procurement account id (sub), bare.
	Account string
	// Orders are the order (entitlement) ids the sign-up concerns, when
	// Google sends them (multiple orders of one product).
	Orders []string
	// UserIdentity is Google's obfuscated id of the buyer who clicked.
	UserIdentity     string
	IssuedAt, Expiry time.Time
}

type signupClaims struct {
	jwt.Claims
	Google struct {
		UserIdentity string            `json:"user_identity"`
		Orders       []json.RawMessage `json:"orders"`
	} `json:"google"`
}

// parseSigned reads a compact JWS signed RS256 with one signature and a
// kid: "none", HS256 (a public key used as an HMAC secret) and every other
// algorithm are refused before any key is looked at.
func parseSigned(raw string) (*jwt.JSONWebToken, string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, "", errors.New("no token")
	}
	if len(raw) > maxTokenLen {
		return nil, "", fmt.Errorf("token longer than %d bytes", maxTokenLen)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, "", err
	}
	if len(tok.Headers) != 1 {
		return nil, "", errors.New("want exactly one signature")
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return nil, "", errors.New("no key id (kid) in the header")
	}
	return tok, kid, nil
}

// VerifySignup checks the JWT of Google's sign-up post (§1.4): RS256 by a
// key of the configured certificate map, iss the configured issuer, aud one
// of the configured audiences, exp not past and iat not ahead (30 s skew),
// sub present. Its errors wrap marketplace.ErrTokenInvalid,
// marketplace.ErrTokenExpired, or marketplace.ErrMarketplaceUnavailable
// when the keys could not be read.
func (c *Client) VerifySignup(ctx context.Context, raw string) (Signup, error) {
	tok, kid, err := parseSigned(raw)
	if err != nil {
		return Signup{}, fmt.Errorf("%w: sign-up token: %w", marketplace.ErrTokenInvalid, err)
	}
	key, err := c.signupKeys.key(ctx, kid)
	switch {
	case errors.Is(err, errKeysUnavailable):
		return Signup{}, fmt.Errorf("%w: sign-up token: %w", marketplace.ErrMarketplaceUnavailable, err)
	case err != nil:
		return Signup{}, fmt.Errorf("%w: sign-up token: %w", marketplace.ErrTokenInvalid, err)
	}
	var cl signupClaims
	if err := tok.Claims(key, &cl); err != nil {
		return Signup{}, fmt.Errorf("%w: sign-up token: %w", marketplace.ErrTokenInvalid, err)
	}
	return checkSignup(cl, c.cfg.Signup, c.cfg.Now())
}

// checkSignup applies the claim rules of §1.4 to claims whose signature
// holds. An expired token is ErrTokenExpired only when nothing else is
// wrong with it.
func checkSignup(cl signupClaims, cfg SignupConfig, now time.Time) (Signup, error) {
	var errs []error
	if cl.Issuer != cfg.Issuer {
		errs = append(errs, fmt.Errorf("iss %q: want %q", cl.Issuer, cfg.Issuer))
	}
	if !slices.ContainsFunc(cfg.Audiences, func(a string) bool { return slices.Contains(cl.Audience, a) }) {
		errs = append(errs, fmt.Errorf("aud %q: want one of %q", []string(cl.Audience), cfg.Audiences))
	}
	if strings.TrimSpace(cl.Subject) == "" {
		errs = append(errs, errors.New("no sub (the procurement account id)"))
	}
	if cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(clockSkew)) {
		errs = append(errs, fmt.Errorf("iat %s is in the future", cl.IssuedAt.Time().UTC().Format(time.RFC3339)))
	}
	if cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(clockSkew)) {
		errs = append(errs, fmt.Errorf("nbf %s is in the future", cl.NotBefore.Time().UTC().Format(time.RFC3339)))
	}
	orders, err := parseOrders(cl.Google.Orders)
	if err != nil {
		errs = append(errs, err)
	}
	if cl.Expiry == nil {
		errs = append(errs, errors.New("no exp"))
	}
	if err := errors.Join(errs...); err != nil {
		return Signup{}, fmt.Errorf("%w: sign-up token: %w", marketplace.ErrTokenInvalid, err)
	}
	if exp := cl.Expiry.Time(); now.After(exp.Add(clockSkew)) {
		return Signup{}, fmt.Errorf("%w: sign-up token expired at %s", marketplace.ErrTokenExpired, exp.UTC().Format(time.RFC3339))
	}
	s := Signup{Account: accountID(cl.Subject), Orders: orders, UserIdentity: cl.Google.UserIdentity, Expiry: cl.Expiry.Time()}
	if cl.IssuedAt != nil {
		s.IssuedAt = cl.IssuedAt.Time()
	}
	return s, nil
}

// parseOrders reads google.orders, whose elements third parties see both as
// strings and as {"orderId": "..."} (§1.3); empty ones are dropped.
func parseOrders(raw []json.RawMessage) ([]string, error) {
	var out []string
	for _, r := range raw {
		var id string
		if err := json.Unmarshal(r, &id); err != nil {
			var o struct {
				OrderID string `json:"orderId"`
			}
			if err := json.Unmarshal(r, &o); err != nil {
				return nil, fmt.Errorf("google.orders: element %s is neither a string nor an object with orderId", truncate(string(r), 60))
			}
			id = o.OrderID
		}
		if id = lastSegment(strings.TrimSpace(id)); id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

// lastSegment is the id at the end of a resource name ("providers/p/
// accounts/a" -> "a"); a bare id is itself.
func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// accountID is the bare account id of a sub or an entitlement's account,
// which may come as "providers/p/accounts/a" (§2.4).
func accountID(s string) string { return lastSegment(strings.TrimSpace(s)) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
