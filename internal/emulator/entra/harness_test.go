package entra

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Test identities, GUID-shaped as Entra's are.
const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClient   = "11111111-2222-4333-8444-555555555555"
	testSecret   = "s3cr3t~with+special/chars=&"
	otherTenant  = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	otherClient  = "99999999-8888-4777-8666-555555555555"
	otherSecret  = "another-secret"
	unknownGUID  = "00000000-0000-4000-8000-000000000000"
	mountPrefix  = "/entra"
	testStartUTC = "2026-03-01T10:00:00Z"
)

// clock is a settable clock for the stand-in.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a stand-in mounted under /entra/ on a loopback TLS server, the
// way the emulator mounts it, with two publisher apps registered.
type env struct {
	s      *Server
	clock  *clock
	srv    *httptest.Server
	base   string // https://127.0.0.1:port/entra/
	client *http.Client
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	return newEnvAt(t, mountPrefix, mutate...)
}

// newEnvAt mounts the stand-in under prefix ("" for the root of the host,
// which MSAL needs: see testdata/azidentity_test.go.txt).
func newEnvAt(t *testing.T, prefix string, mutate ...func(*Config)) *env {
	t.Helper()
	start, _ := time.Parse(time.RFC3339, testStartUTC)
	e := &env{clock: &clock{t: start}}
	var handler http.Handler = http.NotFoundHandler()
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL + prefix + "/"
	cfg := Config{PublicURL: e.base, Now: e.clock.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.s = s
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, s))
	handler = mux
	for _, a := range []App{
		{TenantID: testTenant, ClientID: testClient, SecretHash: HashSecret(testSecret), Name: "Contoso"},
		{TenantID: otherTenant, ClientID: otherClient, SecretHash: HashSecret(otherSecret), Name: "Fabrikam"},
	} {
		if err := s.RegisterApp(a); err != nil {
			t.Fatalf("RegisterApp: %v", err)
		}
	}
	e.client = e.srv.Client()
	return e
}

// roots trusts the test server's certificate, for clients given a pool.
func (e *env) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(e.srv.Certificate())
	return pool
}
