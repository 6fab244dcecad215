package org_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

func TestValidExternalID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"t-1", true}, {"tenant_42.eu:prod", true}, {"A", true}, {strings.Repeat("x", 128), true},
		{"", false}, {strings.Repeat("x", 129), false}, {"a b", false}, {"a/b", false}, {"a?b", false},
		{"a%2F", false}, {"é", false}, {"a\x00", false}, {"../x", false},
	} {
		if got := org.ValidExternalID(tc.id); got != tc.want {
			t.Errorf("ValidExternalID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func (f *fixture) token(t *testing.T, scope org.Scope) (org.Token, string) {
	t.Helper()
	tok, full, err := f.svc.CreateToken(context.Background(), 0, org.CreateTokenInput{Name: "crm-" + string(scope), Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	return tok, full
}

func TestServiceTokens_ShownOnceStoredHashedRevocable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		if _, _, err := f.svc.CreateToken(ctx, 0, org.CreateTokenInput{Name: " ", Scope: "admin"}); len(fault.Fields(err)) != 2 {
			t.Fatalf("blank name and bad scope = %v, want two field errors", err)
		}
		tok, full := f.token(t, org.ScopeRead)
		if !strings.HasPrefix(full, "mbt_") || !strings.HasPrefix(full, tok.Prefix) || len(full) < 40 {
			t.Fatalf("token %q: want mbt_, its prefix %q, and length", full, tok.Prefix)
		}
		var leaks int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM service_tokens WHERE secret_hash = $1 OR prefix = $1 OR name = $1`, full).Scan(&leaks); err != nil || leaks != 0 {
			t.Fatal("the full token is stored; only its hash may be")
		}
		got, err := f.svc.AuthenticateToken(ctx, full)
		if err != nil || got.ID != tok.ID || got.Scope != org.ScopeRead || got.LastUsedAt.IsZero() {
			t.Fatalf("AuthenticateToken = %+v, %v", got, err)
		}
		list, err := f.svc.Tokens(ctx)
		if err != nil || len(list) != 1 || list[0].LastUsedAt.IsZero() {
			t.Fatalf("Tokens = %+v, %v; want one with a last-used time", list, err)
		}
		_, key, err := f.svc.CreateKey(ctx, f.user(t, "a@example.com"), mustOrg(t, f, "a@example.com").ID, org.CreateKeyInput{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"", "mbt_", full + "x", strings.TrimPrefix(full, "mbt_"), "mbt_" + strings.Repeat("A", 43), key} {
			if _, err := f.svc.AuthenticateToken(ctx, bad); !errors.Is(err, org.ErrBadToken) {
				t.Errorf("AuthenticateToken(%q) = %v, want ErrBadToken", bad, err)
			}
		}
		if _, err := f.svc.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RevokeToken(ctx, tok.ID); !errors.Is(err, org.ErrNoSuchToken) {
			t.Errorf("second revocation = %v, want ErrNoSuchToken", err)
		}
		if _, err := f.svc.AuthenticateToken(ctx, full); !errors.Is(err, org.ErrBadToken) {
			t.Errorf("revoked token = %v, want ErrBadToken", err)
		}
	})
}

// mustOrg makes an organization whose admin is the user with email, which
// must exist.
func mustOrg(t *testing.T, f *fixture, email string) org.Org {
	t.Helper()
	var id int64
	if err := f.db.Read().QueryRow(`SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	o, err := f.svc.Create(context.Background(), id, org.CreateInput{Name: "Org of " + email})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestScope_WriteIncludesRead(t *testing.T) {
	for _, tc := range []struct {
		have, need org.Scope
		want       bool
	}{{org.ScopeRead, org.ScopeRead, true}, {org.ScopeRead, org.ScopeWrite, false}, {org.ScopeWrite, org.ScopeRead, true}, {org.ScopeWrite, org.ScopeWrite, true}} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%s.Allows(%s) = %v", tc.have, tc.need, got)
		}
	}
}

func TestCreateTenant_AdminIdempotenceAndConflicts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tok, _ := f.token(t, org.ScopeWrite)
		alice := f.user(t, "alice@example.com")

		_, _, _, err := f.svc.CreateTenant(ctx, tok, org.CreateTenantInput{ExternalID: "a b", Name: "", AdminEmail: "nope"})
		if fe := fault.Fields(err); len(fe) != 3 {
			t.Fatalf("bad body = %v, want three field errors at once", fe)
		}
		// An existing user becomes admin at once.
		in := org.CreateTenantInput{ExternalID: "t-1", Name: "Acme", AdminEmail: " Alice@Example.com "}
		ten, g, created, err := f.svc.CreateTenant(ctx, tok, in)
		if err != nil || !created || g.Invited || g.UserID != alice || ten.ExternalID != "t-1" || ten.Members != 1 {
			t.Fatalf("CreateTenant = %+v, %+v, %v, %v", ten, g, created, err)
		}
		if o, err := f.svc.Authorize(ctx, alice, ten.ID, org.RoleAdmin); err != nil || o.ExternalID != "t-1" {
			t.Fatalf("alice in the new organization = %+v, %v; want admin", o, err)
		}
		// A retry answers the same organization; another body is a conflict.
		again, g2, created, err := f.svc.CreateTenant(ctx, tok, in)
		if err != nil || created || again.ID != ten.ID || g2.UserID != alice {
			t.Fatalf("retry = %+v, %+v, %v, %v; want the same organization, not created", again, g2, created, err)
		}
		for _, other := range []org.CreateTenantInput{
			{ExternalID: "t-1", Name: "Acme Ltd", AdminEmail: "alice@example.com"},
			{ExternalID: "t-1", Name: "Acme", AdminEmail: "bob@example.com"},
		} {
			if _, _, _, err := f.svc.CreateTenant(ctx, tok, other); !errors.Is(err, org.ErrTenantMismatch) {
				t.Errorf("CreateTenant(%+v) = %v, want ErrTenantMismatch", other, err)
			}
		}
		// An address without an account is invited; the retry still matches.
		in2 := org.CreateTenantInput{ExternalID: "t-2", Name: "Beta", AdminEmail: "new@example.com"}
		ten2, g, created, err := f.svc.CreateTenant(ctx, tok, in2)
		if err != nil || !created || !g.Invited || ten2.Members != 0 || g.ExpiresAt.IsZero() {
			t.Fatalf("CreateTenant(new admin) = %+v, %+v, %v, %v", ten2, g, created, err)
		}
		if _, g, created, err := f.svc.CreateTenant(ctx, tok, in2); err != nil || created || !g.Invited {
			t.Fatalf("retry with an invited admin = %+v, %v, %v", g, created, err)
		}
		newcomer := f.user(t, "new@example.com")
		o, err := f.svc.Accept(ctx, newcomer, "new@example.com", f.invitationToken(t, "new@example.com"))
		if err != nil || o.ID != ten2.ID || o.Role != org.RoleAdmin {
			t.Fatalf("accepting the admin invitation = %+v, %v", o, err)
		}
		// The audit log names the token.
		entries, err := f.svc.AuditLog(ctx, alice, ten.ID, 10)
		if err != nil || len(entries) != 2 || entries[1].Action != "organization.create" || entries[0].Action != "member.add" ||
			!strings.Contains(entries[0].ActorEmail, tok.Name) {
			t.Fatalf("audit log = %+v, %v; want create and member.add by %s", entries, err, tok.Actor())
		}
		// Found by external_id.
		if got, err := f.svc.TenantByExternalID(ctx, "t-2"); err != nil || got.ID != ten2.ID || got.Members != 1 {
			t.Fatalf("TenantByExternalID = %+v, %v", got, err)
		}
		if _, err := f.svc.TenantByExternalID(ctx, "t-3"); !errors.Is(err, org.ErrNotFound) {
			t.Fatalf("unknown external_id = %v, want ErrNotFound", err)
		}
	})
}

