package main

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// serve delivers what is recorded to the endpoints its flags declare,
// signed so that the Standard Webhooks library verifies it, and counts it
// on /metrics.
func TestServe_DeliversWebhooksToConfiguredEndpoints(t *testing.T) {
	secret := webhook.NewSecret()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []error
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, wh.Verify(body, r.Header))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	dbPath := filepath.Join(t.TempDir(), "mb.db")
	url, stop := startServe(t, "--database-url", "sqlite:"+dbPath, "--webhook-url", rc.URL+"/hooks", "--webhook-secret", secret,
		"--webhooks-allow-private")

	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+dbPath, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now(time.Now())
		var userID, orgID int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO users (email, name, password_hash, created_at) VALUES ('a@example.com', 'A', '', $1) RETURNING id`, now).
			Scan(&userID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO organizations (name, created_by, created_at) VALUES ('Acme', $1, $2) RETURNING id`, userID, now).
			Scan(&orgID); err != nil {
			return err
		}
		_, err := webhook.NewRecorder(time.Now).Record(ctx, tx, orgID, webhook.TypeOrganizationLinked, map[string]string{"state": "active"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook delivered within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != nil {
		t.Errorf("deliveries verified: %v, want one good", got)
	}
	mu.Unlock()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `marketbridge_webhook_attempts_total{outcome="success"} 1`) {
		t.Errorf("/metrics lacks the successful attempt")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Webhook flags that cannot work stop serve at once, with every problem.
func TestServe_RefusesBadWebhookFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hooks.json")
	if err := os.WriteFile(file, []byte(`{"endpoints": [{"url": "https://a.example.com", "secret": "x", "typo": 1}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := webhook.NewSecret()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a URL without its secret", []string{"--webhook-url", "https://a.example.com/h"}, "1 URLs and 0 secrets"},
		{"a bad secret", []string{"--webhook-url", "https://a.example.com/h", "--webhook-secret", "hunter2"}, `starts with "whsec_"`},
		{"a private address", []string{"--webhook-url", "http://192.168.1.2/h", "--webhook-secret", s}, "private"},
		{"credentials in the URL", []string{"--webhook-url", "https://u:p@a.example.com/h", "--webhook-secret", s}, "password"},
		{"a bad file", []string{"--webhooks-file", file}, "unknown field"},
		{"a missing file", []string{"--webhooks-file", filepath.Join(dir, "nope.json")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)
			err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
