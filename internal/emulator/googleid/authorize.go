package googleid

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrUnauthenticated is wrapped by every error of Authorize: the API
// answers 401 UNAUTHENTICATED.
var ErrUnauthenticated = errors.New("unauthenticated")

// The ErrorInfo reasons Google puts in a 401's details.
const (
	ReasonCredentialsMissing = "CREDENTIALS_MISSING"
	ReasonTokenExpired       = "ACCESS_TOKEN_EXPIRED"
	ReasonTokenUnsupported   = "ACCESS_TOKEN_TYPE_UNSUPPORTED"
)

// Google's 401 messages.
const (
	msgMissing = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	msgInvalid = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)

// AuthError is why Authorize refused a request: Message is Google's text
// for the response, Reason its ErrorInfo reason, Detail what the emulator
// saw (for logs and test failures, not for the response).
type AuthError struct {
	Reason  string
	Message string
	Detail  string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("unauthenticated (%s): %s", e.Reason, e.Detail)
}

// Unwrap makes every AuthError an ErrUnauthenticated.
func (e *AuthError) Unwrap() error { return ErrUnauthenticated }

// AuthReason is the ErrorInfo reason, for APIs that do not import this
// package and look for it through an interface.
func (e *AuthError) AuthReason() string { return e.Reason }

// AuthMessage is Google's message for the response.
func (e *AuthError) AuthMessage() string { return e.Message }

func refused(reason, detail string) *AuthError {
	msg := msgInvalid
	if reason == ReasonCredentialsMissing {
		msg = msgMissing
	}
	return &AuthError{Reason: reason, Message: msg, Detail: detail}
}

// maxBearer bounds what Authorize parses.
const maxBearer = 16 << 10

// Authorize says which service account a request to the emulator's
// Google APIs speaks for. It accepts a bearer access token the token
// endpoint issued and that has not expired, and, as Google does for its
// client libraries' self-signed JWTs, a JWT signed by an issued key of the
// account it names (iss = sub = the account, kid = the key's id, aud the
// API or a scope claim, at most an hour long). Every error is an
// *AuthError wrapping ErrUnauthenticated; whether the account may call the
// API (403) is the API's decision.
func (s *Server) Authorize(r *http.Request) (email string, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", refused(ReasonCredentialsMissing, "no Authorization header")
	}
	tok, ok := trimBearer(h)
	if !ok {
		return "", refused(ReasonTokenUnsupported, "the Authorization header is not a Bearer token")
	}
	if len(tok) > maxBearer {
		return "", refused(ReasonTokenUnsupported, "bearer token too long")
	}
	if at, ok := s.openAccessToken(tok); ok {
		if exp := time.Unix(at.Exp, 0); !s.now().Before(exp) {
			return "", refused(ReasonTokenExpired, "access token expired at "+exp.UTC().Format(time.RFC3339))
		}
		return at.Email, nil
	}
	return s.selfSigned(tok)
}

// selfSignedClaims are those of a self-signed JWT of cloud.google.com/go/auth.
type selfSignedClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

func (s *Server) selfSigned(raw string) (string, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "", refused(ReasonTokenUnsupported, "neither an access token this emulator issued nor a self-signed JWT")
	}
	key, ok := s.state.accountKey(tok.Headers[0].KeyID)
	if !ok {
		return "", refused(ReasonTokenUnsupported, fmt.Sprintf("self-signed JWT with kid %q, which names no issued, unrevoked service account key", tok.Headers[0].KeyID))
	}
	var c selfSignedClaims
	if err := tok.Claims(&key.signing.key.PublicKey, &c); err != nil {
		return "", refused(ReasonTokenUnsupported, "self-signed JWT: "+err.Error())
	}
	if c.Iss != key.Email || c.Sub != key.Email {
		return "", refused(ReasonTokenUnsupported, fmt.Sprintf("self-signed JWT: iss %q and sub %q must both be %s", c.Iss, c.Sub, key.Email))
	}
	if c.Aud == "" && !knownScopes(c.Scope) {
		return "", refused(ReasonTokenUnsupported, "self-signed JWT: neither aud nor a scope claim")
	}
	if e := s.checkTimes(c.Iat, c.Exp); e != nil {
		if c.Exp != 0 && !s.now().Before(time.Unix(c.Exp, 0).Add(s.skew)) {
			return "", refused(ReasonTokenExpired, "self-signed JWT expired")
		}
		return "", refused(ReasonTokenUnsupported, "self-signed JWT: "+e.description)
	}
	return key.Email, nil
}
