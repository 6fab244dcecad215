package web_test

import (
	"database/sql"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// team is an organization with an admin, a developer and a billing member,
// each signed up and joined through an invitation link.
type team struct {
	path                  string // "/orgs/N/"
	orgID                 string
	admin, dev, billing   *browser
	adminID, devID, bilID int64
}

func (a *app) team() team {
	a.t.Helper()
	tm := team{admin: a.signUp("admin@example.com")}
	tm.path = tm.admin.createOrg("Acme")
	tm.orgID = strings.Trim(strings.TrimPrefix(tm.path, "/orgs/"), "/")
	tm.dev = a.join(tm.admin, tm.path, "dev@example.com", "developer")
	tm.billing = a.join(tm.admin, tm.path, "bill@example.com", "billing")
	tm.adminID, tm.devID, tm.bilID = a.userID("admin@example.com"), a.userID("dev@example.com"), a.userID("bill@example.com")
	return tm
}

// join invites email to the organization at path with role, signs them up
// and accepts the invitation from the mailed link.
func (a *app) join(admin *browser, path, email, role string) *browser {
	a.t.Helper()
	if r := admin.post(path+"members/invite", url.Values{"email": {email}, "role": {role}}); r.status != http.StatusSeeOther {
		a.t.Fatalf("invite %s = %d %s", email, r.status, r.body)
	}
	b := a.signUp(email)
	tok := strings.TrimPrefix(a.mailLink(email, "/invitations/accept"), "/invitations/accept?token=")
	if r := b.post("/invitations/accept", url.Values{"token": {tok}}); r.status != http.StatusSeeOther || pathOf(r.location) != path {
		a.t.Fatalf("accept as %s = %d → %q", email, r.status, r.location)
	}
	return b
}

func (a *app) userID(email string) int64 {
	a.t.Helper()
	var id int64
	if err := a.db.Read().QueryRow(`SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		a.t.Fatalf("user %s: %v", email, err)
	}
	return id
}

// role is user's role in the organization, "" when not a member.
func (a *app) role(orgID string, user int64) string {
	a.t.Helper()
	var role string
	err := a.db.Read().QueryRow(`SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, user).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return ""
	}
	if err != nil {
		a.t.Fatal(err)
	}
	return role
}

// auditActions are the actions of the organization's audit log, newest
// first.
func (a *app) auditActions(orgID string) []string {
	a.t.Helper()
	rows, err := a.db.Read().Query(`SELECT action FROM audit_log WHERE org_id = $1 ORDER BY id DESC`, orgID)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// Removing a member: an admin may remove anyone, any member may leave, and
// nobody else may remove anyone; the last admin cannot go. Each refusal
// leaves the membership as it was; each removal takes the member out,
// ends their access to the organization and is in the audit log.
func TestMembers_Remove(t *testing.T) {
	type who int
	const (
		byAdmin who = iota
		byDev
		byBilling
		byOutsider
	)
	for _, tc := range []struct {
		name       string
		by         who
		target     func(tm team) int64
		wantStatus int
		wantGone   bool   // the target is no longer a member
		wantTo     string // where a removal redirects; "members" for the members page
		wantBody   string // on a refusal
	}{
		{"admin removes a developer", byAdmin, func(tm team) int64 { return tm.devID }, http.StatusSeeOther, true, "members", ""},
		{"developer leaves", byDev, func(tm team) int64 { return tm.devID }, http.StatusSeeOther, true, "/", ""},
		{"developer removes the admin", byDev, func(tm team) int64 { return tm.adminID }, http.StatusForbidden, false, "", "Not allowed"},
		{"billing removes a developer", byBilling, func(tm team) int64 { return tm.devID }, http.StatusForbidden, false, "", "Not allowed"},
		{"outsider removes a developer", byOutsider, func(tm team) int64 { return tm.devID }, http.StatusNotFound, false, "", "Not found"},
		{"the last admin leaves", byAdmin, func(tm team) int64 { return tm.adminID }, http.StatusConflict, false, "", "at least one admin"},
		{"admin removes a non-member", byAdmin, func(tm team) int64 { return 999999 }, http.StatusNotFound, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				a := newApp(t, db)
				tm := a.team()
				outsider := a.signUp("out@example.com")
				by := map[who]*browser{byAdmin: tm.admin, byDev: tm.dev, byBilling: tm.billing, byOutsider: outsider}[tc.by]
				target := tc.target(tm)
				roleBefore := a.role(tm.orgID, target)
				auditBefore := len(a.auditActions(tm.orgID))

				r := by.post(tm.path+"members/"+itoa(target)+"/remove", nil)
				if r.status != tc.wantStatus || !strings.Contains(r.body, tc.wantBody) {
					t.Fatalf("remove = %d, want %d with %q:\n%s", r.status, tc.wantStatus, tc.wantBody, r.body)
				}
				actions := a.auditActions(tm.orgID)
				if !tc.wantGone {
					if got := a.role(tm.orgID, target); got != roleBefore {
						t.Fatalf("refused removal changed the role from %q to %q", roleBefore, got)
					}
					if len(actions) != auditBefore {
						t.Fatalf("refused removal wrote to the audit log: %v", actions)
					}
					return
				}
				want := tm.path + "members"
				if tc.wantTo == "/" {
					want = "/"
				}
				if pathOf(r.location) != want {
					t.Fatalf("removal → %q, want %q", r.location, want)
				}
				if got := a.role(tm.orgID, target); got != "" {
					t.Fatalf("removed member still has role %q", got)
				}
				if actions[0] != "member.remove" || len(actions) != auditBefore+1 {
					t.Fatalf("audit log after the removal = %v, want member.remove on top", actions)
				}
				if r := tm.dev.get(tm.path); r.status != http.StatusNotFound {
					t.Fatalf("the removed developer's view of the organization = %d, want 404", r.status)
				}
			})
		})
	}
}

