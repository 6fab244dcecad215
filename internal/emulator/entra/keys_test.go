package entra

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Keys persist in the data folder, owner-only, so that tokens and cached
// key sets survive a restart; so does the previous key and its retirement.
func TestKeys_Persist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	start, _ := time.Parse(time.RFC3339, testStartUTC)
	c := &clock{t: start}
	open := func() *Server {
		s, err := New(Config{PublicURL: "https://127.0.0.1:8081/entra/", DataDir: dir, Now: c.Now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterApp(App{TenantID: testTenant, ClientID: testClient, SecretHash: HashSecret(testSecret)}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	first := s.KeyIDs()
	raw, _, err := s.IssueAccessToken(testTenant, testClient, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	mode := func(name string) fs.FileMode {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return info.Mode().Perm()
	}
	if m := mode(KeyFile); m != 0o600 {
		t.Errorf("%s mode %o, want 600", KeyFile, m)
	}

	s = open()
	if got := s.KeyIDs(); !slices.Equal(got, first) {
		t.Fatalf("after restart KeyIDs = %v, want %v", got, first)
	}
	if _, err := s.VerifyAccessToken(raw, c.Now()); err != nil {
		t.Errorf("token from before the restart: %v", err)
	}

	c.Advance(time.Hour)
	newKid, err := s.RotateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(PreviousKeyFile); m != 0o600 {
		t.Errorf("%s mode %o, want 600", PreviousKeyFile, m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("data folder holds %d files, want the two keys and no temporary file", len(entries))
	}
	s = open()
	if got, want := s.KeyIDs(), []string{newKid, first[0]}; !slices.Equal(got, want) {
		t.Fatalf("after rotation and restart KeyIDs = %v, want %v", got, want)
	}
	// The retirement time came back from the file: 24 h after the rotation, not after the restart.
	c.Advance(24 * time.Hour)
	s = open()
	if got := s.KeyIDs(); !slices.Equal(got, []string{newKid}) {
		t.Errorf("24 h after rotation KeyIDs = %v, want only %s", got, newKid)
	}
}

// A damaged key file stops the start with its name rather than replacing a
// key sellers trust.
func TestKeys_DamagedFile(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
	}{
		{"current not PEM", KeyFile, "garbage"},
		{"current without certificate", KeyFile, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		{"previous without retirement", PreviousKeyFile, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{PublicURL: "https://127.0.0.1:8081/entra/", DataDir: dir}
			if _, err := New(cfg, nil); err != nil {
				t.Fatal(err)
			}
			content := tt.content
			if tt.file == PreviousKeyFile {
				// A valid key whose Retired-At header is missing.
				b, err := os.ReadFile(filepath.Join(dir, KeyFile))
				if err != nil {
					t.Fatal(err)
				}
				content = string(b)
			}
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.file) {
				t.Fatalf("New with a damaged %s: %v, want an error naming it", tt.file, err)
			}
		})
	}
}

// The JWKS carries what verifiers read (kty, use, kid, n, e) and Entra's
// x5t and x5c, at every URL Entra serves it, and the previous key after a
// rotation.
func TestKeys_JWKS(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{testTenant + "/discovery/v2.0/keys", testTenant + "/discovery/keys", "common/discovery/keys", "organizations/discovery/v2.0/keys"} {
		resp, err := e.client.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		var kids []string
		for _, k := range set.Keys {
			if k["kty"] != "RSA" || k["use"] != "sig" || k["e"] != "AQAB" || k["n"] == "" || k["x5t"] != k["kid"] || len(k["x5c"].([]any)) != 1 {
				t.Errorf("%s: key %v lacks Entra's fields", path, k)
			}
			kids = append(kids, k["kid"].(string))
		}
		if !slices.Equal(kids, e.s.KeyIDs()) {
			t.Errorf("%s: kids %v, want %v", path, kids, e.s.KeyIDs())
		}
	}
	resp, err := e.client.Get(e.base + unknownGUID + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JWKS of an unknown tenant: %d, want 400 (AADSTS90002)", resp.StatusCode)
	}
}
