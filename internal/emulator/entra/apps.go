package entra

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// App is a publisher's app registration: the single-tenant Entra app whose
// tenant and client id the publisher enters in Partner Center, with one
// client secret.
type App struct {
	TenantID string
	ClientID string
	// SecretHash is HashSecret of the client secret: the registry never
	// holds the secret itself, so the emulator's store need not either.
	SecretHash string
	// ObjectID is the oid and sub of the app's tokens (its service
	// principal); empty derives a stable one from tenant and client id.
	ObjectID string
	// Name is a display name for the control API and logs.
	Name string
}

// HashSecret is the form of a client secret App.SecretHash holds.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func secretMatches(hash, secret string) bool {
	want := HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(hash), []byte(want)) == 1
}

// Validate reports every invalid field at once.
func (a App) Validate() error {
	var errs []error
	if err := checkID("tenant id", a.TenantID); err != nil {
		errs = append(errs, err)
	} else if reservedTenants[strings.ToLower(a.TenantID)] {
		errs = append(errs, fmt.Errorf("tenant id %q is one of Entra's multi-tenant aliases, not a tenant", a.TenantID))
	}
	if err := checkID("client id", a.ClientID); err != nil {
		errs = append(errs, err)
	} else if strings.EqualFold(a.ClientID, MarketplaceAppID) {
		errs = append(errs, fmt.Errorf("client id %s is the marketplace's own app, not a publisher's", a.ClientID))
	}
	if !strings.HasPrefix(a.SecretHash, "sha256:") || len(a.SecretHash) != len("sha256:")+64 {
		errs = append(errs, errors.New("secret hash: want HashSecret(secret)"))
	}
	if a.ObjectID != "" {
		if err := checkID("object id", a.ObjectID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("app registration: %w", err)
	}
	return nil
}

// reservedTenants are the authority segments that name no tenant.
var reservedTenants = map[string]bool{"common": true, "organizations": true, "consumers": true}

// checkID accepts what can be a tenant or app id in a URL path: GUIDs, as
// Entra's are, and the verified domain names tenants also go by
// (contoso.onmicrosoft.com). Anything else would make URLs ambiguous.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s is required", what)
	}
	if len(id) > 128 {
		return fmt.Errorf("%s is longer than 128 characters", what)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("%s %q: only letters, digits, '-', '.' and '_' are allowed", what, id)
		}
	}
	return nil
}

// appKey is the case-folded (tenant, client) pair: Entra ids are GUIDs,
// which compare without case.
type appKey struct{ tenant, client string }

func keyOf(tenantID, clientID string) appKey {
	return appKey{strings.ToLower(tenantID), strings.ToLower(clientID)}
}

// RegisterApp adds a publisher app, or replaces the one with the same
// tenant and client id (a new secret, say). Client ids are unique across
// Entra, so the same client id in another tenant is refused.
func (s *Server) RegisterApp(a App) error {
	if err := a.Validate(); err != nil {
		return err
	}
	a.TenantID, a.ClientID, a.ObjectID = strings.ToLower(a.TenantID), strings.ToLower(a.ClientID), strings.ToLower(a.ObjectID)
	if a.ObjectID == "" {
		a.ObjectID = derivedID("app-sp", a.TenantID, a.ClientID)
	}
	s.appsMu.Lock()
	defer s.appsMu.Unlock()
	if t, ok := s.clientTenants[a.ClientID]; ok && t != a.TenantID {
		return fmt.Errorf("app registration: client id %s is already registered in tenant %s; remove it there first", a.ClientID, t)
	}
	s.apps[keyOf(a.TenantID, a.ClientID)] = a
	s.clientTenants[a.ClientID] = a.TenantID
	return nil
}

// RemoveApp deletes a registration; tokens it was issued stop verifying.
// It reports whether there was one.
func (s *Server) RemoveApp(tenantID, clientID string) bool {
	k := keyOf(tenantID, clientID)
	s.appsMu.Lock()
	defer s.appsMu.Unlock()
	if _, ok := s.apps[k]; !ok {
		return false
	}
	delete(s.apps, k)
	delete(s.clientTenants, k.client)
	return true
}

// Apps lists the registrations, by tenant then client id.
func (s *Server) Apps() []App {
	s.appsMu.RLock()
	out := make([]App, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a)
	}
	s.appsMu.RUnlock()
	slices.SortFunc(out, func(a, b App) int {
		return strings.Compare(a.TenantID+"/"+a.ClientID, b.TenantID+"/"+b.ClientID)
	})
	return out
}

// app finds a registration; ok is false when there is none.
func (s *Server) app(tenantID, clientID string) (App, bool) {
	s.appsMu.RLock()
	defer s.appsMu.RUnlock()
	a, ok := s.apps[keyOf(tenantID, clientID)]
	return a, ok
}

// knownTenant reports whether any app is registered in tenant: the
// stand-in's directory has no tenants but those of its apps.
func (s *Server) knownTenant(tenantID string) bool {
	tenantID = strings.ToLower(tenantID)
	s.appsMu.RLock()
	defer s.appsMu.RUnlock()
	for k := range s.apps {
		if k.tenant == tenantID {
			return true
		}
	}
	return false
}

// derivedID is a stable GUID-shaped id for an object the stand-in does not
// store (a service principal), so that oid stays the same across restarts.
func derivedID(kind string, parts ...string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + strings.Join(parts, "\x00")))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5-like: name-based
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return formatGUID(b)
}

func formatGUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
