package googleid

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const (
	testSA   = "marketbridge-seller@example-cloud-provider.iam.gserviceaccount.com"
	pushSA   = "marketplace-push@example-cloud-provider.iam.gserviceaccount.com"
	cloudAll = "https://www.googleapis.com/auth/cloud-platform"
	// mountPrefix is where the emulator mounts the stand-in.
	mountPrefix = "/google/id"
)

// fakeClock is a settable clock; tests advance it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a stand-in served by a loopback listener, mounted under the
// emulator's prefix as the house does.
type env struct {
	s      *Server
	srv    *httptest.Server
	clock  *fakeClock
	base   string // PublicURL
	client *http.Client
}

func newEnv(t *testing.T, edit ...func(*Config)) *env {
	t.Helper()
	// The real clients (x/oauth2, idtoken) sign and check times on the real
	// clock, so the emulator's starts there.
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := Config{PublicURL: srv.URL + mountPrefix + "/", Now: clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(mountPrefix+"/", http.StripPrefix(mountPrefix, s))
	return &env{s: s, srv: srv, clock: clock, base: cfg.PublicURL, client: srv.Client()}
}