func TestCreateTenant_ConcurrentRetriesMakeOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tok, _ := f.token(t, org.ScopeWrite)
		in := org.CreateTenantInput{ExternalID: "race", Name: "Race", AdminEmail: "racer@example.com"}
		var wg sync.WaitGroup
		ids := make([]int64, 4)
		errs := make([]error, 4)
		for i := range ids {
			wg.Go(func() {
				ten, _, _, err := f.svc.CreateTenant(ctx, tok, in)
				ids[i], errs[i] = ten.ID, err
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("concurrent creates = %v, %v; want one organization for all", ids, errs)
			}
		}
	})
}

func TestSetExternalID_UniqueAndClearable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tok, _ := f.token(t, org.ScopeWrite)
		f.user(t, "a@example.com")
		a := mustOrg(t, f, "a@example.com")
		b := mustOrg(t, f, "a@example.com")
		if ten, err := f.svc.SetExternalID(ctx, tok, a.ID, "x-1"); err != nil || ten.ExternalID != "x-1" {
			t.Fatalf("SetExternalID = %+v, %v", ten, err)
		}
		if _, err := f.svc.SetExternalID(ctx, tok, b.ID, "x-1"); !errors.Is(err, org.ErrExternalIDTaken) {
			t.Errorf("taking another's external_id = %v, want ErrExternalIDTaken", err)
		}
		if _, err := f.svc.SetExternalID(ctx, tok, b.ID, "x/1"); fault.Fields(err)["external_id"] == "" {
			t.Errorf("bad external_id = %v, want a field error", err)
		}
		if _, err := f.svc.SetExternalID(ctx, tok, 9999, "x-2"); !errors.Is(err, org.ErrNotFound) {
			t.Errorf("unknown organization = %v, want ErrNotFound", err)
		}
		if ten, err := f.svc.SetExternalID(ctx, tok, a.ID, ""); err != nil || ten.ExternalID != "" {
			t.Fatalf("clearing = %+v, %v", ten, err)
		}
		if ten, err := f.svc.SetExternalID(ctx, tok, b.ID, "x-1"); err != nil || ten.ExternalID != "x-1" {
			t.Fatalf("taking a cleared external_id = %+v, %v", ten, err)
		}
	})
}

