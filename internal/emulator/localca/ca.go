package localca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names in the data folder. The certificate is what users hand to
// their verifiers; the key never leaves the folder.
const (
	CertFile = "emulator-ca.pem"
	KeyFile  = "emulator-ca-key.pem"
)

// Validity of what the CA signs. The CA lives long because users install
// it in trust stores; the server certificate is issued at every start, so a
// year is plenty and stays under the 825 days some TLS clients (Apple's)
// allow a locally trusted server certificate.
const (
	caValidity     = 20 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
)

// CA is a loaded certificate authority.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	path    string
	random  io.Reader
}

// Load reads the CA from dir, making it on first use. An empty dir keeps a
// new CA in memory only (tests). random may be nil for crypto/rand.
func Load(dir string, random io.Reader, now time.Time) (*CA, error) {
	if random == nil {
		random = rand.Reader
	}
	if dir == "" {
		return create(random, now)
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		ca, err := parse(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("load emulator CA from %s: %w", dir, err)
		}
		ca.path, ca.random = certPath, random
		return ca, nil
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
	default:
		// One file without the other: making a new pair would silently
		// invalidate the CA users already trust.
		return nil, fmt.Errorf("load emulator CA from %s: %w", dir, errors.Join(certErr, keyErr))
	}
	ca, err := create(random, now)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("save emulator CA: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("save emulator CA key: %w", err)
	}
	// The key first: a certificate on disk without its key would be
	// refused at the next start.
	if err := writeNew(keyPath, encodePEM("PRIVATE KEY", der), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(certPath, ca.certPEM, 0o644); err != nil {
		return nil, err
	}
	ca.path = certPath
	return ca, nil
}

// writeNew creates path, failing if it exists: two emulators starting on
// one folder must not overwrite each other's CA.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("save emulator CA: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("save emulator CA: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save emulator CA: %w", err)
	}
	return nil
}

func create(random io.Reader, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), random)
	if err != nil {
		return nil, fmt.Errorf("generate emulator CA key: %w", err)
	}
	serial, err := newSerial(random)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "marketbridge emulator local CA " + serial.Text(16)[:8], Organization: []string{"marketbridge AWS Marketplace emulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs server certificates only, directly.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create emulator CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create emulator CA certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: encodePEM("CERTIFICATE", der), key: key, random: random}, nil
}

func parse(certPEM, keyPEM []byte) (*CA, error) {
	certDER, err := decodePEM(certPEM, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	keyDER, err := decodePEM(keyPEM, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("the key does not belong to the certificate")
	}
	if !cert.IsCA {
		return nil, errors.New("the certificate is not a CA")
	}
	return &CA{cert: cert, certPEM: certPEM, key: key}, nil
}

// Path is the CA certificate's file, or "" for an in-memory CA.
func (ca *CA) Path() string { return ca.path }

// CertificatePEM is the CA certificate, for a verifier's trust pool.
func (ca *CA) CertificatePEM() []byte { return slices.Clone(ca.certPEM) }

// ServerCertificate issues a TLS server certificate for localhost, the
// loopback addresses and hosts (names or IP addresses).
func (ca *CA) ServerCertificate(hosts []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), ca.random)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate emulator TLS key: %w", err)
	}
	serial, err := newSerial(ca.random)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "marketbridge emulator", Organization: []string{"marketbridge AWS Marketplace emulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		h = strings.Trim(h, "[]")
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		case !slices.Contains(tmpl.DNSNames, strings.ToLower(h)):
			tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(h))
		}
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(ca.random, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue emulator TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue emulator TLS certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func newSerial(random io.Reader) (*big.Int, error) {
	serial, err := rand.Int(random, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil // never zero
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func decodePEM(data []byte, typ string) ([]byte, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("no PEM block of type %s", typ)
	}
	return b.Bytes, nil
}
