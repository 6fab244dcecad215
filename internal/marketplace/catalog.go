package marketplace

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
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
	Code      string    `json:"product_code"`
	Name      string    `json:"name"`
	OfferType OfferType `json:"offer_type"`
	// Dimensions are the metering dimensions, as registered with AWS.
	Dimensions []Dimension `json:"dimensions"`
}

// Dimension is a metering or contract dimension of a product.
type Dimension struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Catalog is the products marketbridge sells, by product code.
type Catalog struct {
	products map[string]Product
	order    []string
}

var productCodeRE = regexp.MustCompile(`^[-a-zA-Z0-9/=:_.@]{1,255}$`)

// NewCatalog validates products and indexes them by code.
func NewCatalog(products []Product) (*Catalog, error) {
	c := &Catalog{products: map[string]Product{}}
	var errs []error
	for i, p := range products {
		switch {
		case !productCodeRE.MatchString(p.Code):
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
	var f struct {
		Products []Product `json:"products"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return NewCatalog(f.Products)
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
