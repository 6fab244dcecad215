package account_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	svc    *account.Service
	outbox *mail.Outbox
	clock  *clock
	db     *store.DB
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	ob := mail.NewOutbox(db, c.Now)
	svc, err := account.New(account.Config{DB: db, Mailer: ob, Logger: discard(), Now: c.Now, BaseURL: "https://console.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, outbox: ob, clock: c, db: db}
}

// mails returns the messages sent to addr, newest first.
func (f *fixture) mails(t *testing.T, addr string) []mail.Stored {
	t.Helper()
	all, err := f.outbox.List(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []mail.Stored
	for _, m := range all {
		if len(m.To) == 1 && m.To[0] == addr {
			out = append(out, m)
		}
	}
	return out
}

var linkRE = regexp.MustCompile(`https://console\.example\.com(/[a-z-/]+)\?(\S+)`)

// token returns the token of the newest mail to addr with a link to path.
func (f *fixture) token(t *testing.T, addr, path string) string {
	t.Helper()
	for _, m := range f.mails(t, addr) {
		for _, match := range linkRE.FindAllStringSubmatch(m.Text, -1) {
			if match[1] == path {
				q, err := url.ParseQuery(match[2])
				if err != nil {
					t.Fatal(err)
				}
				return q.Get("token")
			}
		}
	}
	t.Fatalf("no mail to %s with a link to %s", addr, path)
	return ""
}

const goodPassword = "correct horse battery staple"

func (f *fixture) registerVerified(t *testing.T, email string) account.User {
	t.Helper()
	ctx := context.Background()
	if err := f.svc.Register(ctx, account.RegisterInput{Email: email, Name: "Test User", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.VerifyEmail(ctx, f.token(t, email, "/verify-email"))
	if err != nil {
		t.Fatal(err)
	}
	return v.User
}

func TestRegister_VerifyThenLogIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		err := f.svc.Register(ctx, account.RegisterInput{Email: "  Ada@Example.COM ", Name: "Ada", Password: goodPassword, Next: "/link"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.LogIn(ctx, account.LoginInput{Email: "ada@example.com", Password: goodPassword})
		if !errors.Is(err, account.ErrNotVerified) {
			t.Fatalf("log-in before verification = %v, want ErrNotVerified", err)
		}
		ms := f.mails(t, "ada@example.com")
		if len(ms) != 1 || !strings.Contains(ms[0].Text, "next=%2Flink") {
			t.Fatalf("verification mail missing or without the return path: %+v", ms)
		}
		v, err := f.svc.VerifyEmail(ctx, f.token(t, "ada@example.com", "/verify-email"))
		u := v.User
		if err != nil || !u.EmailVerified || u.Email != "ada@example.com" || v.SetPasswordToken != "" {
			t.Fatalf("VerifyEmail = %+v, %v", v, err)
		}
		got, err := f.svc.LogIn(ctx, account.LoginInput{Email: "ADA@example.com", Password: goodPassword})
		if err != nil || got.ID != u.ID {
			t.Fatalf("LogIn = %+v, %v; want user %d", got, err, u.ID)
		}
	})
}

func TestLogIn_SameAnswerForUnknownAddressAndWrongPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.registerVerified(t, "bo@example.com")
		for _, in := range []account.LoginInput{
			{Email: "bo@example.com", Password: "wrong password!"},
			{Email: "nobody@example.com", Password: goodPassword},
		} {
			_, err := f.svc.LogIn(context.Background(), in)
			if !errors.Is(err, account.ErrBadCredentials) {
				t.Errorf("LogIn(%s) = %v, want ErrBadCredentials", in.Email, err)
			}
		}
	})
}

func TestRegister_ExistingAddressRevealsNothingAndChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		first := f.registerVerified(t, "cy@example.com")
		err := f.svc.Register(ctx, account.RegisterInput{Email: "cy@example.com", Name: "Impostor", Password: "another long password 1"})
		if err != nil {
			t.Fatalf("second Register = %v, want the same success as a new address", err)
		}
		u, err := f.svc.LogIn(ctx, account.LoginInput{Email: "cy@example.com", Password: goodPassword})
		if err != nil || u.ID != first.ID || u.Name != "Test User" {
			t.Fatalf("original account changed: %+v, %v", u, err)
		}
		if ms := f.mails(t, "cy@example.com"); ms[0].Subject != "Someone tried to sign up with your e-mail address" {
			t.Fatalf("newest mail to the owner = %q, want the already-registered note", ms[0].Subject)
		}
	})
}

