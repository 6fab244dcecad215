package localca

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLoad_MadeOnceKeptPrivateReused: the CA is made on first start with a
// key only its owner reads, and the same CA is loaded afterwards, so that a
// verifier told to trust it keeps trusting the emulator (#13).
func TestLoad_MadeOnceKeptPrivateReused(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	first, err := Load(dir, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if first.Path() != filepath.Join(dir, CertFile) {
		t.Fatalf("Path = %q", first.Path())
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the CA key has mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := Load(dir, nil, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CertificatePEM(), again.CertificatePEM()) {
		t.Fatal("a second start made a new CA")
	}
	// A server certificate of the reloaded CA verifies against the first
	// one's certificate file.
	sc, err := again.ServerCertificate([]string{"emulator.test", "10.1.2.3"}, now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(first.CertificatePEM())
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "emulator.test", "10.1.2.3"} {
		if _, err := sc.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now.AddDate(0, 11, 0)}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := sc.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.test"}); err == nil {
		t.Error("the server certificate is valid for a host it was not issued for")
	}
}

// TestLoad_RefusesHalfACA: a certificate without its key (or the reverse)
// is an error, not a reason to make a new CA that users do not trust.
func TestLoad_RefusesHalfACA(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil, time.Now()); err == nil {
		t.Fatal("loaded a CA without its key")
	}
}
