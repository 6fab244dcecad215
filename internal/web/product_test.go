package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web"
)

func TestParseProductURL(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"", true},
		{"https://app.example.com/tenants/{external_id}", true},
		{"http://localhost:3000/t/{org_id}/home?from=billing", true},
		{"https://app.example.com/{external_id}/{org_id}", true},
		{"https://app.example.com/", true},
		{"https://app.example.com/tenants/{tenant}", false},
		{"https://app.example.com/tenants/{external_id", false},
		{"https://{external_id}.example.com/", false},
		{"ftp://app.example.com/{org_id}", false},
		{"/tenants/{org_id}", false},
		{"javascript:alert(1)", false},
		{"https://user:pw@app.example.com/", false},
		{"app.example.com/{org_id}", false},
	} {
		_, err := web.ParseProductURL(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseProductURL(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
	p, _ := web.ParseProductURL("https://app.example.com/t/{external_id}?o={org_id}")
	for _, tc := range []struct {
		org       int64
		ext, want string
		buildable bool
	}{
		{7, "acme:eu.1", "https://app.example.com/t/acme:eu.1?o=7", true},
		{7, "", "", false},
	} {
		got, ok := p.For(tc.org, tc.ext)
		if got != tc.want || ok != tc.buildable {
			t.Errorf("For(%d, %q) = %q, %v; want %q, %v", tc.org, tc.ext, got, ok, tc.want, tc.buildable)
		}
	}
}

var openProductRE = regexp.MustCompile(`<a class="button" id="open-product" href="([^"]*)">Open ([^<]*)</a>`)

// openProduct is the "Open <product>" button of a page: its URL and label,
// empty when there is none.
func openProduct(body string) (href, label string) {
	m := openProductRE.FindStringSubmatch(body)
	if m == nil {
		return "", ""
	}
	return html.UnescapeString(m[1]), html.UnescapeString(m[2])
}

// After linking, the billing page and the link confirmation offer "Open
// <product>" at --product-url, with the organization's external_id or id;
// without an external_id to put in the URL, no button (#12).
func TestOpenProduct_BillingPageAndLinkConfirmation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name, template, productName string
			externalID                  string // set through the vendor API after linking; "" leaves none
			want, label                 string // want "" expects no button
		}{
			{"org_id", "https://app.example.com/orgs/{org_id}", "", "", "https://app.example.com/orgs/ORG", "Example Cloud - Pay As You Go"},
			{"external_id", "https://app.example.com/tenants/{external_id}/", "Example Cloud", "acme:eu-1", "https://app.example.com/tenants/acme:eu-1/", "Example Cloud"},
			{"external_id unset", "https://app.example.com/tenants/{external_id}", "", "", "", ""},
			{"no product url", "", "Example Cloud", "acme", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := web.ParseProductURL(tc.template)
				if err != nil {
					t.Fatal(err)
				}
				a := newApp(t, db, func(c *web.Config) { c.ProductURL, c.ProductName = p, tc.productName })
				_, agreement := a.subscribe(market.DemoPAYGCode)
				b := a.signUp(strings.ReplaceAll(tc.name, " ", "-") + "@example.com")
				b.fulfill(a.setUpToken(agreement))
				linkPage := pathOf(b.get("/marketplace/aws/setup").location)
				if href, _ := openProduct(b.get(linkPage).body); href != "" {
					t.Fatalf("the link page offers %q before the link", href)
				}
				r := b.post(linkPage+"/link", url.Values{"org": {"new"}, "name": {"Tenant " + tc.name}})
				if r.status != http.StatusSeeOther {
					t.Fatalf("link: %d %s", r.status, r.body)
				}
				billing := pathOf(r.location)
				orgID := strings.Split(billing, "/")[2]
				if tc.externalID != "" {
					_, tok := a.serviceToken("crm", org.ScopeWrite)
					if r := a.call("PUT", "/api/v1/organizations/"+orgID+"/external_id", tok, `{"external_id":"`+tc.externalID+`"}`); r.status != http.StatusOK {
						t.Fatalf("set external_id: %d %s", r.status, r.body)
					}
				}
				// The overview names the tenant, when there is one.
				overview := b.get("/orgs/" + orgID + "/").body
				if shown := strings.Contains(overview, "bills for the tenant"); shown != (tc.externalID != "") ||
					(shown && !strings.Contains(overview, "<code>"+tc.externalID+"</code>")) {
					t.Errorf("the overview names the tenant: %v, want %q", shown, tc.externalID)
				}
				want := strings.ReplaceAll(tc.want, "ORG", orgID)
				for _, page := range []string{billing, linkPage} {
					body := b.get(page).body
					href, label := openProduct(body)
					if href != want || (want != "" && label != tc.label) {
						t.Errorf("%s offers %q labelled %q; want %q labelled %q", page, href, label, want, tc.label)
					}
				}
			})
		}
	})
}
