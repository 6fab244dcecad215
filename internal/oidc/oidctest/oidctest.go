// Package oidctest runs a real OpenID Connect provider inside tests: the
// OpenID-certified github.com/zitadel/oidc/v3 op package (discovery, the
// authorization and token endpoints, signing, userinfo, end_session) over
// its example in-memory storage, on 127.0.0.1. Only the provider's log-in
// page, which no standard defines, is written here.
package oidctest

import (
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Client credentials marketbridge uses at the provider.
const (
	ClientID     = "marketbridge"
	ClientSecret = "marketbridge-test-secret"
)

// User is a person with an account at the provider.
type User struct {
	Subject       string // the sub claim
	Username      string // what they type on the provider's log-in page
	Password      string
	Email         string
	EmailVerified bool
	GivenName     string
	FamilyName    string
}

// Provider is a running OpenID provider.
type Provider struct {
	// Issuer is the provider's URL, http://127.0.0.1:PORT.
	Issuer string
	users  *userStore
	auto   atomic.Pointer[string]
	// logouts counts end_session requests that ended a session.
	logouts atomic.Int64
}

// Start runs a provider until the test ends. It accepts marketbridge as a
// confidential web client (ClientID, ClientSecret) redirecting to any port
// of 127.0.0.1 at /login/oidc/callback, and back to /login after log-out.
func Start(t testing.TB) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidctest: listen: %v", err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), users: &userStore{users: map[string]*storage.User{}}}
	client := storage.WebClient(ClientID, ClientSecret)
	st := &store{Storage: storage.NewStorageWithClients(p.users, map[string]*storage.Client{ClientID: client}), p: p}
	var key [32]byte
	_, _ = rand.Read(key[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                key,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		SupportedUILocales:       []language.Tag{language.English},
	}, st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("oidctest: provider: %v", err)
	}
	intercept := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	callback := op.AuthCallbackURL(provider)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/username", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		if u := p.auto.Load(); u != nil && *u != "" {
			user := st.users().GetUserByUsername(*u)
			if user == nil || st.CheckUsernamePassword(user.Username, user.Password, id) != nil {
				http.Error(w, "auto log-in failed", http.StatusBadRequest)
				return
			}
			intercept.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
			})(w, r)
			return
		}
		renderLogin(w, id, "")
	})
	mux.Handle("POST /login/username", intercept.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PostFormValue("id")
		if err := st.CheckUsernamePassword(r.PostFormValue("username"), r.PostFormValue("password"), id); err != nil {
			renderLogin(w, id, "The username or password is wrong.")
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "signed out")
	})
	mux.Handle("/", provider)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return p
}

// Flags are marketbridge's command-line flags for this provider.
func (p *Provider) Flags(name string) []string {
	return []string{"--oidc-issuer", p.Issuer, "--oidc-client-id", ClientID, "--oidc-client-secret", ClientSecret, "--oidc-name", name}
}

// AddUser creates (or replaces) a user at the provider.
func (p *Provider) AddUser(u User) {
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	p.users.users[u.Subject] = &storage.User{ID: u.Subject, Username: u.Username, Password: u.Password, FirstName: u.GivenName,
		LastName: u.FamilyName, Email: u.Email, EmailVerified: u.EmailVerified, PreferredLanguage: language.English}
}

// AutoLogin makes the provider's log-in page log username in at once,
// without a form, for tests that drive the flow over plain HTTP; "" brings
// the form back.
func (p *Provider) AutoLogin(username string) { p.auto.Store(&username) }

// Logouts is how many sessions end_session has ended.
func (p *Provider) Logouts() int64 { return p.logouts.Load() }

// store is the example storage with marketbridge's client allowed to
// redirect to any loopback port, and log-outs counted.
type store struct {
	*storage.Storage
	p *Provider
}

func (s *store) users() *userStore { return s.p.users }

func (s *store) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return loopbackClient{c}, nil
}

func (s *store) TerminateSession(ctx context.Context, userID, clientID string) error {
	s.p.logouts.Add(1)
	return s.Storage.TerminateSession(ctx, userID, clientID)
}

type loopbackClient struct{ op.Client }

func (loopbackClient) RedirectURIGlobs() []string {
	return []string{"http://127.0.0.1:*/login/oidc/callback"}
}
func (loopbackClient) PostLogoutRedirectURIGlobs() []string {
	return []string{"http://127.0.0.1:*/login"}
}

// userStore is the example storage's UserStore, keyed by subject.
type userStore struct {
	mu    sync.Mutex
	users map[string]*storage.User
}

func (u *userStore) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	if x, ok := u.users[id]; ok {
		c := *x
		return &c
	}
	return nil
}

func (u *userStore) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.users {
		if x.Username == name {
			c := *x
			return &c
		}
	}
	return nil
}

func (u *userStore) ExampleClientID() string { return "service" }

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example Identity</title></head>
<body><main>
<h1>Sign in to Example Identity</h1>
{{with .Error}}<p role="alert">{{.}}</p>{{end}}
<form method="post" action="/login/username">
  <input type="hidden" name="id" value="{{.ID}}">
  <label for="username">Username</label> <input id="username" name="username" autocomplete="username">
  <label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>
</main></body></html>`))

func renderLogin(w http.ResponseWriter, id, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := loginPage.Execute(w, struct{ ID, Error string }{id, msg}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
