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
package org
