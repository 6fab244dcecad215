package buyer

import (
	"strings"
	"testing"
)

// A billing account comes out as one canonical resource name, or not at
// all, and reads back as itself.
func FuzzParseBillingAccount(f *testing.F) {
	for _, s := range []string{buyerBA, " 01a2b3-c4d5e6-f7a8b9 ", "BILLINGACCOUNTS/01A2B3-C4D5E6-F7A8B9", "billingAccounts/",
		"01A2B3C4D5E6F7A8B9", "01A2B3-C4D5E6-F7A8BG", "billingAccounts/01A2B3-C4D5E6-F7A8B9/x", "ß", "\u00a0" + buyerBA} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseBillingAccount(s)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("message is %d bytes long", len(err.Error()))
			}
			return
		}
		id, ok := strings.CutPrefix(got, billingPrefix)
		if !ok || len(id) != 20 || strings.Trim(id, "0123456789ABCDEF-") != "" || strings.Count(id, "-") != 2 {
			t.Fatalf("parseBillingAccount(%q) = %q", s, got)
		}
		if again, err := parseBillingAccount(got); err != nil || again != got {
			t.Fatalf("parseBillingAccount(%q) = %q, %v: not stable", got, again, err)
		}
	})
}

// An address has one '@', no spaces or controls, no display name, and a
// message about a bad one stays short.
func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{buyerEmail, " pat@x ", "pat", "@x", "x@", "a@b@c", "a b@c", "a@b\x00", "Pat <pat@x.example>",
		`"a b"@c`, "(c)a@b", strings.Repeat("a", 300) + "@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseEmail(s)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("message is %d bytes long", len(err.Error()))
			}
			return
		}
		at := strings.IndexByte(got, '@')
		if at <= 0 || at == len(got)-1 || strings.Count(got, "@") != 1 || strings.ContainsAny(got, " \t\r\n<>") || len(got) > 254 {
			t.Fatalf("parseEmail(%q) = %q", s, got)
		}
		if len(userIdentity(got)) != 21 {
			t.Fatalf("userIdentity(%q) = %q", got, userIdentity(got))
		}
	})
}

// The cookie reads back only what encode wrote, and what it reads back
// encodes to a cookie that reads back the same.
func FuzzParseSession(f *testing.F) {
	f.Add(session{BillingAccount: buyerBA, Email: buyerEmail}.encode())
	f.Add("b=" + buyerBA + "&e=pat%40x&b=" + otherBA)
	f.Add("e=a%40b&b=01a2b3-c4d5e6-f7a8b9")
	f.Add("b=" + buyerBA + "&e=pat%40x&x=1")
	f.Add("b=;e=%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := parseSession(v)
		if err != nil {
			return
		}
		again, err := parseSession(s.encode())
		if err != nil || again != s {
			t.Fatalf("parseSession(%q) = %+v; its encoding reads back as %+v, %v", v, s, again, err)
		}
	})
}

// Only the token made for a nonce passes, and only for a well-formed
// nonce.
func FuzzCheckCSRF(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Add(testNonce, csrfToken(key, testNonce))
	f.Add(testNonce, "")
	f.Add("", csrfToken(key, ""))
	f.Add(strings.ToUpper(testNonce), csrfToken(key, strings.ToUpper(testNonce)))
	f.Add("ffffffffffffffffffffffffffffffff", csrfToken(key, testNonce))
	f.Fuzz(func(t *testing.T, nonce, token string) {
		ok := checkCSRF(key, nonce, token)
		if ok != (validNonce(nonce) && token == csrfToken(key, nonce)) {
			t.Fatalf("checkCSRF(%q, %q) = %v", nonce, token, ok)
		}
		if validNonce(nonce) && !checkCSRF(key, nonce, csrfToken(key, nonce)) {
			t.Fatalf("the token made for %q does not pass", nonce)
		}
	})
}

// A choice picks one of the listed plans exactly, or nothing: a public
// plan never stands in for a private offer, nor one offer for another.
func FuzzPickPlan(f *testing.F) {
	plans := newFakeMarket().products[0].Plans
	plans = append(plans, Plan{ID: "enterprise", Offer: offerName})
	for _, s := range []string{"plan:standard", "plan:team", "offer:" + offerName, "plan:enterprise", "offer:", "plan:", "", "standard",
		"offer:" + offerName + " ", "PLAN:team", "plan:standard\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, choice string) {
		pl, err := pickPlan(plans, choice)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("message is %d bytes long", len(err.Error()))
			}
			return
		}
		if choiceOf(pl) != choice {
			t.Fatalf("pickPlan(%q) = %+v, whose choice is %q", choice, pl, choiceOf(pl))
		}
	})
}

// The search box is trimmed and bounded, never splitting a rune.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", " metered ", strings.Repeat("é", 80), strings.Repeat("a", 99) + "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := parseQuery(s)
		if len(q) > maxQuery || !strings.HasPrefix(strings.TrimSpace(s), q) {
			t.Fatalf("parseQuery(%q) = %q", s, q)
		}
		if len(strings.TrimSpace(s)) <= maxQuery && q != strings.TrimSpace(s) {
			t.Fatalf("parseQuery(%q) = %q: cut a short query", s, q)
		}
	})
}
