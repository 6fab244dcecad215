package entra

import (
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint of the certificate.
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// File names in the data folder.
const (
	KeyFile         = "entra-signing-key.pem"
	PreviousKeyFile = "entra-signing-key-previous.pem"
)

// retiredHeader records on the previous key's PEM block when it was rotated
// out, which decides how long it stays published after a restart.
const retiredHeader = "Retired-At"

// signingKey is an RSA key with the self-signed certificate Entra's JWKS
// entries carry as x5c. Its kid is the certificate's x5t, as Entra's are.
type signingKey struct {
	key       *rsa.PrivateKey
	certDER   []byte
	kid       string
	retiredAt time.Time // zero while it signs
}

// keyring holds the key that signs and the one it replaced.
type keyring struct {
	mu       sync.RWMutex
	dir      string
	random   io.Reader
	current  *signingKey
	previous *signingKey
}

func loadKeyring(dir string, random io.Reader, now time.Time) (*keyring, error) {
	kr := &keyring{dir: dir, random: random}
	if dir == "" {
		k, err := newSigningKey(random, now)
		if err != nil {
			return nil, err
		}
		kr.current = k
		return kr, nil
	}
	cur, err := readKey(filepath.Join(dir, KeyFile), false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if cur, err = newSigningKey(random, now); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("save entra signing key: %w", err)
		}
		if err := writeKey(dir, KeyFile, cur); err != nil {
			return nil, err
		}
	case err != nil:
		// Making a new key would silently break every token and cached JWKS
		// out there; say what is wrong instead.
		return nil, err
	}
	kr.current = cur
	prev, err := readKey(filepath.Join(dir, PreviousKeyFile), true)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case prev.kid != cur.kid: // equal after a crash between the two writes of a rotation
		kr.previous = prev
	}
	return kr, nil
}

func newSigningKey(random io.Reader, now time.Time) (*signingKey, error) {
	key, err := rsa.GenerateKey(random, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate entra signing key: %w", err)
	}
	serial := make([]byte, 16)
	if _, err := io.ReadFull(random, serial); err != nil {
		return nil, fmt.Errorf("generate entra signing certificate serial: %w", err)
	}
	// Entra's signing certificates are self-signed for this subject; only
	// x5c-reading verifiers look at it, and none checks a chain.
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create entra signing certificate: %w", err)
	}
	return makeSigningKey(key, der), nil
}

func makeSigningKey(key *rsa.PrivateKey, certDER []byte) *signingKey {
	sum := sha1.Sum(certDER) //nolint:gosec // x5t
	return &signingKey{key: key, certDER: certDER, kid: base64.RawURLEncoding.EncodeToString(sum[:])}
}

func readKey(path string, previous bool) (*signingKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load entra signing key: %w", err)
	}
	k, err := parseKey(data, previous)
	if err != nil {
		return nil, fmt.Errorf("load entra signing key %s: %w", path, err)
	}
	return k, nil
}

func parseKey(data []byte, previous bool) (*signingKey, error) {
	keyBlock, rest := pem.Decode(data)
	if keyBlock == nil || keyBlock.Type != "PRIVATE KEY" {
		return nil, errors.New("want a PRIVATE KEY PEM block first")
	}
	certBlock, _ := pem.Decode(rest)
	if certBlock == nil || certBlock.Type != "CERTIFICATE" {
		return nil, errors.New("want a CERTIFICATE PEM block after the key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want RSA", parsed)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("the certificate does not belong to the key")
	}
	k := makeSigningKey(key, certBlock.Bytes)
	if previous {
		at, err := time.Parse(time.RFC3339, keyBlock.Headers[retiredHeader])
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", retiredHeader, err)
		}
		k.retiredAt = at
	}
	return k, nil
}

func encodeKey(k *signingKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return nil, fmt.Errorf("save entra signing key: %w", err)
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	if !k.retiredAt.IsZero() {
		block.Headers = map[string]string{retiredHeader: k.retiredAt.UTC().Format(time.RFC3339)}
	}
	out := pem.EncodeToMemory(block)
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.certDER})...), nil
}

// writeKey replaces dir/name atomically, readable by the owner only: a torn
// file would stop the next start, and the key signs tokens the emulator
// trusts.
func writeKey(dir, name string, k *signingKey) error {
	data, err := encodeKey(k)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("save entra signing key: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("save entra signing key: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save entra signing key: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save entra signing key: %w", err)
	}
	return nil
}

// rotate makes a new signing key; the current one becomes the previous one,
// and the previous one is forgotten. Nothing changes if saving fails.
func (kr *keyring) rotate(now time.Time) (string, error) {
	next, err := newSigningKey(kr.random, now)
	if err != nil {
		return "", err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	retired := *kr.current
	retired.retiredAt = now
	if kr.dir != "" {
		// The previous key first: were the process to stop in between, the
		// folder would hold the old key twice, which loading tolerates,
		// rather than lose the key of tokens in flight.
		if err := writeKey(kr.dir, PreviousKeyFile, &retired); err != nil {
			return "", err
		}
		if err := writeKey(kr.dir, KeyFile, next); err != nil {
			return "", err
		}
	}
	kr.previous, kr.current = &retired, next
	return next.kid, nil
}

// signer is the key that signs now.
func (kr *keyring) signer() *signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.current
}

// published are the keys in the JWKS at now: the current one, and the
// previous one until keep has passed since it was rotated out.
func (kr *keyring) published(now time.Time, keep time.Duration) []*signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	keys := []*signingKey{kr.current}
	if p := kr.previous; p != nil && now.Before(p.retiredAt.Add(keep)) {
		keys = append(keys, p)
	}
	return keys
}

// RotateKeys makes a new signing key and returns its kid. Tokens signed by
// the key it replaces keep verifying, and that key stays in the JWKS, for
// PreviousKeyLifetime; the key before that is dropped at once. In the data
// folder the new key replaces the old one.
func (s *Server) RotateKeys() (kid string, err error) {
	kid, err = s.keys.rotate(s.now())
	if err != nil {
		return "", fmt.Errorf("rotate entra signing keys: %w", err)
	}
	s.log.Info("entra signing key rotated", "kid", kid)
	return kid, nil
}

// KeyIDs are the kids of the published keys, the signing one first.
func (s *Server) KeyIDs() []string {
	var ids []string
	for _, k := range s.keys.published(s.now(), s.keepPrevious) {
		ids = append(ids, k.kid)
	}
	return ids
}
