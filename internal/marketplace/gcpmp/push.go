package gcpmp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// pushClaims are the claims of a Pub/Sub push OIDC token (§3.4).
type pushClaims struct {
	jwt.Claims
	Email string `json:"email"`
	// EmailVerified is a JSON boolean from Google; a string "true" is
	// tolerated.
	EmailVerified any `json:"email_verified"`
}

// VerifyPush checks the Authorization header of a Pub/Sub push: a Bearer
// OIDC token signed RS256 by a key of the configured JWKS, iss one of the
// configured issuers, aud the configured audience, email the configured
// service account and verified, exp not past (30 s skew). Its errors wrap
// marketplace.ErrNoticeNotAuthentic, or marketplace.ErrMarketplaceUnavailable
// when the keys could not be read (answer 503: Pub/Sub delivers again).
func (c *Client) VerifyPush(ctx context.Context, authorization string) error {
	scheme, raw, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf("%w: push: no bearer token", marketplace.ErrNoticeNotAuthentic)
	}
	tok, kid, err := parseSigned(raw)
	if err != nil {
		return fmt.Errorf("%w: push token: %w", marketplace.ErrNoticeNotAuthentic, err)
	}
	key, err := c.pushKeys.key(ctx, kid)
	switch {
	case errors.Is(err, errKeysUnavailable):
		return fmt.Errorf("%w: push token: %w", marketplace.ErrMarketplaceUnavailable, err)
	case err != nil:
		return fmt.Errorf("%w: push token: %w", marketplace.ErrNoticeNotAuthentic, err)
	}
	var cl pushClaims
	if err := tok.Claims(key, &cl); err != nil {
		return fmt.Errorf("%w: push token: %w", marketplace.ErrNoticeNotAuthentic, err)
	}
	if err := checkPush(cl, c.cfg.Push, c.cfg.Now()); err != nil {
		return fmt.Errorf("%w: push token: %w", marketplace.ErrNoticeNotAuthentic, err)
	}
	return nil
}

func checkPush(cl pushClaims, cfg PushConfig, now time.Time) error {
	var errs []error
	if !slices.Contains(cfg.Issuers, cl.Issuer) {
		errs = append(errs, fmt.Errorf("iss %q: want one of %q", cl.Issuer, cfg.Issuers))
	}
	if !slices.Contains(cl.Audience, cfg.Audience) {
		errs = append(errs, fmt.Errorf("aud %q: want %q", []string(cl.Audience), cfg.Audience))
	}
	// Service account e-mails are lower case; Google writes them so.
	if !strings.EqualFold(cl.Email, cfg.Email) {
		errs = append(errs, fmt.Errorf("email %q: not the push subscription's service account %q", cl.Email, cfg.Email))
	}
	if v, _ := cl.EmailVerified.(bool); !v && cl.EmailVerified != "true" {
		errs = append(errs, errors.New("email_verified is not true"))
	}
	switch {
	case cl.Expiry == nil:
		errs = append(errs, errors.New("no exp"))
	case now.After(cl.Expiry.Time().Add(clockSkew)):
		errs = append(errs, fmt.Errorf("expired at %s", cl.Expiry.Time().UTC().Format(time.RFC3339)))
	}
	if cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(clockSkew)) {
		errs = append(errs, errors.New("iat is in the future"))
	}
	return errors.Join(errs...)
}

// Event is a Marketplace message as the push delivers it: the §3.2 payload
// of the §3.4 envelope.
type Event struct {
	ID       string // eventId, or the Pub/Sub messageId when there is none
	Type     string // eventType, e.g. ENTITLEMENT_ACTIVE
	Provider string // providerId, "" when absent
	// Entitlement is the entitlement's bare id; "" for an account event.
	Entitlement string
	// Account is the account's bare id of an account event.
	Account     string
	PublishedAt time.Time // zero when the envelope has none
}

type envelope struct {
	Message struct {
		Data          string `json:"data"`
		MessageID     string `json:"messageId"`
		MessageIDOld  string `json:"message_id"`
		PublishTime   string `json:"publishTime"`
		PublishTimeOl string `json:"publish_time"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

type payload struct {
	EventID    string `json:"eventId"`
	EventType  string `json:"eventType"`
	ProviderID string `json:"providerId"`
	Account    *struct {
		ID string `json:"id"`
	} `json:"account"`
	Entitlement *struct {
		ID string `json:"id"`
	} `json:"entitlement"`
}

// ParsePush reads a wrapped Pub/Sub push body (§3.4) and the Marketplace
// payload in its base64 data (§3.2). Unknown event types and fields are
// kept, not refused: the core reads the entitlement again whatever the
// event says.
func ParsePush(body []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Event{}, fmt.Errorf("push body: not a Pub/Sub push envelope: %w", err)
	}
	m := env.Message
	if m.Data == "" {
		return Event{}, errors.New("push body: message.data is empty (a push subscription with noWrapper, or not a Marketplace message)")
	}
	data, err := decodeBase64(m.Data)
	if err != nil {
		return Event{}, fmt.Errorf("push body: message.data: %w", err)
	}
	var p payload
	if err := json.Unmarshal(data, &p); err != nil {
		return Event{}, fmt.Errorf("push body: message.data is not a Marketplace event: %w", err)
	}
	ev := Event{ID: strings.TrimSpace(p.EventID), Type: strings.TrimSpace(p.EventType), Provider: p.ProviderID}
	if ev.ID == "" {
		ev.ID = firstNonEmpty(m.MessageID, m.MessageIDOld)
	}
	if ev.ID == "" {
		return Event{}, errors.New("push body: neither an eventId nor a messageId")
	}
	if ev.Type == "" {
		return Event{}, fmt.Errorf("push body: event %s has no eventType", ev.ID)
	}
	switch {
	case p.Entitlement != nil:
		ev.Entitlement = lastSegment(strings.TrimSpace(p.Entitlement.ID))
		if ev.Entitlement == "" {
			return Event{}, fmt.Errorf("push body: event %s names an entitlement without an id", ev.ID)
		}
	case p.Account != nil:
		ev.Account = accountID(p.Account.ID)
	}
	if t := firstNonEmpty(m.PublishTime, m.PublishTimeOl); t != "" {
		if ev.PublishedAt, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return Event{}, fmt.Errorf("push body: publishTime %q: %w", t, err)
		}
	}
	return ev, nil
}

// decodeBase64 reads Pub/Sub's standard base64, padded, tolerating the
// unpadded and URL-safe forms.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
