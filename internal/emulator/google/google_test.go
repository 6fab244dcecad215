package google

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2/google"
	cp "google.golang.org/api/cloudcommerceprocurement/v1"
	"google.golang.org/api/option"
	sc "google.golang.org/api/servicecontrol/v1"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
	"github.com/marketbridge/marketbridge/internal/emulator/googleid"
)

// start runs a house in dataDir behind a loopback server at /google/.
func start(t *testing.T, dataDir string) (*House, string) {
	t.Helper()
	ctx := context.Background()
	var inner http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	id, err := googleid.New(googleid.Config{PublicURL: srv.URL + "/google/id/", DataDir: dataDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(ctx, Config{DataDir: dataDir, Identity: id, PublicURL: srv.URL + "/google", TickInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/google/", http.StripPrefix("/google", h.Handler()))
	inner = mux
	return h, srv.URL
}

func TestHouseEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	h, base := start(t, dir)
	res, err := h.DemoSeed(ctx, DemoInput{SignupURL: "http://127.0.0.1:1/signup", PushURL: "http://127.0.0.1:1/push"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := google.CredentialsFromJSON(ctx, res.ServiceAccountKey, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		t.Fatal(err)
	}
	proc, err := cp.NewService(ctx, option.WithEndpoint(base+"/google/procurement/"), option.WithTokenSource(creds.TokenSource))
	if err != nil {
		t.Fatal(err)
	}
	m := h.Market()
	if f := m.Frontend(); f.SignupURL != "http://127.0.0.1:1/signup" || f.Company == "" {
		t.Fatalf("frontend %+v", f)
	}
	ps := m.ProductsFor(DemoBillingAccount)
	offer := ps[0].OfferName(DemoPrivateOfferID)
	e, a, err := m.Order(ctx, market.OrderRequest{BillingAccount: DemoBillingAccount, Product: DemoService, PrivateOffer: offer, User: "buyer@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	prov := "providers/" + DemoProviderID
	if _, err := proc.Providers.Accounts.Approve(prov+"/accounts/"+a.ID, &cp.ApproveAccountRequest{ApprovalName: "signup"}).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := proc.Providers.Entitlements.Approve(prov+"/entitlements/"+e.ID, &cp.ApproveEntitlementRequest{}).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AdvanceClock(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	list, err := proc.Providers.Entitlements.List(prov).Filter("account=" + a.ID + " state=active").Do()
	if err != nil || len(list.Entitlements) != 1 || list.Entitlements[0].Plan != "enterprise" {
		t.Fatalf("list %+v %v", list, err)
	}
	usageID := list.Entitlements[0].UsageReportingId

	svc, err := sc.NewService(ctx, option.WithEndpoint(base+"/google/servicecontrol/"), option.WithTokenSource(creds.TokenSource))
	if err != nil {
		t.Fatal(err)
	}
	now := m.Now()
	rep, err := svc.Services.Report(DemoService, &sc.ReportRequest{Operations: []*sc.Operation{{
		OperationId: "op-1", OperationName: "usage", ConsumerId: usageID,
		StartTime: now.Add(-time.Minute).Format(time.RFC3339), EndTime: now.Format(time.RFC3339),
		MetricValueSets: []*sc.MetricValueSet{{MetricName: DemoMetric, MetricValues: []*sc.MetricValue{{Int64Value: ptr(int64(150))}}}},
	}}}).Do()
	if err != nil || len(rep.ReportErrors) != 0 {
		t.Fatalf("report %+v %v", rep, err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted house resumes where it stopped.
	h2, _ := start(t, dir)
	defer h2.Close()
	got, ok := h2.Market().Entitlement(e.ID)
	if !ok || got.State != market.StateActive || got.UsageReportingID != usageID {
		t.Fatalf("after restart %+v %v", got, ok)
	}
	if h2.Market().Frontend().SignupURL == "" || got.Offer != offer {
		t.Fatalf("frontend or offer lost: %+v", got)
	}
	if n := len(h2.Market().Events()); n != 3 {
		t.Fatalf("events after restart: %d", n)
	}
}

func ptr[T any](v T) *T { return &v }