func TestRegister_PasswordRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		tests := []struct {
			password string
			want     string // in the field message; "" = accepted
		}{
			{"short", "at least 10"},
			{"password123", "most common"},
			{"Password2026!", "most common"},
			{"qwertyuiop", "most common"},
			{"1234567890", "most common"},
			{"aaaaaaaaaaaa", "repeat"},
			{"dora.explorer-99", "e-mail address"},
			{strings.Repeat("x", 257) + "y", "at most 256"},
			{goodPassword, ""},
		}
		for i, tt := range tests {
			email := "dora.explorer@example.com"
			if tt.want == "" {
				email = "ok@example.com"
			}
			err := f.svc.Register(context.Background(), account.RegisterInput{Email: email, Name: "D", Password: tt.password, ClientAddr: string(rune('a' + i))})
			msg := fault.Fields(err)["password"]
			if tt.want == "" {
				if err != nil {
					t.Errorf("%q refused: %v", tt.password, err)
				}
				continue
			}
			if fault.KindOf(err) != fault.KindInvalid || !strings.Contains(msg, tt.want) {
				t.Errorf("%q: error %v (field %q), want a password field error containing %q", tt.password, err, msg, tt.want)
			}
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM users WHERE email <> $1`, org.VendorAPIEmail).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d users after the refused registrations, want 1 (%v)", n, err)
		}
	})
}

func TestRegister_InvalidFieldsAllReportedAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		err := f.svc.Register(context.Background(), account.RegisterInput{Email: "not-an-address", Name: " ", Password: "x"})
		fields := fault.Fields(err)
		for _, field := range []string{"email", "name", "password"} {
			if fields[field] == "" {
				t.Errorf("no error for %s in %v", field, fields)
			}
		}
	})
}

func TestVerifyLink_SingleUseAndExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		for _, email := range []string{"e1@example.com", "e2@example.com"} {
			if err := f.svc.Register(ctx, account.RegisterInput{Email: email, Name: "E", Password: goodPassword}); err != nil {
				t.Fatal(err)
			}
		}
		tok1 := f.token(t, "e1@example.com", "/verify-email")
		if _, err := f.svc.VerifyEmail(ctx, tok1); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.VerifyEmail(ctx, tok1); !errors.Is(err, account.ErrLinkInvalid) {
			t.Errorf("second use = %v, want ErrLinkInvalid", err)
		}
		if _, err := f.svc.VerifyEmail(ctx, "made-up"); !errors.Is(err, account.ErrLinkInvalid) {
			t.Errorf("made-up token = %v, want ErrLinkInvalid", err)
		}
		f.clock.Advance(account.VerifyLinkTTL)
		if _, err := f.svc.VerifyEmail(ctx, f.token(t, "e2@example.com", "/verify-email")); !errors.Is(err, account.ErrLinkExpired) {
			t.Errorf("link after 24h = %v, want ErrLinkExpired", err)
		}
		// Resend gives a fresh link that works.
		if err := f.svc.ResendVerification(ctx, "e2@example.com", "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.VerifyEmail(ctx, f.token(t, "e2@example.com", "/verify-email")); err != nil {
			t.Errorf("resent link = %v, want it to verify", err)
		}
	})
}

func TestPasswordReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		u := f.registerVerified(t, "fay@example.com")
		sess, err := f.svc.StartSession(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RequestPasswordReset(ctx, "nobody@example.com", ""); err != nil {
			t.Fatalf("reset for an unknown address = %v, want the same success", err)
		}
		if len(f.mails(t, "nobody@example.com")) != 0 {
			t.Fatal("a mail went to an unregistered address")
		}
		if err := f.svc.RequestPasswordReset(ctx, "fay@example.com", ""); err != nil {
			t.Fatal(err)
		}
		tok := f.token(t, "fay@example.com", "/reset-password")
		if _, err := f.svc.ResetPassword(ctx, tok, "short"); fault.Fields(err)["password"] == "" {
			t.Fatalf("weak new password = %v, want a field error", err)
		}
		const newPassword = "a brand new passphrase"
		if _, err := f.svc.ResetPassword(ctx, tok, newPassword); err != nil {
			t.Fatalf("reset with the link after a refused attempt = %v", err)
		}
		if _, err := f.svc.ResetPassword(ctx, tok, "yet another passphrase"); !errors.Is(err, account.ErrLinkInvalid) {
			t.Errorf("reusing the link = %v, want ErrLinkInvalid", err)
		}
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "fay@example.com", Password: goodPassword}); !errors.Is(err, account.ErrBadCredentials) {
			t.Errorf("old password = %v, want refused", err)
		}
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "fay@example.com", Password: newPassword}); err != nil {
			t.Errorf("new password = %v", err)
		}
		if _, err := f.svc.SessionByToken(ctx, sess); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("session from before the reset = %v, want ended", err)
		}
		if err := f.svc.RequestPasswordReset(ctx, "fay@example.com", ""); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(account.ResetLinkTTL)
		if err := f.svc.CheckResetLink(ctx, f.token(t, "fay@example.com", "/reset-password")); !errors.Is(err, account.ErrLinkExpired) {
			t.Errorf("reset link after an hour = %v, want ErrLinkExpired", err)
		}
	})
}

func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		u := f.registerVerified(t, "hal@example.com")
		a, err := f.svc.StartSession(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.svc.StartSession(ctx, u.ID)
		if a == b {
			t.Fatal("two log-ins got the same session token")
		}
		s, err := f.svc.SessionByToken(ctx, a)
		if err != nil || s.User.ID != u.ID {
			t.Fatalf("SessionByToken = %+v, %v", s, err)
		}
		var stored int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM sessions WHERE token_hash = $1`, a).Scan(&stored); err != nil || stored != 0 {
			t.Fatal("the session token itself is stored; only its hash may be")
		}
		if err := f.svc.EndSession(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.SessionByToken(ctx, a); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("ended session = %v, want ErrNoSession", err)
		}
		f.clock.Advance(account.SessionTTL)
		if _, err := f.svc.SessionByToken(ctx, b); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("session after its lifetime = %v, want ErrNoSession", err)
		}
	})
}

