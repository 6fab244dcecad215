package servicecontrol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	sc "google.golang.org/api/servicecontrol/v1"

	"github.com/marketbridge/marketbridge/internal/emulator/googleid"
)

// check answers 200 with checkErrors for a consumer that may not be
// charged (contract §4.4.1-2).
func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		consumer string
		code     string // "" = no checkErrors
	}{
		{"active", consumerA, ""},
		{"unknown consumer", "project_number:999", "NOT_FOUND"},
		{"scripted billing disabled", consumerBad, "BILLING_DISABLED"},
		{"not active", consumerOff, "SERVICE_NOT_ACTIVATED"},
		{"ended, usage before the end", consumerEnd, ""},
		{"ended, usage after the end", consumerEnd, "SERVICE_NOT_ACTIVATED"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := hour0
			if strings.HasSuffix(tt.name, "after the end") {
				start = cancelledAt.Truncate(time.Hour) // its hour ends after the cancellation
			}
			op := usageOp("op-1", tt.consumer, start, 5)
			op.UserLabels = nil // userLabels are only allowed in report
			resp, err := e.client.Services.Check(testService, &sc.CheckRequest{Operation: op}).Context(t.Context()).Do()
			if err != nil {
				t.Fatal(err)
			}
			if resp.OperationId != "op-1" || resp.ServiceConfigId == "" {
				t.Errorf("response %s", mustJSON(resp))
			}
			if tt.code == "" {
				if len(resp.CheckErrors) != 0 || resp.CheckInfo == nil || fmt.Sprint("project_number:", resp.CheckInfo.ConsumerInfo.ProjectNumber) != tt.consumer {
					t.Fatalf("response %s", mustJSON(resp))
				}
				return
			}
			if len(resp.CheckErrors) != 1 || resp.CheckErrors[0].Code != tt.code || resp.CheckErrors[0].Status == nil || resp.CheckErrors[0].Status.Code == 0 {
				t.Fatalf("checkErrors %s, want %s", mustJSON(resp.CheckErrors), tt.code)
			}
		})
	}
	if n := len(e.ledger(t)); n != 0 {
		t.Fatalf("check recorded %d entries", n)
	}
}

// Callers: no credentials 401, a caller without the role or a service that
// is not known 403 (or 404 if so configured), all in google.rpc.Status
// shape as *googleapi.Error.
func TestAuthAndServices(t *testing.T) {
	e := newEnv(t)
	e404 := newEnv(t, func(c *Config) { c.UnknownServiceStatus = http.StatusNotFound })
	other := newEnv(t, func(c *Config) {
		c.Authorize = func(*http.Request) (string, error) { return "someone-else@example.iam.gserviceaccount.com", nil }
	})
	tests := []struct {
		name    string
		client  *sc.Service
		service string
		status  int
		rpc     string
	}{
		{"no credentials", e.newClient(t, option.WithoutAuthentication()), testService, 401, "UNAUTHENTICATED"},
		{"wrong token", e.newClient(t, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}))), testService, 401, "UNAUTHENTICATED"},
		{"caller without the role", other.client, testService, 403, "PERMISSION_DENIED"},
		{"unknown service", e.client, "other.example.com", 403, "PERMISSION_DENIED"},
		{"unknown service, 404 configured", e404.client, "other.example.com", 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Services.Report(tt.service, &sc.ReportRequest{Operations: []*sc.Operation{usageOp("op-1", consumerA, hour0, 1)}}).Context(t.Context()).Do()
			var ge *googleapi.Error
			if !errors.As(err, &ge) || ge.Code != tt.status || ge.Message == "" {
				t.Fatalf("%v, want %d", err, tt.status)
			}
			var body errorEnvelope
			if err := json.Unmarshal([]byte(ge.Body), &body); err != nil || body.Error.Status != tt.rpc {
				t.Fatalf("body %s, want status %s", ge.Body, tt.rpc)
			}
		})
	}
	for _, path := range []string{"/v1/services/" + testService + ":allocateQuota", "/v1/services/" + testService + ":nope", "/v1/services/" + testService, "/v2/x"} {
		if resp := e.post(t, path, "{}"); resp.StatusCode != 404 && resp.StatusCode != 501 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

// End to end with the house's identity: the seller's key file from
// googleid, tokens from its /token endpoint through both of Google's token
// libraries (x/oauth2/google, and cloud.google.com/go/auth behind
// option.WithAuthCredentialsJSON), checked by googleid.Authorize.
func TestWithGoogleID(t *testing.T) {
	mux := http.NewServeMux()
	srv := newLoopback(t, mux)
	gid, err := googleid.New(googleid.Config{PublicURL: srv.URL + "/google/id/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tokenCalls atomic.Int32
	mux.Handle("/google/id/", http.StripPrefix("/google/id", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			tokenCalls.Add(1)
		}
		gid.ServeHTTP(w, r)
	})))
	e := newEnv(t, func(c *Config) { c.Authorize = gid.Authorize })
	mux.Handle(mountPrefix+"/", http.StripPrefix(mountPrefix, e.s))
	e.endpoint = srv.URL + mountPrefix + "/"

	key, err := gid.ServiceAccountKey(testSeller)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := google.CredentialsFromJSON(context.Background(), key, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*sc.Service{
		"x/oauth2":              e.newClient(t, option.WithTokenSource(creds.TokenSource)),
		"cloud.google.com/auth": e.newClient(t, option.WithAuthCredentialsJSON(option.ServiceAccount, key)),
	}
	for _, name := range []string{"x/oauth2", "cloud.google.com/auth"} {
		t.Run(name, func(t *testing.T) {
			before := tokenCalls.Load()
			resp, err := clients[name].Services.Report(testService, &sc.ReportRequest{Operations: []*sc.Operation{usageOp("op-"+name, consumerA, hour0, 1)}}).Context(t.Context()).Do()
			if err != nil || len(resp.ReportErrors) != 0 {
				t.Fatalf("%v %s", err, mustJSON(resp))
			}
			// Both libraries take the key file's token_uri (a self-signed
			// JWT would skip it; Authorize accepts those too).
			if tokenCalls.Load() != before+1 {
				t.Errorf("%d calls to /token, want 1", tokenCalls.Load()-before)
			}
		})
	}
	if n := len(e.ledger(t)); n != len(clients) {
		t.Fatalf("%d entries", n)
	}
}
