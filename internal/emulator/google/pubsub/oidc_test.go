package pubsub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/marketbridge/marketbridge/internal/emulator/googleid"
)

// TestPushToken_VerifiedBySeller: a seller's push handler verifies the
// bearer token as §3.4 says (go-oidc against the emulator's JWKS: signature,
// iss, aud, exp, then email and email_verified) and acks only what passes.
func TestPushToken_VerifiedBySeller(t *testing.T) {
	// Google's identity, as the emulator mounts it, on loopback.
	mux := http.NewServeMux()
	idSrv := httptest.NewServer(mux)
	t.Cleanup(idSrv.Close)
	id, err := googleid.New(googleid.Config{PublicURL: idSrv.URL + "/google/id/", DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/google/id/", http.StripPrefix("/google/id", id))
	signer := SignerFunc(func(aud, email string) (string, error) { return id.PushToken(aud, email) })

	for _, tc := range []struct {
		name      string
		audience  string // configured on the subscription; "" = the push URL
		verifyAud string // what the seller expects; "" = the push URL
		email     string // what the seller expects
		wantCode  int
	}{
		{name: "default audience is the push URL", email: testPushSA, wantCode: http.StatusNoContent},
		{name: "configured audience", audience: "https://seller.example/gcp/pubsub/push", verifyAud: "https://seller.example/gcp/pubsub/push", email: testPushSA, wantCode: http.StatusNoContent},
		{name: "seller expects another audience", audience: "https://other.example/push", email: testPushSA, wantCode: http.StatusUnauthorized},
		{name: "seller expects another service account", email: "someone-else@example-cloud-provider.iam.gserviceaccount.com", wantCode: http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var endpoint string
			ctx := oidc.ClientContext(context.Background(), idSrv.Client())
			keys := oidc.NewRemoteKeySet(ctx, id.OIDCJWKSURL())
			e := newEnv(t, func(_ int, r received, w http.ResponseWriter, req *http.Request) {
				aud := tc.verifyAud
				if aud == "" {
					aud = endpoint
				}
				raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				verifier := oidc.NewVerifier(googleid.DefaultPushIssuer, keys, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{oidc.RS256}})
				tok, err := verifier.Verify(req.Context(), raw)
				if err != nil {
					t.Logf("seller rejects the token: %v", err)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				var claims struct {
					Email         string `json:"email"`
					EmailVerified bool   `json:"email_verified"`
				}
				if err := tok.Claims(&claims); err != nil || claims.Email != tc.email || !claims.EmailVerified {
					w.WriteHeader(http.StatusForbidden)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}, func(c *Config) { c.Audience = tc.audience })
			e.sub.signer = signer
			endpoint = e.sub.cfg.Endpoint
			e.publish(t, "ev-1")
			e.step(t)
			d := e.state(t, "ev-1")
			if d.LastStatus != tc.wantCode {
				t.Errorf("seller answered %d (%s), want %d", d.LastStatus, d.LastError, tc.wantCode)
			}
			if wantAcked := tc.wantCode == http.StatusNoContent; (d.State == StateAcked) != wantAcked {
				t.Errorf("state %s, want acked=%v", d.State, wantAcked)
			}
		})
	}
}
