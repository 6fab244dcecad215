package buyer

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Prices are exact: integer micro-dollars with cents always and finer
// digits only when present, for every int64.
func TestDollars(t *testing.T) {
	for _, tc := range []struct {
		in   Micros
		want string
	}{
		{0, "$0.00"}, {1, "$0.000001"}, {2_500, "$0.0025"}, {10_000, "$0.01"}, {100_000, "$0.10"}, {-500_000, "-$0.50"},
		{100_000_000, "$100.00"}, {12_000_000_000, "$12,000.00"}, {1_234_567_000_000, "$1,234,567.00"},
		{math.MaxInt64, "$9,223,372,036,854.775807"}, {math.MinInt64, "-$9,223,372,036,854.775808"},
	} {
		if got := dollars(tc.in); got != tc.want {
			t.Errorf("dollars(%d) = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestTermName(t *testing.T) {
	for in, want := range map[string]string{
		"": "month to month", "P1Y": "1 year", "P3Y": "3 years", "P6M": "6 months", "P1W": "1 week", "P30D": "30 days",
		"P1Y6M": "P1Y6M", "P0Y": "P0Y", "PXY": "PXY", "1Y": "1Y", "P9Z": "P9Z",
	} {
		if got := termName(in); got != want {
			t.Errorf("termName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserIdentity(t *testing.T) {
	a, b := userIdentity("pat@example.com"), userIdentity("PAT@example.com")
	if a != b || len(a) != 21 || strings.Trim(a, "0123456789") != "" || a == userIdentity("sam@example.com") {
		t.Errorf("userIdentity: %q, %q", a, b)
	}
}

func TestConfigValidate(t *testing.T) {
	m := newFakeMarket()
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Market: m}, true},
		{Config{Market: m, Prefix: DefaultPrefix}, true},
		{Config{Market: m, Prefix: "/google/buyer/"}, false},
		{Config{Market: m, Prefix: "google"}, false},
		{Config{Market: m, Prefix: `/a"b`}, false},
		{Config{Prefix: "/x"}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
}

// New with crypto/rand serves the pages at the house's mount point.
func TestNew_DefaultPrefix(t *testing.T) {
	pages, err := New(Config{Market: newFakeMarket(), Prefix: DefaultPrefix})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(DefaultPrefix+"/", http.StripPrefix(DefaultPrefix, pages.Handler()))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1:8090"+DefaultPrefix+"/signin", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `action="/google/buyer/signin"`) || !strings.Contains(w.Body.String(), `value="billingAccounts/`) {
		t.Errorf("GET %s/signin: %d\n%s", DefaultPrefix, w.Code, w.Body)
	}
}
