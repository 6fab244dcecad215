package buyer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// billingPrefix starts a billing account's resource name.
const billingPrefix = "billingAccounts/"

// parseBillingAccount reads a Cloud Billing account as people paste it
// from the console ("01A2B3-C4D5E6-F7A8B9", with or without
// "billingAccounts/", any case, surrounding spaces) and returns the
// resource name in the one form the market compares:
// "billingAccounts/01A2B3-C4D5E6-F7A8B9".
func parseBillingAccount(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) >= len(billingPrefix) && strings.EqualFold(t[:len(billingPrefix)], billingPrefix) {
		t = t[len(billingPrefix):]
	}
	t = strings.ToUpper(t)
	ok := len(t) == 20 && t[6] == '-' && t[13] == '-'
	for i := 0; ok && i < len(t); i++ {
		c := t[i]
		ok = i == 6 || i == 13 || '0' <= c && c <= '9' || 'A' <= c && c <= 'F'
	}
	if !ok {
		return "", fmt.Errorf("%s is not a billing account: enter its id like 01A2B3-C4D5E6-F7A8B9 (Billing, Account management, Billing account ID)", quoteShort(s))
	}
	return billingPrefix + t, nil
}

// parseEmail accepts a bare address (no display name, no spaces, at most
// 254 characters, RFC 5321). The emulator sends no mail: the address is
// the buyer the orders are placed by, and the source of the token's
// user_identity.
func parseEmail(s string) (string, error) {
	e := strings.TrimSpace(s)
	bad := func() error {
		return fmt.Errorf("%s is not an e-mail address: enter one like buyer@example.com", quoteShort(s))
	}
	if e == "" || len(e) > 254 || strings.ContainsFunc(e, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}) {
		return "", bad()
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e || strings.Count(e, "@") != 1 {
		return "", bad()
	}
	return e, nil
}

// userIdentity is the buyer's google.user_identity: Google sends an
// obfuscated numeric id of the signed-in Google account; the emulator
// derives a stable 21-digit one from the e-mail, so one buyer is one id
// across orders and restarts.
func userIdentity(email string) string {
	sum := sha256.Sum256([]byte("user_identity:" + strings.ToLower(email)))
	n := new(big.Int).SetBytes(sum[:])
	d := n.Text(10)
	return "1" + d[len(d)-20:] // SHA-256 has 77-78 digits
}

// session is who the browser acts as.
type session struct {
	BillingAccount string
	Email          string
}

// encode is the cookie value: URL-encoded pairs, all cookie-safe.
func (s session) encode() string {
	return url.Values{"b": {s.BillingAccount}, "e": {s.Email}}.Encode()
}

// parseSession reads the cookie back. Anything that is not what encode
// wrote is an error, and the browser is simply signed out.
func parseSession(v string) (session, error) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return session{}, err
	}
	if len(q) != 2 || len(q["b"]) != 1 || len(q["e"]) != 1 {
		return session{}, errors.New("want one billing account and one e-mail")
	}
	b, err := parseBillingAccount(q.Get("b"))
	if err != nil {
		return session{}, err
	}
	e, err := parseEmail(q.Get("e"))
	if err != nil {
		return session{}, err
	}
	return session{BillingAccount: b, Email: e}, nil
}

// A CSRF nonce is 16 random bytes in lower-case hex, kept in a cookie; the
// token in each form is its HMAC under the pages' key, so another site can
// neither read nor plant a pair that passes.
const nonceLen = 32

func validNonce(n string) bool {
	if len(n) != nonceLen {
		return false
	}
	_, err := hex.DecodeString(n)
	return err == nil && strings.ToLower(n) == n
}

// csrfToken is the form token for a browser's nonce.
func csrfToken(key []byte, nonce string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("google-buyer-csrf:" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether token is the one for nonce.
func checkCSRF(key []byte, nonce, token string) bool {
	if !validNonce(nonce) || token == "" {
		return false
	}
	return hmac.Equal([]byte(csrfToken(key, nonce)), []byte(token))
}

// A choice names what the buyer orders: "plan:<plan id>" for a public
// plan, "offer:<resource name>" for a private offer (which carries its plan).
const (
	choicePlan  = "plan:"
	choiceOffer = "offer:"
)

// choiceOf is the form value that picks pl.
func choiceOf(pl Plan) string {
	if pl.Offer != "" {
		return choiceOffer + pl.Offer
	}
	return choicePlan + pl.ID
}

// pickPlan finds the buyer's choice among the plans the product offers
// this billing account; anything else is an error that names it.
func pickPlan(plans []Plan, choice string) (Plan, error) {
	var kind, id string
	switch {
	case strings.HasPrefix(choice, choicePlan):
		kind, id = "a plan", choice[len(choicePlan):]
	case strings.HasPrefix(choice, choiceOffer):
		kind, id = "a private offer made to your billing account", choice[len(choiceOffer):]
	default:
		return Plan{}, errors.New("choose a plan or a private offer")
	}
	for _, pl := range plans {
		if id != "" && choiceOf(pl) == choice {
			return pl, nil
		}
	}
	return Plan{}, fmt.Errorf("%s is not %s for this product; choose one the product page lists", quoteShort(id), kind)
}

// maxQuery bounds the product search box, in bytes.
const maxQuery = 100

// parseQuery reads the product search box: trimmed, cut to maxQuery bytes
// on a rune boundary.
func parseQuery(s string) string {
	return cut(strings.TrimSpace(s), maxQuery)
}

// shorten keeps messages readable when someone pastes a page.
func shorten(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return cut(s, limit) + "…"
}

// quoteShort quotes s for an error message, at most about 80 bytes however
// much someone pasted: the bound is on the quoted form, because a control
// or invalid byte quotes as four.
func quoteShort(s string) string {
	const limit = 80
	p := cut(s, limit)
	for len(strconv.Quote(p)) > limit {
		p = cut(p, len(p)-1)
	}
	if p != s {
		return strconv.Quote(p) + "…"
	}
	return strconv.Quote(p)
}

// cut is s at most n bytes long, not splitting a rune.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // not the start of a rune
		n--
	}
	return s[:n]
}
