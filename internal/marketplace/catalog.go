package marketplace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OfferType is how a product is sold.
type OfferType string

const (
	OfferPAYG     OfferType = "payg"     // public pay-as-you-go: metered usage
	OfferContract OfferType = "contract" // committed-spend contract, usually a private offer
)

// Label is the offer type as the billing page names it.
func (t OfferType) Label() string {
	if t == OfferContract {
		return "Committed-spend contract"
	}
	return "Pay as you go"
}

// Product is one marketplace product the seller has configured.
type Product struct {
	// Marketplace is where it is sold: aws (the default); azure, whose
	// product_code is the offer id of Partner Center (#15); or gcp, whose
	// product_code is the product's service name (#16).
	Marketplace string    `json:"marketplace,omitempty"`
	Code        string    `json:"product_code"`
	Name        string    `json:"name"`
	OfferType   OfferType `json:"offer_type"`
	// Dimensions are the metering dimensions, as registered with AWS.
	Dimensions []Dimension `json:"dimensions"`
	// MeteredDimension receives usage in $0.01 units: the PAYG dimension, or
	// a contract's overage (consumption) dimension (R11, R14).
	MeteredDimension string `json:"metered_dimension"`
	// CommittedDimension is a contract's entitlement of committed credits,
	// in whole $1 units (R11, R12).
	CommittedDimension string `json:"committed_dimension,omitempty"`
	// ProductID is AWS's id of the product ("prod-…", on the AWS Marketplace
	// Management Portal), which the Agreement API names products by;
	// optional: it lets a set-up find its agreement when the buyer holds
	// agreements for several of the seller's products (#13).
	ProductID string `json:"product_id,omitempty"`
}

// Meter is a kind of usage the vendor's product reports, and its price in
// credits (1 credit = $1). All channels share this one price list (R11).
type Meter struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Unit        string `json:"unit"`
	// PriceMicros is the price of one unit in micro-dollars; usage comes in
	// micro-units, so rating is exact integer arithmetic.
	PriceMicros int64 `json:"price_micros"`
}

// Dimension is a metering or contract dimension of a product.
type Dimension struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Catalog is the products marketbridge sells, by product code, and the
// meters their usage is rated with.
type Catalog struct {
	products map[string]Product
	order    []string
	meters   map[string]Meter
	mOrder   []string
}

var productCodeRE = regexp.MustCompile(`^[-a-zA-Z0-9/=:_.@]{1,255}$`)

// serviceNameRE is a Google service name: a DNS name of two labels or
// more, which is what Service Control and the Procurement API's
// productExternalName call the product.
var serviceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`)

// offerIDRE is Partner Center's rule for offer ids.
var offerIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,49}$`)

var meterNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:/-]{0,127}$`)

// NewCatalog validates products and meters and indexes them.
func NewCatalog(products []Product, meters ...Meter) (*Catalog, error) {
	c := &Catalog{products: map[string]Product{}, meters: map[string]Meter{}}
	var errs []error
	for i, m := range meters {
		switch {
		case !meterNameRE.MatchString(m.Name):
			errs = append(errs, fmt.Errorf("meters[%d]: name %q: letters, digits and ._:/- (at most 128)", i, m.Name))
		case c.meters[m.Name].Name != "":
			errs = append(errs, fmt.Errorf("meters[%d]: %q appears twice", i, m.Name))
		}
		if m.PriceMicros < 0 {
			errs = append(errs, fmt.Errorf("meters[%d]: price_micros must not be negative", i))
		}
		c.meters[m.Name] = m
		c.mOrder = append(c.mOrder, m.Name)
	}
	for i, p := range products {
		if p.Marketplace == "" {
			p.Marketplace = AWS
		}
		switch {
		case Label(p.Marketplace) == "":
			errs = append(errs, fmt.Errorf("products[%d]: marketplace %q: want aws, azure or gcp", i, p.Marketplace))
		case p.Marketplace == Azure && !offerIDRE.MatchString(p.Code):
			errs = append(errs, fmt.Errorf("products[%d]: product_code %q is not a Partner Center offer id (lowercase letters, digits, - and _, at most 50)", i, p.Code))
		case p.Marketplace == GCP && (len(p.Code) > 253 || !serviceNameRE.MatchString(p.Code)):
			errs = append(errs, fmt.Errorf("products[%d]: product_code %q is not a Google service name (the product's service domain in Producer Portal, "+
				"such as example.gcpmarketplace.example.com)", i, p.Code))
		case p.Marketplace == AWS && !productCodeRE.MatchString(p.Code):
			errs = append(errs, fmt.Errorf("products[%d]: product_code %q is not an AWS product code", i, p.Code))
		case c.products[p.Code].Code != "":
			errs = append(errs, fmt.Errorf("products[%d]: product_code %q appears twice", i, p.Code))
		}
		if strings.TrimSpace(p.Name) == "" {
			errs = append(errs, fmt.Errorf("products[%d]: name is required", i))
		}
		if p.OfferType != OfferPAYG && p.OfferType != OfferContract {
			errs = append(errs, fmt.Errorf("products[%d]: offer_type %q: want payg or contract", i, p.OfferType))
		}
		if len(p.Dimensions) == 0 {
			errs = append(errs, fmt.Errorf("products[%d]: at least one dimension is required", i))
		}
		dims := map[string]bool{}
		for j, d := range p.Dimensions {
			// AWS takes 1 to 255 characters; the name is stored with each
			// metering record, and PostgreSQL text cannot hold NUL.
			if n := utf8.RuneCountInString(d.Name); n < 1 || n > 255 || strings.ContainsFunc(d.Name, unicode.IsControl) {
				errs = append(errs, fmt.Errorf("products[%d]: dimensions[%d]: name %q: 1 to 255 characters, no control characters", i, j, d.Name))
			}
			if dims[d.Name] {
				errs = append(errs, fmt.Errorf("products[%d]: dimension %q appears twice", i, d.Name))
			}
			dims[d.Name] = true
		}
		if p.MeteredDimension != "" && !dims[p.MeteredDimension] {
			errs = append(errs, fmt.Errorf("products[%d]: metered_dimension %q is not one of its dimensions", i, p.MeteredDimension))
		}
		if p.CommittedDimension != "" && !dims[p.CommittedDimension] {
			errs = append(errs, fmt.Errorf("products[%d]: committed_dimension %q is not one of its dimensions", i, p.CommittedDimension))
		}
		switch {
		// Pay-as-you-go earns only through its metered dimension: without
		// one it would never be metered. Committed credits are a contract's.
		case p.OfferType == OfferPAYG && (p.MeteredDimension == "" || p.CommittedDimension != ""):
			errs = append(errs, fmt.Errorf("products[%d]: payg takes a metered_dimension and no committed_dimension", i))
		// Committed credits are an entitlement, usage is metered: AWS
		// refuses usage on a contract dimension.
		case p.OfferType == OfferContract && p.CommittedDimension != "" && p.CommittedDimension == p.MeteredDimension:
			errs = append(errs, fmt.Errorf("products[%d]: committed_dimension and metered_dimension are both %q", i, p.MeteredDimension))
		}
		c.products[p.Code] = p
		c.order = append(c.order, p.Code)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

// LoadCatalog reads a catalog file: {"products": [...]}, see docs/aws-setup.md.
func LoadCatalog(path string) (*Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return parseCatalog(path, b)
}

// parseCatalog reads a catalog file's content; path is for messages.
func parseCatalog(path string, b []byte) (*Catalog, error) {
	var f struct {
		Meters   []Meter   `json:"meters"`
		Products []Product `json:"products"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	// Decode stops after the first value: whatever follows (a second
	// catalog pasted below, a stray edit) would be ignored without a word.
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("catalog %s: something follows the catalog's closing brace at byte %d", path, end)
	}
	// An empty file, {} or null is a mistake, not a catalog that sells
	// nothing: serving without --catalog is how to sell nothing.
	if len(f.Products) == 0 {
		return nil, fmt.Errorf("catalog %s: no products: list each AWS Marketplace product you sell (docs/aws-setup.md)", path)
	}
	return NewCatalog(f.Products, f.Meters...)
}

// Product returns the product with code.
func (c *Catalog) Product(code string) (Product, bool) {
	p, ok := c.products[code]
	return p, ok
}

// Products lists the products in the order they were configured.
func (c *Catalog) Products() []Product {
	out := make([]Product, 0, len(c.order))
	for _, code := range c.order {
		out = append(out, c.products[code])
	}
	return out
}

// Meter returns the meter named name.
func (c *Catalog) Meter(name string) (Meter, bool) {
	m, ok := c.meters[name]
	return m, ok
}

// Meters lists the meters in the order they were configured.
func (c *Catalog) Meters() []Meter {
	out := make([]Meter, 0, len(c.mOrder))
	for _, n := range c.mOrder {
		out = append(out, c.meters[n])
	}
	return out
}
