package marketplace

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzLoadCatalog fuzzes the --catalog file (#11). Properties: no panic;
// a file is either refused with an error or gives a catalog that keeps every
// promise docs/aws-setup.md makes and the rest of marketbridge relies on
// (checkCatalog), read from nothing but the file's one JSON object.
func FuzzLoadCatalog(f *testing.F) {
	for _, path := range []string{"../../cmd/marketbridge/demo-catalog.json"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(docsCatalogExample(f))
	f.Add([]byte(`{"products":[{"product_code":"p","name":"P","offer_type":"payg","metered_dimension":"d","dimensions":[{"name":"d"}]}]}`))
	f.Add([]byte(`{"products":[{"product_code":"c","name":"C","offer_type":"contract","committed_dimension":"k","dimensions":[{"name":"k","description":"Committed"}]}],` +
		`"meters":[{"name":"m","unit":"GB","price_micros":1}]}`))
	f.Add([]byte(`{"products":[],"typo":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// LoadCatalog is os.ReadFile and parseCatalog: the fuzzer skips
		// the file, which would cost it most of its time.
		c, err := parseCatalog("fuzz.json", data)
		if err != nil {
			if c != nil {
				t.Fatalf("parseCatalog returned a catalog with its error %v", err)
			}
			return
		}
		if err := checkCatalog(c, data); err != nil {
			t.Fatalf("accepted a catalog that breaks a promise: %v\n%s", err, data)
		}
	})
}

// docsCatalogExample is the catalog docs/aws-setup.md shows the operator.
func docsCatalogExample(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("../../docs/aws-setup.md")
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		tb.Fatal("docs/aws-setup.md has no ```json example")
	}
	return []byte(example)
}

var (
	awsProductCode = regexp.MustCompile(`^[-a-zA-Z0-9/=:_.@]{1,255}$`)
	meterName      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,127}$`)
)

// checkCatalog states, independently of catalog.go, what an accepted
// catalog file guarantees.
func checkCatalog(c *Catalog, data []byte) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	// One JSON object, nothing before or after it: a file cut short, two
	// files concatenated or a stray edit is an error, not half a catalog.
	var top map[string]json.RawMessage
	if !json.Valid(data) || json.Unmarshal(data, &top) != nil || top == nil {
		fail("the file is not one JSON object")
	}
	products := c.Products()
	if len(products) == 0 {
		fail("a catalog file with no products sells nothing")
	}
	seen := map[string]bool{}
	for _, p := range products {
		if !awsProductCode.MatchString(p.Code) {
			fail("product code %q is not an AWS product code", p.Code)
		}
		if seen[p.Code] {
			fail("product code %q listed twice", p.Code)
		}
		seen[p.Code] = true
		if got, ok := c.Product(p.Code); !ok || got.Code != p.Code {
			fail("Product(%q) does not find it", p.Code)
		}
		if strings.TrimSpace(p.Name) == "" {
			fail("product %q has no name", p.Code)
		}
		dims := map[string]bool{}
		for _, d := range p.Dimensions {
			// BatchMeterUsage takes 1 to 255 characters; metering records
			// store the name, and PostgreSQL text cannot hold NUL.
			if n := utf8.RuneCountInString(d.Name); n == 0 || n > 255 || strings.ContainsFunc(d.Name, unicode.IsControl) {
				fail("product %q: dimension %q is not an AWS dimension name", p.Code, d.Name)
			}
			if dims[d.Name] {
				fail("product %q: dimension %q listed twice", p.Code, d.Name)
			}
			dims[d.Name] = true
		}
		if len(dims) == 0 {
			fail("product %q has no dimension", p.Code)
		}
		if p.MeteredDimension != "" && !dims[p.MeteredDimension] {
			fail("product %q: metered_dimension %q is not one of its dimensions", p.Code, p.MeteredDimension)
		}
		if p.CommittedDimension != "" && !dims[p.CommittedDimension] {
			fail("product %q: committed_dimension %q is not one of its dimensions", p.Code, p.CommittedDimension)
		}
		switch p.OfferType {
		case OfferPAYG:
			// Pay-as-you-go is billed only through its metered dimension,
			// and has no committed credits.
			if p.MeteredDimension == "" || p.CommittedDimension != "" {
				fail("payg product %q: wants a metered_dimension and no committed_dimension", p.Code)
			}
		case OfferContract:
			// Committed credits are an entitlement, usage is metered: one
			// dimension cannot be both.
			if p.CommittedDimension != "" && p.CommittedDimension == p.MeteredDimension {
				fail("contract product %q: committed and metered dimension are both %q", p.Code, p.MeteredDimension)
			}
		default:
			fail("product %q: offer_type %q", p.Code, p.OfferType)
		}
	}
	meters := map[string]bool{}
	for _, m := range c.Meters() {
		if !meterName.MatchString(m.Name) {
			fail("meter name %q", m.Name)
		}
		if meters[m.Name] {
			fail("meter %q listed twice", m.Name)
		}
		meters[m.Name] = true
		if got, ok := c.Meter(m.Name); !ok || got != m {
			fail("Meter(%q) does not find it", m.Name)
		}
		if m.PriceMicros < 0 {
			fail("meter %q has a negative price", m.Name)
		}
	}
	return errors.Join(errs...)
}
