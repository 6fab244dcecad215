package buyer

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// maxSeats bounds a typed seat count before the market checks the plan's
// range: Microsoft's live maximum (contract §1.7).
const maxSeats = 1_000_000

// parseTenant reads an Entra tenant id as people paste it: surrounding
// spaces and braces are dropped, and the result is lower case, the form
// Entra writes in tokens, so one tenant is one string everywhere (the
// market compares private audiences exactly).
func parseTenant(s string) (string, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
		t = t[1 : len(t)-1]
	}
	if !market.IsGUID(t) {
		return "", fmt.Errorf("%q is not a tenant id: enter a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47 (Microsoft Entra admin center, Overview, Tenant ID)", shorten(s))
	}
	return strings.ToLower(t), nil
}

// parseEmail checks that s looks like an address: one '@' with text on
// both sides, no spaces or control characters, at most 254 characters
// (RFC 5321). The emulator sends no mail; the address only appears in the
// subscription's purchaser and beneficiary.
func parseEmail(s string) (string, error) {
	e := strings.TrimSpace(s)
	at := strings.IndexByte(e, '@')
	bad := len(e) == 0 || len(e) > 254 || at <= 0 || at != strings.LastIndexByte(e, '@') || at == len(e)-1 ||
		strings.ContainsFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar })
	if bad {
		return "", fmt.Errorf("%q is not an e-mail address: enter one like buyer@contoso.example", shorten(s))
	}
	return e, nil
}

// parseSeats reads a seat count typed into a number field: digits only
// (no sign, no decimals), 1 to maxSeats. The plan's own range is the
// market's to check, so its message names the plan.
func parseSeats(s string) (int, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("enter the number of users (seats)")
	}
	n := 0
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number of users: enter a whole number like 5", shorten(s))
		}
		n = n*10 + int(c-'0')
		if n > maxSeats {
			return 0, fmt.Errorf("%s users is more than a plan can have (%d)", shorten(t), maxSeats)
		}
	}
	if n == 0 {
		return 0, errors.New("a subscription needs at least 1 user")
	}
	return n, nil
}

// buyer is who the browser acts as.
type buyer struct {
	Tenant string
	Email  string
}

// encode is the cookie value: URL-encoded pairs, all cookie-safe characters.
func (b buyer) encode() string {
	return url.Values{"t": {b.Tenant}, "e": {b.Email}}.Encode()
}

// parseBuyer reads the cookie back. Anything that is not what encode
// wrote is an error, and the browser is simply signed out.
func parseBuyer(v string) (buyer, error) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return buyer{}, err
	}
	if len(q["t"]) != 1 || len(q["e"]) != 1 {
		return buyer{}, errors.New("want one tenant and one e-mail")
	}
	t, err := parseTenant(q.Get("t"))
	if err != nil {
		return buyer{}, err
	}
	e, err := parseEmail(q.Get("e"))
	if err != nil {
		return buyer{}, err
	}
	return buyer{Tenant: t, Email: e}, nil
}

// shorten keeps error messages readable when someone pastes a page.
func shorten(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
