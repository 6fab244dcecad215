package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as Standard Webhooks has it.
const SecretPrefix = "whsec_"

// Secret lengths in bytes: the specification recommends 24 to 64.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
	newSecretBytes = 32
)

// NewSecret returns a fresh signing secret: "whsec_" and the base64 of 32
// random bytes.
func NewSecret() string {
	var b [newSecretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// secretKey is the HMAC key of secret, or an error saying what is wrong
// with it.
func secretKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New(`a secret starts with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New(`a secret is "whsec_" followed by base64`)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("a secret holds %d to %d bytes, this one %d", minSecretBytes, maxSecretBytes, len(key))
	}
	return key, nil
}

// ValidSecret reports whether secret can sign: "whsec_" and the base64 of
// 24 to 64 bytes.
func ValidSecret(secret string) error {
	_, err := secretKey(secret)
	return err
}

// Signature is the webhook-signature header of a message: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body", one per secret, separated by
// spaces. Two secrets sign while a rotated secret stays valid.
func Signature(id string, at time.Time, body []byte, secrets ...string) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", fmt.Errorf("sign message %s: %w", id, err)
		}
		sigs = append(sigs, "v1,"+sign(key, id, at.Unix(), body))
	}
	return strings.Join(sigs, " "), nil
}

func sign(key []byte, id string, unix int64, body []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(unix, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Verification failures, for a receiver to tell apart.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrStale          = errors.New("webhook: timestamp too far from now")
	ErrBadSignature   = errors.New("webhook: no signature matches")
)

// Verify checks a received message as a receiver does: the timestamp within
// tolerance of now and one v1 signature made with secret. The dev inbox uses
// it; real receivers use the Standard Webhooks library.
func Verify(secret, id, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if id == "" || timestamp == "" || signature == "" {
		return ErrMissingHeaders
	}
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: timestamp %q: %w", timestamp, ErrMissingHeaders)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := []byte(sign(key, id, unix, body))
	for _, s := range strings.Fields(signature) {
		if v, sig, ok := strings.Cut(s, ","); ok && v == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrBadSignature
}
