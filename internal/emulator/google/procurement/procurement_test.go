package procurement

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	cp "google.golang.org/api/cloudcommerceprocurement/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
)

const (
	provider = "example-cloud-provider"
	svc      = "example-cloud.gcpmarketplace.example.com"
	ba       = "billingAccounts/01A2B3-C4D5E6-F7A8B9"
)

type harness struct {
	m    *market.Market
	api  *cp.Service
	srv  *httptest.Server
	base string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	m, err := market.Open(ctx, market.Config{ProviderID: provider})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetSettings(ctx, market.Settings{ActivationDelay: -1}); err != nil {
		t.Fatal(err)
	}
	metric := map[string]int64{svc + "/usage_cents": 10000}
	if err := m.PutProduct(ctx, market.Product{ServiceName: svc, Plans: []market.Plan{
		{Name: "standard", Metrics: metric}, {Name: "team", Metrics: metric}}}); err != nil {
		t.Fatal(err)
	}
	auth := func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") != "Bearer good" {
			return "", errors.New("no valid bearer token")
		}
		return "seller@example-cloud-provider.iam.gserviceaccount.com", nil
	}
	srv := httptest.NewServer(New(m, auth, nil))
	t.Cleanup(srv.Close)
	return &harness{m: m, srv: srv, api: client(t, srv.URL, "good"), base: "providers/" + provider}
}

func client(t *testing.T, url, token string) *cp.Service {
	t.Helper()
	api, err := cp.NewService(context.Background(), option.WithEndpoint(url+"/"),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})))
	if err != nil {
		t.Fatal(err)
	}
	return api
}

