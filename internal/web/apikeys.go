package web

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/secret"
)

type apiKeysView struct {
	Keys []org.APIKey
	// NewName names the key just created; NewKey is its secret, on the
	// page's first showing only.
	NewName string
	NewKey  string
}

// renderAPIKeys lists the organization's keys. created is a key just made,
// whose secret the page shows if it still can: once, to the session that
// made it (0 for none).
func (s *Server) renderAPIKeys(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org, status int, f form, created int64) error {
	keys, err := s.cfg.Orgs.Keys(r.Context(), u.User.ID, o.ID)
	if err != nil {
		return err
	}
	v := apiKeysView{Keys: keys}
	for _, k := range keys {
		if created != 0 && k.ID == created {
			v.NewName = k.Name
			v.NewKey, _ = s.freshKeys.take(u.token, o.ID, k.ID)
		}
	}
	s.render(w, r, status, "api_keys", view{Title: "API keys · " + o.Name, Org: &o, Form: f, Data: v})
	return nil
}

// handleAPIKeys lists the keys. After a creation (?created=id) it shows the
// new key's secret, once: a reload finds it taken, and says so instead.
func (s *Server) handleAPIKeys(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	created, _ := strconv.ParseInt(r.URL.Query().Get("created"), 10, 64)
	return s.renderAPIKeys(w, r, u, o, http.StatusOK, form{}, created)
}

// handleCreateAPIKey makes a key and redirects to the list, which shows its
// secret once (post/redirect/get): reloading that page cannot make a
// second key.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	k, full, err := s.cfg.Orgs.CreateKey(r.Context(), u.User.ID, o.ID, org.CreateKeyInput{Name: r.PostForm.Get("name")})
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		return s.renderAPIKeys(w, r, u, o, statusOf(err), formFrom(r, err), 0)
	}
	s.freshKeys.put(u.token, o.ID, k.ID, full)
	return seeOther(w, r, fmt.Sprintf("%s?created=%d", orgURL(o.ID, "api-keys"), k.ID))
}

func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Orgs.RevokeKey(r.Context(), u.User.ID, o.ID, id); err != nil {
		return err
	}
	s.setFlash(w, "Key revoked. Requests that use it are refused from now on.")
	return seeOther(w, r, orgURL(o.ID, "api-keys"))
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	entries, err := s.cfg.Orgs.AuditLog(r.Context(), u.User.ID, o.ID, 200)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "audit", view{Title: "Audit log · " + o.Name, Org: &o, Data: entries})
	return nil
}

// freshKeyTTL is how long a new key's secret waits for the page after the
// redirect: that page follows at once, or not at all.
const freshKeyTTL = time.Minute

// freshKeys holds the secret of each API key just created until the page
// the creation redirects to shows it: once, to the session that created
// it, within freshKeyTTL. The secret stays in this process's memory, never
// in the database, a cookie or a URL, so that only its hash is ever stored.
// Behind a load balancer the redirect must reach the same process (sticky
// sessions); elsewhere the page says the key was made but cannot be shown.
type freshKeys struct {
	now     func() time.Time
	mu      sync.Mutex
	secrets map[freshKeyID]freshKey
}

type freshKeyID struct {
	session string // hash of the session token
	org     int64
	key     int64
}

type freshKey struct {
	secret  string
	expires time.Time
}

func newFreshKeys(now func() time.Time) *freshKeys {
	return &freshKeys{now: now, secrets: map[freshKeyID]freshKey{}}
}

func (f *freshKeys) put(sessionToken string, orgID, keyID int64, secretKey string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropExpired()
	f.secrets[freshKeyID{secret.Hash(sessionToken), orgID, keyID}] = freshKey{secret: secretKey, expires: f.now().Add(freshKeyTTL)}
}

// take returns the key's secret and forgets it.
func (f *freshKeys) take(sessionToken string, orgID, keyID int64) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropExpired()
	id := freshKeyID{secret.Hash(sessionToken), orgID, keyID}
	k, ok := f.secrets[id]
	delete(f.secrets, id)
	return k.secret, ok
}

func (f *freshKeys) dropExpired() {
	now := f.now()
	for id, k := range f.secrets {
		if !now.Before(k.expires) {
			delete(f.secrets, id)
		}
	}
}
