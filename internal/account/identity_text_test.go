package account_test

import (
	"context"
	"errors"
	"testing"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// What the provider says of a person is outside input: a name with
// control characters (a NUL byte, which PostgreSQL refuses in text) or
// bytes that are not UTF-8 is kept without them, and an address or subject
// with them signs no one in, on both engines, without an internal error.
func TestSignInWithIdentity_ProviderTextIsCleaned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		for i, tc := range []struct {
			id       account.Identity
			wantName string
			wantErr  error
		}{
			{account.Identity{Subject: "n1", Email: "n1@example.com", Name: "Mia\x00 Wong\x1b"}, "Mia Wong", nil},
			{account.Identity{Subject: "n2", Email: "n2@example.com", Name: "Mia \xffWong"}, "Mia Wong", nil},
			{account.Identity{Subject: "n3", Email: "n3\x00@example.com", Name: "N3"}, "", account.ErrIdentityEmailUnverified},
			{account.Identity{Subject: "n4\x00", Email: "n4@example.com", Name: "N4"}, "", account.ErrIdentityInvalid},
		} {
			tc.id.Issuer, tc.id.EmailVerified = iss, true
			u, err := f.svc.SignInWithIdentity(ctx, tc.id)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("case %d: %v, want %v", i, err, tc.wantErr)
				}
				continue
			}
			if err != nil || u.Name != tc.wantName {
				t.Errorf("case %d: user %+v, %v; want the name %q", i, u, err, tc.wantName)
			}
		}
	})
}