func (h *harness) order(t *testing.T, billing string) (market.Entitlement, market.Account) {
	t.Helper()
	e, a, err := h.m.Order(context.Background(), market.OrderRequest{BillingAccount: billing, Product: svc, Plan: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	return e, a
}

func status(err error) (int, string) {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code, ge.Message
	}
	return 0, ""
}

func TestLifecycleThroughOfficialClient(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	e, a := h.order(t, ba)
	acc, err := h.api.Providers.Accounts.Get(h.base + "/accounts/" + a.ID).View("ACCOUNT_VIEW_FULL").Do()
	if err != nil {
		t.Fatal(err)
	}
	if acc.Name != h.base+"/accounts/"+a.ID || acc.State != "ACCOUNT_ACTIVE" || acc.Approvals[0].Name != "signup" || acc.Approvals[0].State != "PENDING" {
		t.Fatalf("account %+v", acc)
	}
	// Approving the entitlement before the signup: FAILED_PRECONDITION.
	_, err = h.api.Providers.Entitlements.Approve(h.base+"/entitlements/"+e.ID, &cp.ApproveEntitlementRequest{}).Do()
	if code, _ := status(err); code != 400 {
		t.Fatalf("approve before signup: %v", err)
	}
	if _, err := h.api.Providers.Accounts.Approve(h.base+"/accounts/"+a.ID, &cp.ApproveAccountRequest{ApprovalName: "signup"}).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.api.Providers.Entitlements.Patch(h.base+"/entitlements/"+e.ID, &cp.Entitlement{MessageToUser: "provisioning"}).UpdateMask("messageToUser").Do(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second approval is idempotent
		if _, err := h.api.Providers.Entitlements.Approve(h.base+"/entitlements/"+e.ID, &cp.ApproveEntitlementRequest{}).Do(); err != nil {
			t.Fatalf("approve %d: %v", i, err)
		}
	}
	got, err := h.api.Providers.Entitlements.Get(h.base + "/entitlements/" + e.ID).Do()
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "ENTITLEMENT_ACTIVE" || got.Plan != "standard" || got.ProductExternalName != svc ||
		got.Account != h.base+"/accounts/"+a.ID || !strings.HasPrefix(got.UsageReportingId, "project_number:") ||
		got.OrderId != e.ID || got.MessageToUser != "" || !strings.Contains(got.Offer, "/standardOffers/") {
		t.Fatalf("entitlement %+v", got)
	}
	if _, err := h.m.RequestPlanChange(ctx, ba, e.ID, "team"); err != nil {
		t.Fatal(err)
	}
	_, err = h.api.Providers.Entitlements.ApprovePlanChange(h.base+"/entitlements/"+e.ID, &cp.ApproveEntitlementPlanChangeRequest{PendingPlanName: "standard"}).Do()
	if code, _ := status(err); code != 400 {
		t.Fatalf("approve wrong plan: %v", err)
	}
	if _, err := h.api.Providers.Entitlements.ApprovePlanChange(h.base+"/entitlements/"+e.ID, &cp.ApproveEntitlementPlanChangeRequest{PendingPlanName: "team"}).Do(); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.api.Providers.Entitlements.Get(h.base + "/entitlements/" + e.ID).Do(); got.Plan != "team" || got.State != "ENTITLEMENT_ACTIVE" {
		t.Fatalf("after plan change %+v", got)
	}
	_, err = h.api.Providers.Entitlements.Suspend(h.base+"/entitlements/"+e.ID, &cp.SuspendEntitlementRequest{}).Do()
	if code, _ := status(err); code != 501 {
		t.Fatalf("suspend: %v", err)
	}
	if _, err := h.api.Providers.Accounts.Reset(h.base+"/accounts/"+a.ID, &cp.ResetAccountRequest{}).Do(); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.api.Providers.Entitlements.Get(h.base + "/entitlements/" + e.ID).Do(); got.State != "ENTITLEMENT_CANCELLED" {
		t.Fatalf("after reset %+v", got)
	}
	if err := h.m.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.api.Providers.Accounts.Get(h.base + "/accounts/" + a.ID).Do()
	if code, _ := status(err); code != 404 {
		t.Fatalf("deleted account: %v", err)
	}
	_, err = h.api.Providers.Entitlements.Get(h.base + "/entitlements/" + e.ID).Do()
	if code, _ := status(err); code != 404 {
		t.Fatalf("deleted entitlement: %v", err)
	}
}

func TestRejectAndErrors(t *testing.T) {
	h := newHarness(t)
	e, a := h.order(t, ba)
	tests := []struct {
		name string
		call func() error
		code int
	}{
		{"reject entitlement", func() error {
			_, err := h.api.Providers.Entitlements.Reject(h.base+"/entitlements/"+e.ID, &cp.RejectEntitlementRequest{Reason: "no"}).Do()
			return err
		}, 0},
		{"reject again: gone", func() error {
			_, err := h.api.Providers.Entitlements.Reject(h.base+"/entitlements/"+e.ID, &cp.RejectEntitlementRequest{}).Do()
			return err
		}, 404},
		{"reject account", func() error {
			_, err := h.api.Providers.Accounts.Reject(h.base+"/accounts/"+a.ID, &cp.RejectAccountRequest{ApprovalName: "signup"}).Do()
			return err
		}, 0},
		{"approve after reject", func() error {
			_, err := h.api.Providers.Accounts.Approve(h.base+"/accounts/"+a.ID, &cp.ApproveAccountRequest{}).Do()
			return err
		}, 0},
		{"unknown approval", func() error {
			_, err := h.api.Providers.Accounts.Approve(h.base+"/accounts/"+a.ID, &cp.ApproveAccountRequest{ApprovalName: "billing"}).Do()
			return err
		}, 400},
		{"another provider", func() error {
			_, err := h.api.Providers.Accounts.Get("providers/other/accounts/" + a.ID).Do()
			return err
		}, 403},
		{"no token", func() error {
			_, err := client(t, h.srv.URL, "bad").Providers.Accounts.Get(h.base + "/accounts/" + a.ID).Do()
			return err
		}, 401},
		{"patch other field", func() error {
			_, err := h.api.Providers.Entitlements.Patch(h.base+"/entitlements/x", &cp.Entitlement{Plan: "team"}).UpdateMask("plan").Do()
			return err
		}, 400},
		{"bad filter", func() error {
			_, err := h.api.Providers.Entitlements.List(h.base).Filter("services=x").Do()
			return err
		}, 400},
		{"bad page token", func() error {
			_, err := h.api.Providers.Accounts.List(h.base).PageToken("garbage").Do()
			return err
		}, 400},
	}
	for _, tt := range tests {
		err := tt.call()
		if code, msg := status(err); code != tt.code || (tt.code == 0 && err != nil) {
			t.Errorf("%s: got %d %q (%v), want %d", tt.name, code, msg, err, tt.code)
		}
	}
}

func TestListPaginationAndFilter(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var first market.Entitlement
	for i := 0; i < 30; i++ {
		e, a := h.order(t, "billingAccounts/B-"+string(rune('A'+i%26))+string(rune('0'+i/26)))
		if i == 0 {
			first = e
		}
		if i%3 == 0 {
			h.m.ApproveAccount(ctx, a.ID, "signup", "", nil)
			if _, err := h.m.ApproveEntitlement(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	var n, pages int
	err := h.api.Providers.Accounts.List(h.base).Pages(ctx, func(r *cp.ListAccountsResponse) error {
		n += len(r.Accounts)
		pages++
		return nil
	})
	if err != nil || n != 30 || pages != 2 {
		t.Fatalf("accounts: %d in %d pages, %v", n, pages, err)
	}
	tests := []struct {
		filter string
		want   int
	}{
		{"", 30},
		{"state=active", 10},
		{"state=ENTITLEMENT_ACTIVE", 10},
		{"state=\"entitlement_activation_requested\"", 20},
		{"state!=active", 20},
		{"account=" + first.Account + " state=active", 1},
		{"account=" + first.Account + " AND state=activation_requested", 0},
		{"account=\"providers/" + provider + "/accounts/" + first.Account + "\"", 1},
		{"product_external_name=\"" + svc + "\" plan=standard", 30},
		{"plan=team", 0},
	}
	for _, tt := range tests {
		var got int
		err := h.api.Providers.Entitlements.List(h.base).Filter(tt.filter).PageSize(7).Pages(ctx, func(r *cp.ListEntitlementsResponse) error {
			got += len(r.Entitlements)
			return nil
		})
		if err != nil || got != tt.want {
			t.Errorf("filter %q: %d, %v; want %d", tt.filter, got, err, tt.want)
		}
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in   string
		want int // terms; -1 = error
	}{
		{"", 0},
		{"account=E-1234", 1},
		{"account=a1 state=active", 2},
		{"account=a1 AND state=active", 2},
		{"product_external_name=\"p:q\"", 1},
		{"newPendingPlan=x", 1},
		{"a=1", -1},
		{"state=active OR state=cancelled", -1},
		{"NOT state=active", -1},
		{"(state=active)", -1},
		{"consumers.project:projects/1", -1},
		{"state=", -1},
		{"AND state=x", -1},
		{"state=x AND", -1},
		{"state=\"x", -1},
		{"state=a:b", -1},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.in)
		if (err != nil) != (tt.want < 0) || (err == nil && len(f) != tt.want) {
			t.Errorf("ParseFilter(%q) = %v, %v; want %d terms", tt.in, f, err, tt.want)
		}
	}
}

func TestFailNext(t *testing.T) {
	h := newHarness(t)
	srv := New(h.m, nil, nil)
	if err := srv.FailNext(1, 418); err == nil {
		t.Fatal("418 accepted as a fault")
	}
	if err := srv.FailNext(2, 503); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	api := client(t, ts.URL, "any")
	for i, want := range []int{503, 503, 0} {
		_, err := api.Providers.Accounts.List(h.base).Do()
		if code, _ := status(err); code != want {
			t.Fatalf("call %d: %v, want %d", i, err, want)
		}
	}
}
