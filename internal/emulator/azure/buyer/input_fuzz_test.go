package buyer

import (
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// A tenant id is accepted only as a GUID, and always comes out lower case
// and as a GUID, so that private audiences compare equal.
func FuzzParseTenant(f *testing.F) {
	for _, s := range []string{buyerTenant, " {" + strings.ToUpper(otherTenant) + "} ", "", "{}", "contoso.onmicrosoft.com",
		"33333333-3333-4333-8333-33333333333", "33333333-3333-4333-8333-3333333333333", "\u00a0" + buyerTenant} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTenant(s)
		if err != nil {
			return
		}
		if !market.IsGUID(got) || got != strings.ToLower(got) {
			t.Fatalf("parseTenant(%q) = %q: not a lower-case GUID", s, got)
		}
		if again, err := parseTenant(got); err != nil || again != got {
			t.Fatalf("parseTenant(%q) = %q, %v: not stable", got, again, err)
		}
	})
}

// A seat count is digits only, 1 to maxSeats, and never wraps.
func FuzzParseSeats(f *testing.F) {
	for _, s := range []string{"1", " 12 ", "0", "-1", "+3", "1e3", "5.0", "1000000", "1000001", "99999999999999999999999", "٣", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSeats(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("parseSeats(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n < 1 || n > maxSeats {
			t.Fatalf("parseSeats(%q) = %d: out of range", s, n)
		}
		if strings.Trim(strings.TrimSpace(s), "0123456789") != "" {
			t.Fatalf("parseSeats(%q) accepted a non-digit", s)
		}
	})
}

// An address has one '@' with text on each side and no spaces, and a
// message about a bad one stays short.
func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"pat@contoso.example", " pat@x ", "pat", "@x", "x@", "a@b@c", "a b@c", "a@b\x00", strings.Repeat("a", 300) + "@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseEmail(s)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("parseEmail error is %d bytes long", len(err.Error()))
			}
			return
		}
		at := strings.IndexByte(got, '@')
		if at <= 0 || at == len(got)-1 || strings.Count(got, "@") != 1 || strings.ContainsAny(got, " \t\r\n") || len(got) > 254 {
			t.Fatalf("parseEmail(%q) = %q", s, got)
		}
	})
}

// The cookie reads back only what encode wrote, and what it reads back
// encodes to a cookie that reads back the same.
func FuzzParseBuyer(f *testing.F) {
	f.Add(buyer{Tenant: buyerTenant, Email: "pat@contoso.example"}.encode())
	f.Add("t=" + buyerTenant + "&e=pat%40x&t=" + otherTenant)
	f.Add("e=a%40b&t=%7B" + buyerTenant + "%7D")
	f.Add("t=;e=%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		b, err := parseBuyer(v)
		if err != nil {
			return
		}
		again, err := parseBuyer(b.encode())
		if err != nil || again != b {
			t.Fatalf("parseBuyer(%q) = %+v; its encoding reads back as %+v, %v", v, b, again, err)
		}
	})
}
