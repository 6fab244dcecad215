package main

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// token create, list and revoke work on the database serve uses, by the
// same flags as migrate; the token is printed once and stored hashed, and a
// revoked token no longer authenticates (#12).
func TestTokenCommands_CreateListRevoke(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			dbURL := storetest.URL(t, engine)
			tokenRun := func(args ...string) (string, error) {
				var out strings.Builder
				err := run(context.Background(), append(args, "--database-url", dbURL, "--log-level", "error"), func(string) string { return "" }, &out, io.Discard)
				return out.String(), err
			}
			full, err := tokenRun("token", "create", "--name", "crm", "--scope", "write")
			full = strings.TrimSpace(full)
			if err != nil || !strings.HasPrefix(full, "mbt_") || strings.ContainsAny(full, " \n") {
				t.Fatalf("token create = %q, %v; want the token alone", full, err)
			}
			if _, err := tokenRun("token", "create", "--name", "reports"); err != nil {
				t.Fatal(err)
			}
			list, err := tokenRun("token", "list")
			if err != nil || !strings.Contains(list, "crm") || !strings.Contains(list, full[:10]+"…") || !strings.Contains(list, "reports") ||
				strings.Contains(list, full) {
				t.Fatalf("token list = %q, %v", list, err)
			}
			db := storetest.OpenURL(t, dbURL)
			orgs, err := org.New(org.Config{DB: db, Mailer: mail.NewOutbox(db, time.Now), Logger: discardLogger(), Now: time.Now, BaseURL: "http://127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := orgs.AuthenticateToken(context.Background(), full)
			if err != nil || tok.Scope != org.ScopeWrite || tok.Name != "crm" {
				t.Fatalf("the created token = %+v, %v", tok, err)
			}
			var n int
			if err := db.Read().QueryRow(`SELECT COUNT(*) FROM service_tokens WHERE secret_hash = $1 OR prefix = $1`, full).Scan(&n); err != nil || n != 0 {
				t.Fatalf("the token is stored as it is")
			}
			if out, err := tokenRun("token", "revoke", strconv.FormatInt(tok.ID, 10)); err != nil || !strings.Contains(out, `revoked service token #`+strconv.FormatInt(tok.ID, 10)+` "crm"`) {
				t.Fatalf("token revoke = %q, %v", out, err)
			}
			if _, err := orgs.AuthenticateToken(context.Background(), full); !errors.Is(err, org.ErrBadToken) {
				t.Fatalf("revoked token = %v, want ErrBadToken", err)
			}
			if list, _ := tokenRun("token", "list"); !strings.Contains(list, "UTC\n") || strings.Count(list, "\n") != 3 {
				t.Errorf("token list after revocation = %q", list)
			}
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"token", "revoke", strconv.FormatInt(tok.ID, 10)}, "already revoked"},
				{[]string{"token", "revoke", "abc"}, `"abc" is not a token id`},
				{[]string{"token", "revoke"}, "missing ID"},
				{[]string{"token", "revoke", "1", "2"}, `unexpected argument "2"`},
				{[]string{"token", "create", "--name", "x", "--scope", "admin"}, "--scope:"},
				{[]string{"token", "create"}, "--name:"},
				{[]string{"token"}, `unknown command "token"`},
			} {
				if _, err := tokenRun(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%v = %v, want an error with %q", tc.args, err, tc.want)
				}
			}
		})
	}
}