// An admin withdraws a pending invitation: its link stops working and the
// audit log says so. A developer may not, and the invitation stays.
func TestInvitations_AdminRevokes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		tm := a.team()
		if r := tm.admin.post(tm.path+"members/invite", url.Values{"email": {"late@example.com"}, "role": {"developer"}}); r.status != http.StatusSeeOther {
			t.Fatalf("invite = %d", r.status)
		}
		link := a.mailLink("late@example.com", "/invitations/accept")
		var id int64
		if err := db.Read().QueryRow(`SELECT id FROM invitations WHERE email = 'late@example.com'`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		revoked := func() bool { return a.revoked("invitations", id) }
		revoke := tm.path + "invitations/" + itoa(id) + "/revoke"
		tm.nonAdminsRefused(revoke)
		if revoked() {
			t.Fatal("a non-admin's refused revoke withdrew the invitation")
		}
		r := tm.admin.post(revoke, nil)
		if r.status != http.StatusSeeOther || pathOf(r.location) != tm.path+"members" {
			t.Fatalf("revoke by the admin = %d → %q", r.status, r.location)
		}
		if !revoked() {
			t.Fatal("the invitation is not marked revoked")
		}
		if page := tm.admin.get(r.location); !strings.Contains(page.body, "Invitation withdrawn.") || strings.Contains(page.body, "late@example.com") {
			t.Fatal("the members page does not say the invitation was withdrawn, or still lists it")
		}
		if r := tm.admin.post(revoke, nil); r.status != http.StatusNotFound {
			t.Fatalf("revoking it again = %d, want 404", r.status)
		}
		if actions := a.auditActions(tm.orgID); actions[0] != "member.invite.revoke" {
			t.Fatalf("audit log = %v, want member.invite.revoke on top", actions)
		}
		late := a.signUp("late@example.com")
		tok := strings.TrimPrefix(link, "/invitations/accept?token=")
		if r := late.post("/invitations/accept", url.Values{"token": {tok}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "withdrawn") {
			t.Fatalf("accepting a withdrawn invitation = %d, want 422 saying it was withdrawn", r.status)
		}
		if got := a.role(tm.orgID, a.userID("late@example.com")); got != "" {
			t.Fatalf("a withdrawn invitation made its invitee a %s", got)
		}
	})
}

// revoked says whether the row id of table (invitations, api_keys) is
// revoked.
func (a *app) revoked(table string, id int64) bool {
	a.t.Helper()
	var at sql.NullTime
	if err := a.db.Read().QueryRow(`SELECT revoked_at FROM `+table+` WHERE id = $1`, id).Scan(&at); err != nil {
		a.t.Fatal(err)
	}
	return at.Valid
}

// nonAdminsRefused posts to path as the developer and the billing member,
// and fails unless both are refused with 403.
func (tm team) nonAdminsRefused(path string) {
	for _, b := range []*browser{tm.dev, tm.billing} {
		b.a.t.Helper()
		if r := b.post(path, nil); r.status != http.StatusForbidden {
			b.a.t.Fatalf("POST %s by a non-admin = %d, want 403", path, r.status)
		}
	}
}
