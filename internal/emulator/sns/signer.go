package sns

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SignatureVersion 1 is defined as SHA1withRSA.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Signer signs envelopes with one RSA key and knows the certificate that
// verifies them.
type Signer struct {
	key     *rsa.PrivateKey
	certPEM []byte
}

// NewKeyPair makes a 2048-bit RSA key and a self-signed certificate for it,
// valid for ten years from now, both PEM-encoded. The emulator stores them so
// that a certificate a seller cached keeps verifying after a restart.
func NewKeyPair(random io.Reader, now time.Time) (keyPEM, certPEM []byte, err error) {
	if random == nil {
		random = rand.Reader
	}
	key, err := rsa.GenerateKey(random, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate sns signing key: %w", err)
	}
	serial, err := rand.Int(random, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com", Organization: []string{"marketbridge AWS Marketplace emulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     []string{"sns.amazonaws.com"},
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create sns signing certificate: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return keyPEM, certPEM, nil
}

// NewSigner loads a key pair made by NewKeyPair.
func NewSigner(keyPEM, certPEM []byte) (*Signer, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("load sns signer: no PEM block in key")
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load sns signer key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, errors.New("load sns signer: no PEM block in certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load sns signer certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("load sns signer: certificate does not match key")
	}
	return &Signer{key: key, certPEM: certPEM}, nil
}

// CertificatePEM is what the emulator serves at SigningCertURL.
func (s *Signer) CertificatePEM() []byte { return s.certPEM }

// Sign fills e.Signature for e.SignatureVersion ("1" when empty).
func (s *Signer) Sign(e *Envelope) error {
	if e.SignatureVersion == "" {
		e.SignatureVersion = SignatureV1
	}
	canon, err := CanonicalString(e)
	if err != nil {
		return err
	}
	var (
		h      crypto.Hash
		digest []byte
	)
	switch e.SignatureVersion {
	case SignatureV1:
		sum := sha1.Sum([]byte(canon)) //nolint:gosec // mandated by SignatureVersion 1.
		h, digest = crypto.SHA1, sum[:]
	case SignatureV2:
		sum := sha256.Sum256([]byte(canon))
		h, digest = crypto.SHA256, sum[:]
	default:
		return fmt.Errorf("sign sns envelope: unknown signature version %q", e.SignatureVersion)
	}
	sig, err := rsa.SignPKCS1v15(nil, s.key, h, digest)
	if err != nil {
		return fmt.Errorf("sign sns envelope: %w", err)
	}
	e.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
}
