package googleid

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Keys, issued key files and access tokens survive a restart with the same
// data folder; a damaged file stops the start instead of replacing keys.
func TestDataDir_Restart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC()}
	cfg := Config{PublicURL: "http://127.0.0.1:8080/google/id/", DataDir: dir, Now: clock.Now}
	first, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Rotate(); err != nil {
		t.Fatal(err)
	}
	key, err := first.ServiceAccountKey(testSA)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := first.IssueAccessToken(testSA)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", info, err)
	}

	second, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.PartnerKeyIDs(), second.PartnerKeyIDs()) || len(second.PartnerKeyIDs()) != 2 || !slices.Equal(first.OIDCKeyIDs(), second.OIDCKeyIDs()) {
		t.Fatalf("kids %v/%v before, %v/%v after", first.PartnerKeyIDs(), first.OIDCKeyIDs(), second.PartnerKeyIDs(), second.OIDCKeyIDs())
	}
	if again, err := second.ServiceAccountKey(testSA); err != nil || string(again) != string(key) {
		t.Fatalf("key file changed across the restart (%v)", err)
	}
	e := &env{s: second}
	if email, err := e.authorizeWith("Bearer " + tok); err != nil || email != testSA {
		t.Fatalf("access token after restart: %q, %v", email, err)
	}

	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"partner":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil); err == nil {
		t.Fatal("started on a damaged state file")
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{PublicURL: "http://127.0.0.1:8080/google/id/"}, true},
		{"no URL", Config{}, false},
		{"query", Config{PublicURL: "http://127.0.0.1:8080/?a=b"}, false},
		{"ftp", Config{PublicURL: "ftp://127.0.0.1/"}, false},
		{"short lifetime", Config{PublicURL: "http://127.0.0.1/", TokenLifetime: time.Second}, false},
		{"negative", Config{PublicURL: "http://127.0.0.1/", CertsMaxAge: -1}, false},
		{"spaced issuer", Config{PublicURL: "http://127.0.0.1/", SignupIssuer: " x"}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}
