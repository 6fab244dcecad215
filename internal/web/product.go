package web

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ProductURL is where "Open <product>" leads from an organization's billing
// page and the link confirmation: the vendor's product, at the tenant the
// organization bills for (--product-url, #12). Its template may hold
// {external_id} and {org_id}, each replaced, path-escaped, by the
// organization's; the zero ProductURL offers no button.
type ProductURL struct{ template string }

// Placeholders of a product URL.
const (
	placeholderExternalID = "{external_id}"
	placeholderOrgID      = "{org_id}"
)

// ParseProductURL checks a product URL template: an absolute http(s) URL
// whose only placeholders are {external_id} and {org_id}, neither in the
// host. Empty is the zero ProductURL.
func ParseProductURL(template string) (ProductURL, error) {
	if template == "" {
		return ProductURL{}, nil
	}
	// Each placeholder becomes a plain value, so that what remains must be
	// a URL with no other braces.
	probe := strings.NewReplacer(placeholderExternalID, "x", placeholderOrgID, "1").Replace(template)
	if strings.ContainsAny(probe, "{}") {
		return ProductURL{}, fmt.Errorf("%q: the only placeholders are %s and %s", template, placeholderExternalID, placeholderOrgID)
	}
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ProductURL{}, fmt.Errorf("%q is not an http(s) URL such as https://app.example.com/tenants/{external_id}", template)
	}
	if host, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(template, "https://"), "http://"), "/"); strings.Contains(host, "{") {
		return ProductURL{}, errors.New("a placeholder may not be in the product URL's host")
	}
	return ProductURL{template: template}, nil
}

// String is the template as given.
func (p ProductURL) String() string { return p.template }

// For is the URL of the organization's tenant; false when there is none to
// offer: no template, or a template with {external_id} for an organization
// without one.
func (p ProductURL) For(orgID int64, externalID string) (string, bool) {
	if p.template == "" || (externalID == "" && strings.Contains(p.template, placeholderExternalID)) {
		return "", false
	}
	return strings.NewReplacer(placeholderExternalID, url.PathEscape(externalID),
		placeholderOrgID, strconv.FormatInt(orgID, 10)).Replace(p.template), true
}

// productLink is the "Open <product>" button of a page.
type productLink struct {
	URL  string
	Name string // the product's name, for the label
}

// productLink is the button for an organization billed for product (the
// subscription's product name, empty when unknown); nil when no URL can be
// built for it.
func (s *Server) productLink(orgID int64, externalID, product string) *productLink {
	u, ok := s.cfg.ProductURL.For(orgID, externalID)
	if !ok {
		return nil
	}
	name := s.cfg.ProductName
	if name == "" {
		name = product
	}
	if name == "" {
		name = "the product"
	}
	return &productLink{URL: u, Name: name}
}
