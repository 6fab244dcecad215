package gcpmp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

const privateOffer = "projects/123/services/" + testProduct + "/privateOffers/po-1"

func TestRead_StateMapping(t *testing.T) {
	f := newFakeGoogle(t)
	clk := newClock()
	p := NewProvider(f.client(clk.Now))
	for _, tc := range []struct {
		state string
		want  string
	}{
		{"ACTIVATION_REQUESTED", marketplace.StatusPending},
		{"ACTIVE", marketplace.StatusActive},
		{"PENDING_PLAN_CHANGE_APPROVAL", marketplace.StatusActive},
		{"PENDING_PLAN_CHANGE", marketplace.StatusActive},
		{"PENDING_CANCELLATION", marketplace.StatusUnsubscribePending},
		{"CANCELLED", marketplace.StatusCancelled},
		{"SUSPENDED", marketplace.StatusSuspended},
	} {
		t.Run(tc.state, func(t *testing.T) {
			id := "ent-" + strings.ToLower(tc.state)
			f.entitlement(id, "E-1", tc.state, map[string]any{"usageReportingId": "project_number:123456789012", "newPendingPlan": "team",
				"offer": privateOffer, "offerEndTime": "2027-01-01T00:00:00Z"})
			r, err := p.Read(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := marketplace.Remote{Key: id, Account: "E-1", ProductCode: testProduct, Plan: "standard", Status: tc.want,
				UsageID: "project_number:123456789012", OfferID: privateOffer, TermEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
			if r != want {
				t.Fatalf("got  %+v\nwant %+v", r, want)
			}
		})
	}
	t.Run("deleted", func(t *testing.T) {
		r, err := p.Read(context.Background(), "ent-gone")
		if err != nil || r.Status != marketplace.StatusCancelled || r.Key != "ent-gone" {
			t.Fatalf("Read = %+v, %v", r, err)
		}
	})
	t.Run("public offer, subscription end", func(t *testing.T) {
		f.entitlement("ent-public", "providers/x/accounts/E-2", "ACTIVE", map[string]any{
			"offer": "projects/123/services/" + testProduct + "/standardOffers/so-1", "subscriptionEndTime": "2026-02-01T00:00:00Z"})
		r, err := p.Read(context.Background(), "ent-public")
		if err != nil || r.OfferID != "" || r.Account != "E-2" || !r.TermEnd.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("Read = %+v, %v", r, err)
		}
	})
	t.Run("unknown state", func(t *testing.T) {
		f.entitlement("ent-odd", "E-1", "STATE_UNSPECIFIED", nil)
		if _, err := p.Read(context.Background(), "ent-odd"); err == nil {
			t.Fatal("an unknown state was mapped")
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		f.mu.Lock()
		f.fail["GET providers/"+testProvider+"/entitlements/ent-active"] = []int{503, 503, 503}
		f.mu.Unlock()
		if _, err := p.Read(context.Background(), "ent-active"); !errors.Is(err, marketplace.ErrMarketplaceUnavailable) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("retried", func(t *testing.T) {
		f.mu.Lock()
		f.fail["GET providers/"+testProvider+"/entitlements/ent-active"] = []int{429, 500}
		f.mu.Unlock()
		if r, err := p.Read(context.Background(), "ent-active"); err != nil || r.Status != marketplace.StatusActive {
			t.Fatalf("Read = %+v, %v", r, err)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		f.mu.Lock()
		f.fail["GET providers/"+testProvider+"/entitlements/ent-active"] = []int{403}
		f.mu.Unlock()
		_, err := p.Read(context.Background(), "ent-active")
		if err == nil || errors.Is(err, marketplace.ErrMarketplaceUnavailable) || !strings.Contains(err.Error(), "Producer Portal") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestResolve(t *testing.T) {
	clk := newClock()
	k := keys(t)
	token := func(extra ...any) string {
		return sign(t, k[0], "k1", with(signupClaimsAt(clk.Now()), extra...))
	}
	for _, tc := range []struct {
		name    string
		setup   func(f *fakeGoogle)
		token   func() string
		wantKey string
		wantErr error
	}{
		{"the one waiting", func(f *fakeGoogle) {
			f.entitlement("ent-1", "E-1234-5678-ABCD-EFGH", "ACTIVATION_REQUESTED", nil)
			f.entitlement("ent-other-account", "E-9", "ACTIVATION_REQUESTED", nil)
		}, func() string { return token() }, "ent-1", nil},
		{"newest waiting over active", func(f *fakeGoogle) {
			f.entitlement("ent-a", "E-1234-5678-ABCD-EFGH", "ACTIVE", map[string]any{"createTime": "2026-01-01T12:00:00Z"})
			f.entitlement("ent-b", "E-1234-5678-ABCD-EFGH", "ACTIVATION_REQUESTED", map[string]any{"createTime": "2026-01-01T09:00:00Z"})
			f.entitlement("ent-c", "E-1234-5678-ABCD-EFGH", "ACTIVATION_REQUESTED", map[string]any{"createTime": "2026-01-01T09:30:00.5Z"})
			f.entitlement("ent-c0", "E-1234-5678-ABCD-EFGH", "ACTIVATION_REQUESTED", map[string]any{"createTime": "2026-01-01T09:30:00Z"})
			f.entitlement("ent-d", "E-1234-5678-ABCD-EFGH", "ACTIVATION_REQUESTED", map[string]any{"productExternalName": "not-ours.example.com",
				"createTime": "2026-01-01T11:00:00Z"})
		}, func() string { return token() }, "ent-c", nil},
		{"newest active", func(f *fakeGoogle) {
			f.entitlement("ent-a", "E-1234-5678-ABCD-EFGH", "ACTIVE", map[string]any{"createTime": "2026-01-01T12:00:00Z"})
			f.entitlement("ent-b", "E-1234-5678-ABCD-EFGH", "PENDING_CANCELLATION", map[string]any{"createTime": "2026-01-01T13:00:00Z"})
			f.entitlement("ent-c", "E-1234-5678-ABCD-EFGH", "CANCELLED", map[string]any{"createTime": "2026-01-01T14:00:00Z"})
		}, func() string { return token() }, "ent-b", nil},
		{"only cancelled", func(f *fakeGoogle) {
			f.entitlement("ent-c", "E-1234-5678-ABCD-EFGH", "CANCELLED", nil)
		}, func() string { return token() }, "ent-c", nil},
		{"orders first", func(f *fakeGoogle) {
			f.entitlement("ent-a", "E-1234-5678-ABCD-EFGH", "ACTIVATION_REQUESTED", nil)
			f.entitlement("ent-b", "E-1234-5678-ABCD-EFGH", "ACTIVE", nil)
		}, func() string {
			return token("google", map[string]any{"orders": []any{"ent-gone", map[string]any{"orderId": "ent-b"}}})
		}, "ent-b", nil},
		{"an order of another account", func(f *fakeGoogle) {
			f.entitlement("ent-x", "E-9", "ACTIVATION_REQUESTED", nil)
		}, func() string { return token("google", map[string]any{"orders": []any{"ent-x"}}) }, "", marketplace.ErrTokenInvalid},
		{"nothing of ours", func(f *fakeGoogle) {
			f.entitlement("ent-d", "E-1234-5678-ABCD-EFGH", "ACTIVATION_REQUESTED", map[string]any{"productExternalName": "not-ours.example.com"})
		}, func() string { return token() }, "", marketplace.ErrTokenInvalid},
		{"expired token", nil, func() string { return token("exp", clk.Now().Add(-time.Hour).Unix()) }, "", marketplace.ErrTokenExpired},
		{"list unavailable", func(f *fakeGoogle) {
			f.fail["GET providers/"+testProvider+"/entitlements"] = []int{503, 503, 503}
		}, func() string { return token() }, "", marketplace.ErrMarketplaceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGoogle(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			r, err := NewProvider(f.client(clk.Now)).Resolve(context.Background(), tc.token())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || r.Key != tc.wantKey || r.Account != "E-1234-5678-ABCD-EFGH" {
				t.Fatalf("Resolve = %+v, %v; want %s", r, err, tc.wantKey)
			}
		})
	}
}

func TestList_Paged(t *testing.T) {
	f := newFakeGoogle(t)
	for _, id := range []string{"e1", "e2", "e3", "e4", "e5"} {
		f.entitlement(id, "E-"+id, "ACTIVE", nil)
	}
	f.entitlement("e6", "E-6", "ACTIVE", map[string]any{"productExternalName": "not-ours.example.com"})
	f.entitlement("e7", "E-7", "STATE_UNSPECIFIED", nil)
	var got []string
	err := NewProvider(f.client(newClock().Now)).List(context.Background(), func(r marketplace.Remote) error {
		got = append(got, r.Key)
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"e1", "e2", "e3", "e4", "e5"}) {
		t.Fatalf("List = %v, %v", got, err)
	}
}

// TestActivate_R6 approves the account's signup, then the entitlement;
// a second Activate (the core's next pass, before Google moves the
// entitlement to ACTIVE) and one whose answers were lost are done too.
func TestActivate_R6(t *testing.T) {
	ctx := context.Background()
	approve := "POST providers/" + testProvider + "/entitlements/ent-1:approve"
	accountApprove := "POST providers/" + testProvider + "/accounts/E-1:approve"
	t.Run("first and again", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.entitlement("ent-1", "E-1", "ACTIVATION_REQUESTED", nil)
		p := NewProvider(f.client(newClock().Now))
		r, err := p.Read(ctx, "ent-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Activate(ctx, r); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		acc, approved := f.accounts["E-1"], f.entitlements["ent-1"]["approved"]
		f.mu.Unlock()
		if acc != "APPROVED" || approved != true {
			t.Fatalf("account %s, entitlement approved %v", acc, approved)
		}
		if err := p.Activate(ctx, r); err != nil {
			t.Fatalf("second Activate: %v", err)
		}
		calls := f.callsMade()
		if !slices.Contains(calls, accountApprove) || !slices.Contains(calls, approve) {
			t.Fatalf("calls %q", calls)
		}
	})
	t.Run("answers lost", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.entitlement("ent-1", "E-1", "ACTIVATION_REQUESTED", nil)
		f.approvedAndLost = true
		p := NewProvider(f.client(newClock().Now))
		if err := p.Activate(ctx, marketplace.Remote{Key: "ent-1"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("account already approved", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.entitlement("ent-1", "E-1", "ACTIVATION_REQUESTED", nil)
		f.accounts["E-1"] = "APPROVED"
		if err := NewProvider(f.client(newClock().Now)).Activate(ctx, marketplace.Remote{Key: "ent-1", Account: "E-1"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("account approval refused", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.entitlement("ent-1", "E-1", "ACTIVATION_REQUESTED", nil)
		f.fail[accountApprove] = []int{400}
		err := NewProvider(f.client(newClock().Now)).Activate(ctx, marketplace.Remote{Key: "ent-1", Account: "E-1"})
		if err == nil || slices.Contains(f.callsMade(), approve) {
			t.Fatalf("err = %v, calls %q", err, f.callsMade())
		}
	})
	t.Run("entitlement approval unavailable", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.entitlement("ent-1", "E-1", "ACTIVATION_REQUESTED", nil)
		f.fail[approve] = []int{503, 503, 503}
		err := NewProvider(f.client(newClock().Now)).Activate(ctx, marketplace.Remote{Key: "ent-1", Account: "E-1"})
		if !errors.Is(err, marketplace.ErrMarketplaceUnavailable) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("invalid argument", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.entitlement("ent-1", "E-1", "ACTIVATION_REQUESTED", nil)
		f.fail[approve] = []int{400}
		f.failBody[400] = `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"bad"}}`
		err := NewProvider(f.client(newClock().Now)).Activate(ctx, marketplace.Remote{Key: "ent-1", Account: "E-1"})
		if err == nil {
			t.Fatal("an INVALID_ARGUMENT was taken as done")
		}
	})
}

func TestAcknowledge_PlanChange(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, policy, state string
		wantPlan, wantCall  string
	}{
		{"approve", "", "PENDING_PLAN_CHANGE_APPROVAL", "team", "approvePlanChange"},
		{"reject", PlanChangesReject, "PENDING_PLAN_CHANGE_APPROVAL", "standard", "rejectPlanChange"},
		{"nothing waits", "", "ACTIVE", "standard", ""},
		{"cancelled meanwhile", "", "PENDING_CANCELLATION", "standard", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGoogle(t)
			f.entitlement("ent-1", "E-1", tc.state, map[string]any{"newPendingPlan": "team"})
			p := NewProvider(f.client(newClock().Now, func(c *Config) { c.PlanChanges = tc.policy }))
			if err := p.Acknowledge(ctx, "ent-1", "ev-1"); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			plan := f.entitlements["ent-1"]["plan"]
			f.mu.Unlock()
			if plan != tc.wantPlan {
				t.Fatalf("plan %v, want %s", plan, tc.wantPlan)
			}
			calls := strings.Join(f.callsMade(), " ")
			if tc.wantCall != "" && !strings.Contains(calls, ":"+tc.wantCall) || tc.wantCall == "" && strings.Contains(calls, "POST") {
				t.Fatalf("calls %s", calls)
			}
			// Answered before: nothing more to do.
			if err := p.Acknowledge(ctx, "ent-1", "ev-1"); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("refused for its state", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.entitlement("ent-1", "E-1", "PENDING_PLAN_CHANGE_APPROVAL", map[string]any{"newPendingPlan": "team"})
		f.fail["POST providers/"+testProvider+"/entitlements/ent-1:approvePlanChange"] = []int{400}
		if err := NewProvider(f.client(newClock().Now)).Acknowledge(ctx, "ent-1", "ev-1"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConfig_Validate(t *testing.T) {
	f := newFakeGoogle(t)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // part of the error; "" for none
	}{
		{"good", func(*Config) {}, ""},
		{"no provider", func(c *Config) { c.ProviderID = "" }, "gcp provider id: required"},
		{"provider with a slash", func(c *Config) { c.ProviderID = "a/b" }, "want letters"},
		{"no products", func(c *Config) { c.Products = nil }, "gcp products"},
		{"no credentials", func(c *Config) { c.TokenSource = nil }, "gcp credentials"},
		{"no audience", func(c *Config) { c.Signup.Audiences = nil }, "sign-up audience"},
		{"no push audience", func(c *Config) { c.Push.Audience = "" }, "push audience"},
		{"no push account", func(c *Config) { c.Push.Email = "" }, "push service account"},
		{"plain http elsewhere", func(c *Config) { c.ProcurementURL = "http://procurement.example.com/" }, "plain http only to a loopback"},
		{"bad plan policy", func(c *Config) { c.PlanChanges = "maybe" }, "plan changes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config(time.Now)
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}
