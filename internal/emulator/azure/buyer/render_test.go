package buyer

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// Prices are exact: integer micro-dollars written with cents always and
// finer digits only when present, for every int64.
func TestDollars(t *testing.T) {
	for _, tc := range []struct {
		in   market.Micros
		want string
	}{
		{0, "$0.00"},
		{1, "$0.000001"},
		{2_500, "$0.0025"},
		{10_000, "$0.01"},
		{-500_000, "-$0.50"},
		{12_000_000, "$12.00"},
		{1_000_000_000, "$1,000.00"},
		{50_000_000_000, "$50,000.00"},
		{math.MaxInt64, "$9,223,372,036,854.775807"},
		{math.MinInt64, "-$9,223,372,036,854.775808"},
	} {
		if got := dollars(tc.in); got != tc.want {
			t.Errorf("dollars(%d) = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestCents(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "$0.00"}, {5, "$0.05"}, {10000, "$100.00"}, {123456789, "$1,234,567.89"}, {-1, "-$0.01"},
		{math.MaxInt64, "$92,233,720,368,547,758.07"}, {math.MinInt64, "-$92,233,720,368,547,758.08"},
	} {
		if got := cents(tc.in); got != tc.want {
			t.Errorf("cents(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTermNames(t *testing.T) {
	for unit, want := range map[string][2]string{
		"P1M": {"1 month", "month"}, "P1Y": {"1 year", "year"}, "P3Y": {"3 years", "3 years"}, "P9Z": {"P9Z", "P9Z"},
	} {
		if got := [2]string{termName(unit), termPer(unit)}; got != want {
			t.Errorf("term %s: %q, want %q", unit, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	m, err := market.Open(t.Context(), market.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Market: m}, true},
		{Config{Market: m, Prefix: "/azure/buyer"}, true},
		{Config{Market: m, Prefix: "/azure/buyer/"}, false},
		{Config{Market: m, Prefix: "azure"}, false},
		{Config{Market: m, Prefix: `/a"b`}, false},
		{Config{Prefix: "/x"}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
}

// New serves the pages for the house's mount point.
func TestNew_DefaultPrefix(t *testing.T) {
	m, err := market.Open(t.Context(), market.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := NewPages(Config{Market: m, Prefix: DefaultPrefix})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(DefaultPrefix+"/", http.StripPrefix(DefaultPrefix, pages))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", DefaultPrefix+"/signin", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `action="/azure/buyer/signin"`) {
		t.Errorf("GET %s/signin: %d\n%s", DefaultPrefix, w.Code, w.Body)
	}
}
