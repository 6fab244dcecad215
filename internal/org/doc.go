// Package org holds organizations: the unit that is billed. A user may
// belong to many, each with a role (admin, billing, developer); admins invite
// by e-mail, change roles and remove members, and manage the organization's
// API keys. Every change is written to the organization's audit log.
//
// Every operation takes the acting user and checks membership and role
// itself: a non-member is told the organization does not exist (ErrNotFound),
// a member without the role is refused (ErrForbidden). The last admin can
// neither leave, be removed nor be demoted, so an organization always has
// someone who can manage it.
//
// The vendor's back end acts through service tokens (tokens.go), made by
// the vendor's operators and scoped read or write, on any organization
// (vendor.go): it ties an organization to a tenant of its product by
// external_id, creates organizations with a first admin, and manages
// members by e-mail, under the same last-admin rule, with the token named
// in the audit log. An organization it creates for an address without an
// account has no member until that address accepts its admin invitation.
package org
