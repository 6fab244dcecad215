package gcpmp

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key cache bounds.
const (
	// keysRefetchEvery bounds how often an unknown kid refetches the keys:
	// tokens with made-up kids must not make us hammer Google.
	keysRefetchEvery = 10 * time.Second
	// defaultKeysTTL is how long keys are kept when the answer carries no
	// Cache-Control max-age.
	defaultKeysTTL = 5 * time.Minute
	// maxKeysBody bounds the read of a key document (a few KiB).
	maxKeysBody = 1 << 20
	// maxKeysTTL bounds a max-age: a typo'd year must not pin keys that
	// Google has withdrawn.
	maxKeysTTL = 24 * time.Hour
	// minRSABits refuses toy keys.
	minRSABits = 2048
)

var (
	// errKeysUnavailable: the keys could not be read; the token may be
	// good, so the caller answers "try again", never "forged".
	errKeysUnavailable = errors.New("signing keys could not be read")
	// errUnknownKey: the keys were read and the token's kid is not among
	// them.
	errUnknownKey = errors.New("unknown key id")
)

// keySet is a cached set of RSA public keys by kid, read from one
// configured URL (never a URL a token names), kept as long as the answer's
// Cache-Control allows, and read again once when a kid is unknown. Safe for
// concurrent use.
type keySet struct {
	url   string
	parse func([]byte) (map[string]*rsa.PublicKey, error)
	http  *http.Client
	now   func() time.Time
	// timeout bounds one fetch.
	timeout time.Duration

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	expires   time.Time
	fetchedAt time.Time // of the last attempt, successful or not
	fetchErr  error     // of the last attempt
}

// key returns the key kid. Keys past their cache time are read again; if
// that fails, the stale keys still serve (Google rotates keys days after
// publishing the next one).
func (s *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k, known := s.keys[kid]
	if known && now.Before(s.expires) {
		return k, nil
	}
	if !s.fetchedAt.IsZero() && now.Sub(s.fetchedAt) < keysRefetchEvery && now.Sub(s.fetchedAt) >= 0 {
		switch {
		case known:
			return k, nil
		case s.fetchErr != nil:
			return nil, fmt.Errorf("%w: %w", errKeysUnavailable, s.fetchErr)
		}
		return nil, fmt.Errorf("%w %q at %s", errUnknownKey, kid, s.url)
	}
	s.fetchedAt = now
	keys, ttl, err := s.fetch(ctx)
	s.fetchErr = err
	if err != nil {
		if known {
			return k, nil
		}
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
	}
	s.keys, s.expires = keys, now.Add(ttl)
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q at %s", errUnknownKey, kid, s.url)
}

func (s *keySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: HTTP %d", s.url, res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxKeysBody))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", s.url, err)
	}
	keys, err := s.parse(b)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", s.url, err)
	}
	return keys, cacheTTL(res.Header), nil
}

// cacheTTL is how long an answer may be kept: Cache-Control's max-age less
// the Age a cache in between added; no-store and no-cache keep it for no
// time (the next token refetches, no more often than keysRefetchEvery).
func cacheTTL(h http.Header) time.Duration {
	maxAge := -1
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0
		case "max-age", "s-maxage":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 && (maxAge < 0 || n < maxAge) {
				maxAge = n
			}
		}
	}
	if maxAge < 0 {
		return defaultKeysTTL
	}
	if age, err := strconv.Atoi(h.Get("Age")); err == nil && age > 0 {
		maxAge -= age
	}
	if maxAge > int(maxKeysTTL/time.Second) {
		return maxKeysTTL
	}
	return time.Duration(max(maxAge, 0)) * time.Second
}

// parseCertMap reads Google's x509 map, {"<kid>": "<PEM certificate>"}
// (§1.3), keeping the RSA keys of at least 2048 bits. The certificates'
// dates are not checked: Google's own verifiers do not, and the map is the
// list of keys in use. A map with no usable key is an error.
func parseCertMap(b []byte) (map[string]*rsa.PublicKey, error) {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("certificate map: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for kid, p := range m {
		block, _ := pem.Decode([]byte(p))
		if kid == "" || block == nil || block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); ok && pub.N.BitLen() >= minRSABits {
			keys[kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("certificate map: no RSA certificate of 2048 bits or more")
	}
	return keys, nil
}

// parseJWKS reads a JSON Web Key Set, keeping RSA signing keys of at least
// 2048 bits that name a kid. A set with none is an error.
func parseJWKS(b []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil {
			continue // a key type go-jose does not know: not one of Google's
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" || (k.Use != "" && k.Use != "sig") || pub.N.BitLen() < minRSABits {
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("key set: no RSA signing key")
	}
	return keys, nil
}
