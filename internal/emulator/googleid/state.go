package googleid

import (
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // Google's kids are 40 hex digits; SHA-1 of the certificate gives that shape.
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
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

// StateFile is the file in the data folder that holds the keys.
const StateFile = "google-id.json"

// ring names a key set.
type ring int

const (
	partnerRing ring = iota // signs sign-up JWTs
	oidcRing                // signs push OIDC tokens
)

// signingKey is an RSA key with the self-signed certificate Google's x509
// maps carry. Its kid is the hex SHA-1 of the certificate: 40 hex digits,
// the shape of Google's kids.
type signingKey struct {
	key     *rsa.PrivateKey
	certDER []byte
	kid     string
}

// saKey is an issued service-account key; Google keeps only the public half,
// the emulator keeps the whole key so that asking again returns the same file.
type saKey struct {
	Email     string    `json:"email"`
	KeyID     string    `json:"keyId"`
	ClientID  string    `json:"clientId"`
	ProjectID string    `json:"projectId"`
	Key       string    `json:"key"`  // PKCS#8 PEM
	Cert      string    `json:"cert"` // PEM
	CreatedAt time.Time `json:"createdAt"`
	Revoked   bool      `json:"revoked,omitempty"`

	signing *signingKey
}

// state is everything the stand-in keeps: the two key sets (current key
// first, then the one it replaced), the secret access tokens are sealed
// with, and the issued service-account keys. It is written whole to one
// file on every change; it is small and changes rarely.
type state struct {
	mu       sync.RWMutex
	dir      string
	random   io.Reader
	rings    [2][]*signingKey
	secret   []byte
	accounts []*saKey
}

// fileState is the JSON form of state.
type fileState struct {
	Partner           []fileKey `json:"partner"`
	OIDC              []fileKey `json:"oidc"`
	AccessTokenSecret []byte    `json:"accessTokenSecret"`
	ServiceAccounts   []*saKey  `json:"serviceAccounts"`
}

type fileKey struct {
	Key  string `json:"key"`
	Cert string `json:"cert"`
}

func loadState(dir string, random io.Reader, now time.Time) (*state, error) {
	st := &state{dir: dir, random: random}
	if dir != "" {
		data, err := os.ReadFile(filepath.Join(dir, StateFile))
		switch {
		case err == nil:
			if err := st.decode(data); err != nil {
				// Making new keys would silently break every key file and
				// cached certificate out there; say what is wrong instead.
				return nil, fmt.Errorf("load %s: %w", filepath.Join(dir, StateFile), err)
			}
			return st, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("load google identity keys: %w", err)
		}
	}
	for _, r := range []ring{partnerRing, oidcRing} {
		k, err := newSigningKey(random, subjects[r], now)
		if err != nil {
			return nil, err
		}
		st.rings[r] = []*signingKey{k}
	}
	st.secret = make([]byte, 32)
	if _, err := io.ReadFull(random, st.secret); err != nil {
		return nil, fmt.Errorf("make access token secret: %w", err)
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("save google identity keys: %w", err)
		}
		if err := st.save(); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// subjects are the certificates' common names.
var subjects = [2]string{partnerRing: PartnerEmail, oidcRing: "accounts.google.com"}

func newSigningKey(random io.Reader, subject string, now time.Time) (*signingKey, error) {
	key, err := rsa.GenerateKey(random, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	serial := make([]byte, 16)
	if _, err := io.ReadFull(random, serial); err != nil {
		return nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial),
		Subject:      pkix.Name{CommonName: subject},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create signing certificate: %w", err)
	}
	return makeSigningKey(key, der), nil
}

func makeSigningKey(key *rsa.PrivateKey, certDER []byte) *signingKey {
	sum := sha1.Sum(certDER) //nolint:gosec // kid shape only
	return &signingKey{key: key, certDER: certDER, kid: hex.EncodeToString(sum[:])}
}

func (k *signingKey) keyPEM() (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func (k *signingKey) certPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.certDER}))
}

func parseSigningKey(keyPEM, certPEM string) (*signingKey, error) {
	kb, _ := pem.Decode([]byte(keyPEM))
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("want a PRIVATE KEY PEM block")
	}
	cb, _ := pem.Decode([]byte(certPEM))
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("want a CERTIFICATE PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want RSA", parsed)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("the certificate does not belong to the key")
	}
	return makeSigningKey(key, cb.Bytes), nil
}

func (st *state) decode(data []byte) error {
	var f fileState
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	for r, keys := range [2][]fileKey{partnerRing: f.Partner, oidcRing: f.OIDC} {
		if len(keys) == 0 || len(keys) > 2 {
			return fmt.Errorf("want one or two %s keys, found %d", subjects[r], len(keys))
		}
		for i, fk := range keys {
			k, err := parseSigningKey(fk.Key, fk.Cert)
			if err != nil {
				return fmt.Errorf("%s key %d: %w", subjects[r], i, err)
			}
			st.rings[r] = append(st.rings[r], k)
		}
	}
	if len(f.AccessTokenSecret) < 32 {
		return errors.New("access token secret: want 32 bytes")
	}
	st.secret = f.AccessTokenSecret
	for _, a := range f.ServiceAccounts {
		k, err := parseSigningKey(a.Key, a.Cert)
		if err != nil {
			return fmt.Errorf("service account key %s: %w", a.KeyID, err)
		}
		if k.kid != a.KeyID {
			return fmt.Errorf("service account key %s: its certificate's id is %s", a.KeyID, k.kid)
		}
		a.signing = k
	}
	st.accounts = f.ServiceAccounts
	return nil
}

// save writes the state file; the caller holds mu (or owns st alone).
func (st *state) save() error {
	if st.dir == "" {
		return nil
	}
	f := fileState{AccessTokenSecret: st.secret, ServiceAccounts: st.accounts}
	for r, dst := range [2]*[]fileKey{partnerRing: &f.Partner, oidcRing: &f.OIDC} {
		for _, k := range st.rings[r] {
			kp, err := k.keyPEM()
			if err != nil {
				return fmt.Errorf("save google identity keys: %w", err)
			}
			*dst = append(*dst, fileKey{Key: kp, Cert: k.certPEM()})
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save google identity keys: %w", err)
	}
	if err := replaceFile(st.dir, StateFile, data); err != nil {
		return fmt.Errorf("save google identity keys: %w", err)
	}
	return nil
}

// replaceFile replaces dir/name atomically, readable by the owner only: a
// torn file would stop the next start, and it holds private keys.
func replaceFile(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// rotate puts a new key at the front of both rings, keeping the one it
// replaces; nothing changes if saving fails.
func (st *state) rotate(now time.Time) (partnerKID, oidcKID string, err error) {
	var fresh [2]*signingKey
	for _, r := range []ring{partnerRing, oidcRing} {
		if fresh[r], err = newSigningKey(st.random, subjects[r], now); err != nil {
			return "", "", err
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.rings
	for _, r := range []ring{partnerRing, oidcRing} {
		st.rings[r] = []*signingKey{fresh[r], old[r][0]}
	}
	if err := st.save(); err != nil {
		st.rings = old
		return "", "", err
	}
	return fresh[partnerRing].kid, fresh[oidcRing].kid, nil
}

// signer is the key that signs now in ring r.
func (st *state) signer(r ring) *signingKey {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.rings[r][0]
}

// published are ring r's keys, the signing one first.
func (st *state) published(r ring) []*signingKey {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return append([]*signingKey(nil), st.rings[r]...)
}

func (st *state) accessSecret() []byte {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.secret
}