func TestTenantMembers_AddChangeRemoveKeepsAnAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tok, _ := f.token(t, org.ScopeWrite)
		admin := f.user(t, "admin@example.com")
		dev := f.user(t, "dev@example.com")
		o := mustOrg(t, f, "admin@example.com")
		if g, err := f.svc.AddTenantMember(ctx, tok, o.ID, org.InviteInput{Email: "Dev@example.com", Role: org.RoleDeveloper}); err != nil || g.Invited || g.UserID != dev {
			t.Fatalf("adding an existing user = %+v, %v", g, err)
		}
		if _, err := f.svc.AddTenantMember(ctx, tok, o.ID, org.InviteInput{Email: "dev@example.com", Role: org.RoleBilling}); !errors.Is(err, org.ErrAlreadyMember) {
			t.Errorf("adding a member again = %v, want ErrAlreadyMember", err)
		}
		if g, err := f.svc.AddTenantMember(ctx, tok, o.ID, org.InviteInput{Email: "later@example.com", Role: org.RoleBilling}); err != nil || !g.Invited {
			t.Fatalf("adding an address without an account = %+v, %v; want invited", g, err)
		}
		if _, err := f.svc.AddTenantMember(ctx, tok, o.ID, org.InviteInput{Email: "x", Role: "owner"}); len(fault.Fields(err)) != 2 {
			t.Errorf("bad member = %v, want two field errors", err)
		}
		members, invs, err := f.svc.TenantMembers(ctx, o.ID)
		if err != nil || len(members) != 2 || len(invs) != 1 || invs[0].Email != "later@example.com" {
			t.Fatalf("TenantMembers = %+v, %+v, %v", members, invs, err)
		}
		for _, tc := range []struct {
			ref  org.MemberRef
			role org.Role
			want error
		}{
			{"admin@example.com", org.RoleDeveloper, org.ErrLastAdmin},
			{"nobody@example.com", org.RoleDeveloper, org.ErrNoSuchMember},
			{org.MemberRef(itoa(dev)), org.RoleAdmin, nil},
			{"admin@example.com", org.RoleBilling, nil},
			{org.MemberRef(itoa(dev)), org.RoleBilling, org.ErrLastAdmin},
		} {
			if _, err := f.svc.ChangeTenantRole(ctx, tok, o.ID, tc.ref, tc.role); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Errorf("ChangeTenantRole(%s, %s) = %v, want %v", tc.ref, tc.role, err, tc.want)
			}
		}
		if err := f.svc.RemoveTenantMember(ctx, tok, o.ID, org.MemberRef(itoa(dev))); !errors.Is(err, org.ErrLastAdmin) {
			t.Errorf("removing the last admin = %v, want ErrLastAdmin", err)
		}
		if err := f.svc.RemoveTenantMember(ctx, tok, o.ID, "admin@example.com"); err != nil {
			t.Errorf("removing a billing member = %v", err)
		}
		if err := f.svc.RemoveTenantMember(ctx, tok, o.ID, "later@example.com"); err != nil {
			t.Errorf("withdrawing an invitation = %v", err)
		}
		if err := f.svc.RemoveTenantMember(ctx, tok, o.ID, "later@example.com"); !errors.Is(err, org.ErrNoSuchMember) {
			t.Errorf("withdrawing it again = %v, want ErrNoSuchMember", err)
		}
		if _, err := f.svc.Authorize(ctx, admin, o.ID); !errors.Is(err, org.ErrNotFound) {
			t.Errorf("removed member = %v, want ErrNotFound", err)
		}
		entries, err := f.svc.AuditLog(ctx, dev, o.ID, 1)
		if err != nil || entries[0].Action != "member.invite.revoke" || !strings.Contains(entries[0].ActorEmail, "service token") {
			t.Fatalf("audit log = %+v, %v", entries, err)
		}
	})
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// Two admins demoted at once, one through the vendor API and one by the
// other admin, leave exactly one admin, and neither request fails for
// anything but the last-admin rule (no deadlock on PostgreSQL).
func TestTenantMembers_ConcurrentDemotionsKeepOneAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tok, _ := f.token(t, org.ScopeWrite)
		for round := range 5 {
			a := f.user(t, "a"+itoa(int64(round))+"@example.com")
			b := f.user(t, "b"+itoa(int64(round))+"@example.com")
			ten, _, _, err := f.svc.CreateTenant(ctx, tok, org.CreateTenantInput{ExternalID: "r" + itoa(int64(round)), Name: "R", AdminEmail: "a" + itoa(int64(round)) + "@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.AddTenantMember(ctx, tok, ten.ID, org.InviteInput{Email: "b" + itoa(int64(round)) + "@example.com", Role: org.RoleAdmin}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 3)
			wg.Go(func() {
				_, errs[0] = f.svc.ChangeTenantRole(ctx, tok, ten.ID, org.MemberRef(itoa(a)), org.RoleDeveloper)
			})
			wg.Go(func() { errs[1] = f.svc.ChangeRole(ctx, a, ten.ID, b, org.RoleDeveloper) })
			wg.Go(func() { _, errs[2] = f.svc.SetExternalID(ctx, tok, ten.ID, "s"+itoa(int64(round))) })
			wg.Wait()
			for _, err := range errs {
				if err != nil && !errors.Is(err, org.ErrLastAdmin) && !errors.Is(err, org.ErrForbidden) {
					t.Fatalf("round %d: %v", round, errs)
				}
			}
			members, _, err := f.svc.TenantMembers(ctx, ten.ID)
			if err != nil {
				t.Fatal(err)
			}
			admins := 0
			for _, m := range members {
				if m.Role == org.RoleAdmin {
					admins++
				}
			}
			if admins != 1 {
				t.Fatalf("round %d: %d admins (errors %v), want 1", round, admins, errs)
			}
		}
	})
}
