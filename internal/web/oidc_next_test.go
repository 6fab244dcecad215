package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// A sign-in keeps where to return (next) in the database: a next that is
// not a console path, such as one with bytes that are not UTF-8, which
// PostgreSQL refuses to store, is dropped, and the sign-in starts (#12).
func TestOIDC_StartDropsNextThatIsNotAPath(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := oidcApp(t, db)
		for _, next := range []string{"/%FF", "/orgs/%C3", "/a%00", "https://evil.example/", "//evil.example/", "/orgs/1/billing"} {
			if _, err := db.Write().Exec(`DELETE FROM oidc_sign_ins`); err != nil {
				t.Fatal(err)
			}
			r := a.browser().get("/login/oidc?next=" + next)
			if r.status != http.StatusSeeOther {
				t.Errorf("start with next=%s = %d, want 303 to the provider", next, r.status)
				continue
			}
			var stored string
			if err := db.Read().QueryRow(`SELECT next FROM oidc_sign_ins`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if want := next; strings.Contains(next, "%") || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
				if stored != "" {
					t.Errorf("next=%s kept as %q, want dropped", next, stored)
				}
			} else if stored != want {
				t.Errorf("next=%s kept as %q, want %q", next, stored, want)
			}
		}
	})
}
