package org_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

type fixture struct {
	db     *store.DB
	svc    *org.Service
	outbox *mail.Outbox
	now    time.Time
	mu     sync.Mutex
}

func (f *fixture) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	f.outbox = mail.NewOutbox(db, f.Now)
	svc, err := org.New(org.Config{DB: db, Mailer: f.outbox, Logger: slog.New(slog.DiscardHandler), Now: f.Now, BaseURL: "https://console.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// user inserts a verified user directly: these tests are about
// organizations, not registration.
func (f *fixture) user(t *testing.T, email string) int64 {
	t.Helper()
	var id int64
	err := f.db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at)
		VALUES ($1, $2, 'x', $3, $3) RETURNING id`, email, strings.Split(email, "@")[0], f.Now()).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var inviteRE = regexp.MustCompile(`/invitations/accept\?(\S+)`)

func (f *fixture) invitationToken(t *testing.T, email string) string {
	t.Helper()
	ms, err := f.outbox.List(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.To[0] == email {
			if match := inviteRE.FindStringSubmatch(m.Text); match != nil {
				q, _ := url.ParseQuery(match[1])
				return q.Get("token")
			}
		}
	}
	t.Fatalf("no invitation mail to %s", email)
	return ""
}

// team makes an organization with an admin, a billing member and a
// developer, plus an outsider who belongs to another organization.
type team struct {
	org                                 org.Org
	admin, billing, developer, outsider int64
}

func (f *fixture) team(t *testing.T) team {
	t.Helper()
	ctx := context.Background()
	tm := team{admin: f.user(t, "admin@example.com"), billing: f.user(t, "billing@example.com"),
		developer: f.user(t, "dev@example.com"), outsider: f.user(t, "outsider@example.com")}
	var err error
	if tm.org, err = f.svc.Create(ctx, tm.admin, org.CreateInput{Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, tm.outsider, org.CreateInput{Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		id    int64
		email string
		role  org.Role
	}{{tm.billing, "billing@example.com", org.RoleBilling}, {tm.developer, "dev@example.com", org.RoleDeveloper}} {
		if err := f.svc.Invite(ctx, tm.admin, tm.org.ID, org.InviteInput{Email: m.email, Role: m.role}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Accept(ctx, m.id, m.email, f.invitationToken(t, m.email)); err != nil {
			t.Fatal(err)
		}
	}
	return tm
}

func TestCreate_CreatorIsAdminAndMayHaveMany(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		u := f.user(t, "a@example.com")
		for _, name := range []string{"Beta", "Alpha"} {
			if _, err := f.svc.Create(ctx, u, org.CreateInput{Name: name}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.Create(ctx, u, org.CreateInput{Name: "  "}); fault.Fields(err)["name"] == "" {
			t.Fatalf("blank name = %v, want a field error", err)
		}
		orgs, err := f.svc.ListForUser(ctx, u)
		if err != nil || len(orgs) != 2 || orgs[0].Name != "Alpha" || orgs[0].Role != org.RoleAdmin {
			t.Fatalf("ListForUser = %+v, %v", orgs, err)
		}
	})
}

// Every organization-scoped operation: a non-member is told the
// organization does not exist; a member without the role is refused.
func TestAuthorization_EveryOperation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		tm := f.team(t)
		ctx := context.Background()
		ops := []struct {
			name    string
			minimum []int64 // who may do it
			do      func(actor int64) error
		}{
			{"members", []int64{tm.admin, tm.billing, tm.developer}, func(a int64) error { _, err := f.svc.Members(ctx, a, tm.org.ID); return err }},
			{"invitations", []int64{tm.admin, tm.billing, tm.developer}, func(a int64) error { _, err := f.svc.PendingInvitations(ctx, a, tm.org.ID); return err }},
			{"invite", []int64{tm.admin}, func(a int64) error {
				return f.svc.Invite(ctx, a, tm.org.ID, org.InviteInput{Email: fmt.Sprintf("new%d@example.com", a), Role: org.RoleDeveloper})
			}},
			{"change role", []int64{tm.admin}, func(a int64) error { return f.svc.ChangeRole(ctx, a, tm.org.ID, tm.developer, org.RoleDeveloper) }},
			{"create key", []int64{tm.admin}, func(a int64) error {
				_, _, err := f.svc.CreateKey(ctx, a, tm.org.ID, org.CreateKeyInput{Name: "k"})
				return err
			}},
			{"list keys", []int64{tm.admin}, func(a int64) error { _, err := f.svc.Keys(ctx, a, tm.org.ID); return err }},
			{"audit log", []int64{tm.admin}, func(a int64) error { _, err := f.svc.AuditLog(ctx, a, tm.org.ID, 10); return err }},
		}
		for _, op := range ops {
			for _, actor := range []int64{tm.admin, tm.billing, tm.developer, tm.outsider} {
				err := op.do(actor)
				allowed := false
				for _, m := range op.minimum {
					allowed = allowed || m == actor
				}
				switch {
				case actor == tm.outsider && !errors.Is(err, org.ErrNotFound):
					t.Errorf("%s by a non-member = %v, want ErrNotFound", op.name, err)
				case actor != tm.outsider && allowed && err != nil:
					t.Errorf("%s by user %d = %v, want allowed", op.name, actor, err)
				case actor != tm.outsider && !allowed && !errors.Is(err, org.ErrForbidden):
					t.Errorf("%s by user %d = %v, want ErrForbidden", op.name, actor, err)
				}
			}
		}
		// Removing someone else: admin only; a non-member cannot even see.
		if err := f.svc.RemoveMember(ctx, tm.developer, tm.org.ID, tm.billing); !errors.Is(err, org.ErrForbidden) {
			t.Errorf("developer removing billing = %v, want ErrForbidden", err)
		}
		if err := f.svc.RemoveMember(ctx, tm.outsider, tm.org.ID, tm.billing); !errors.Is(err, org.ErrNotFound) {
			t.Errorf("outsider removing billing = %v, want ErrNotFound", err)
		}
		if err := f.svc.RevokeKey(ctx, tm.outsider, tm.org.ID, 1); !errors.Is(err, org.ErrNotFound) {
			t.Errorf("outsider revoking a key = %v, want ErrNotFound", err)
		}
	})
}

func TestInvitation_AcceptRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tm := f.team(t)
		if err := f.svc.Invite(ctx, tm.admin, tm.org.ID, org.InviteInput{Email: "dev@example.com", Role: org.RoleAdmin}); !errors.Is(err, org.ErrAlreadyMember) {
			t.Errorf("inviting a member = %v, want ErrAlreadyMember", err)
		}
		if err := f.svc.Invite(ctx, tm.admin, tm.org.ID, org.InviteInput{Email: " Zed@Example.com ", Role: org.RoleBilling}); err != nil {
			t.Fatal(err)
		}
		tok := f.invitationToken(t, "zed@example.com")
		zed, eve := f.user(t, "zed@example.com"), f.user(t, "eve@example.com")
		if _, err := f.svc.Accept(ctx, eve, "eve@example.com", tok); !errors.Is(err, org.ErrInvitationForOther) {
			t.Errorf("accepted by another address = %v, want ErrInvitationForOther", err)
		}
		o, err := f.svc.Accept(ctx, zed, "zed@example.com", tok)
		if err != nil || o.ID != tm.org.ID || o.Role != org.RoleBilling {
			t.Fatalf("Accept = %+v, %v", o, err)
		}
		if _, err := f.svc.Accept(ctx, zed, "zed@example.com", tok); !errors.Is(err, org.ErrInvitationInvalid) {
			t.Errorf("second acceptance = %v, want ErrInvitationInvalid", err)
		}
		if err := f.svc.Invite(ctx, tm.admin, tm.org.ID, org.InviteInput{Email: "late@example.com", Role: org.RoleBilling}); err != nil {
			t.Fatal(err)
		}
		late := f.user(t, "late@example.com")
		f.advance(org.InvitationTTL)
		if _, err := f.svc.Accept(ctx, late, "late@example.com", f.invitationToken(t, "late@example.com")); !errors.Is(err, org.ErrInvitationExpired) {
			t.Errorf("acceptance after 7 days = %v, want ErrInvitationExpired", err)
		}
	})
}

func TestLastAdmin_CannotBeDemotedRemovedOrLeave(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tm := f.team(t)
		if err := f.svc.ChangeRole(ctx, tm.admin, tm.org.ID, tm.admin, org.RoleDeveloper); !errors.Is(err, org.ErrLastAdmin) {
			t.Errorf("demoting the last admin = %v, want ErrLastAdmin", err)
		}
		if err := f.svc.RemoveMember(ctx, tm.admin, tm.org.ID, tm.admin); !errors.Is(err, org.ErrLastAdmin) {
			t.Errorf("last admin leaving = %v, want ErrLastAdmin", err)
		}
		// With two admins, each may demote the other, but not both at once.
		if err := f.svc.ChangeRole(ctx, tm.admin, tm.org.ID, tm.billing, org.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = f.svc.ChangeRole(ctx, tm.admin, tm.org.ID, tm.billing, org.RoleDeveloper) })
		wg.Go(func() { errs[1] = f.svc.ChangeRole(ctx, tm.billing, tm.org.ID, tm.admin, org.RoleDeveloper) })
		wg.Wait()
		members, err := f.svc.Members(ctx, tm.developer, tm.org.ID)
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
			t.Fatalf("%d admins after two admins demoted each other at once (errors %v), want exactly 1", admins, errs)
		}
		// A developer leaves on their own.
		if err := f.svc.RemoveMember(ctx, tm.developer, tm.org.ID, tm.developer); err != nil {
			t.Fatalf("developer leaving = %v", err)
		}
		if _, err := f.svc.Authorize(ctx, tm.developer, tm.org.ID); !errors.Is(err, org.ErrNotFound) {
			t.Errorf("after leaving = %v, want ErrNotFound", err)
		}
	})
}

func TestAPIKeys_ShownOnceStoredHashedRevocable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tm := f.team(t)
		k, full, err := f.svc.CreateKey(ctx, tm.admin, tm.org.ID, org.CreateKeyInput{Name: "ingest"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(full, k.Prefix) || len(full) < 40 {
			t.Fatalf("key %q does not start with its prefix %q or is short", full, k.Prefix)
		}
		var leaks int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM api_keys WHERE secret_hash = $1 OR prefix = $1 OR name = $1`, full).Scan(&leaks); err != nil || leaks != 0 {
			t.Fatal("the full key is stored; only its hash may be")
		}
		orgID, err := f.svc.AuthenticateKey(ctx, full)
		if err != nil || orgID != tm.org.ID {
			t.Fatalf("AuthenticateKey = %d, %v", orgID, err)
		}
		keys, _ := f.svc.Keys(ctx, tm.admin, tm.org.ID)
		if len(keys) != 1 || keys[0].LastUsedAt.IsZero() {
			t.Fatalf("Keys = %+v, want one key with a last-used time", keys)
		}
		for _, bad := range []string{"", "mbk_", full + "x", strings.TrimPrefix(full, "mbk_")} {
			if _, err := f.svc.AuthenticateKey(ctx, bad); !errors.Is(err, org.ErrBadKey) {
				t.Errorf("AuthenticateKey(%q) = %v, want ErrBadKey", bad, err)
			}
		}
		if err := f.svc.RevokeKey(ctx, tm.admin, tm.org.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AuthenticateKey(ctx, full); !errors.Is(err, org.ErrBadKey) {
			t.Errorf("revoked key = %v, want ErrBadKey", err)
		}
		// A key id of another organization cannot be revoked through this one.
		otherOrgs, _ := f.svc.ListForUser(ctx, tm.outsider)
		k2, _, err := f.svc.CreateKey(ctx, tm.outsider, otherOrgs[0].ID, org.CreateKeyInput{Name: "theirs"})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RevokeKey(ctx, tm.admin, tm.org.ID, k2.ID); fault.KindOf(err) != fault.KindNotFound {
			t.Errorf("revoking another organization's key = %v, want not found", err)
		}
	})
}

func TestAuditLog_RecordsWhoDidWhat(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tm := f.team(t)
		if err := f.svc.ChangeRole(ctx, tm.admin, tm.org.ID, tm.developer, org.RoleBilling); err != nil {
			t.Fatal(err)
		}
		entries, err := f.svc.AuditLog(ctx, tm.admin, tm.org.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.ActorEmail+" "+e.Action)
		}
		got := strings.Join(actions, ", ")
		want := "admin@example.com member.role, dev@example.com member.join, admin@example.com member.invite, " +
			"billing@example.com member.join, admin@example.com member.invite, admin@example.com organization.create"
		if got != want {
			t.Fatalf("audit log:\n got %s\nwant %s", got, want)
		}
	})
}