func TestOnboarding_TwoStepsInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		u := f.registerVerified(t, "ivy@example.com")
		profile := account.ProfileInput{JobRole: "engineering", CompanySize: "11-50", UseCase: "analytics"}
		if err := f.svc.SaveProfile(ctx, u.ID, profile); !errors.Is(err, account.ErrCompanyFirst) {
			t.Fatalf("second step first = %v, want ErrCompanyFirst", err)
		}
		bad := account.CompanyInput{CompanyName: "", Country: "XX", Address: ""}
		if fields := fault.Fields(f.svc.SaveCompany(ctx, u.ID, bad)); len(fields) != 3 {
			t.Fatalf("field errors = %v, want company_name, country and address", fields)
		}
		if err := f.svc.SaveCompany(ctx, u.ID, account.CompanyInput{CompanyName: "Ivy Ltd", Country: "JP", Address: "1-1 Chiyoda, Tokyo"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.svc.UserByID(ctx, u.ID); got.Onboarded {
			t.Fatal("onboarded after the first step only")
		}
		if err := f.svc.SaveProfile(ctx, u.ID, account.ProfileInput{JobRole: "astronaut"}); fault.KindOf(err) != fault.KindInvalid {
			t.Fatalf("unknown role = %v, want invalid", err)
		}
		if err := f.svc.SaveProfile(ctx, u.ID, profile); err != nil {
			t.Fatal(err)
		}
		got, _ := f.svc.UserByID(ctx, u.ID)
		b, found, err := f.svc.Business(ctx, u.ID)
		if !got.Onboarded || !found || err != nil || b.CompanyName != "Ivy Ltd" || b.UseCase != "analytics" {
			t.Fatalf("after both steps: user %+v, business %+v (%v, %v)", got, b, found, err)
		}
	})
}
