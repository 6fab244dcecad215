package azurespec

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzAPIPath checks the one piece of parsing this package does itself:
// finding the /api segment of a request's path.
func FuzzAPIPath(f *testing.F) {
	for _, seed := range []string{"/azure/api/saas/subscriptions/x", "/api", "/apis/api/", "/x/apix/api//", "", "/ap/api"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rest, ok := apiPath(p)
		if !ok {
			for i := 0; ; i++ {
				j := strings.Index(p[i:], "/api")
				if j < 0 {
					return
				}
				i += j
				if after := p[i+len("/api"):]; after == "" || after[0] == '/' {
					t.Fatalf("apiPath(%q) found no /api segment, but there is one at %d", p, i)
				}
			}
		}
		switch {
		case rest == "/" && strings.HasSuffix(p, "/api"):
		case strings.HasPrefix(rest, "/") && strings.HasSuffix(p, "/api"+rest):
		default:
			t.Fatalf("apiPath(%q) = %q, not what follows an /api segment", p, rest)
		}
	})
}

// FuzzCheck sends arbitrary exchanges through the checker (and so through
// kin-openapi's decoders): it must answer nil or a *Mismatch, never panic.
func FuzzCheck(f *testing.F) {
	c := loadChecker(f)
	f.Add("POST", "/usageEvent"+query, "Content-Type: application/json", []byte(usageEvent), 200, []byte(acceptedEvent))
	f.Add("POST", "/batchUsageEvent"+query, "Content-Type: application/json", []byte(`{"request":[{"quantity":"x"}]}`), 200, []byte(`{"result":[{}],"count":1}`))
	f.Add("GET", "/saas/subscriptions/"+sid+query, "x-ms-requestid: nope", []byte(nil), 200, []byte(subscription))
	f.Add("PATCH", "/saas/subscriptions/"+sid+"/operations/"+opID+"?api-version=x", "Content-Type: text/plain", []byte("{"), 409, []byte("["))
	f.Add("GET", "/usageEvents?usageStartDate=%zz", "", []byte(nil), 200, []byte(`[{"usageDate":1}]`))
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte, status int, respBody []byte) {
		r, err := http.NewRequest(method, base+target, nil)
		if err != nil {
			return
		}
		r.Header.Set("Authorization", "Bearer token")
		respHeader := http.Header{}
		for _, line := range strings.Split(header, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
				respHeader.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		for _, err := range []error{
			c.CheckRequest(r, body),
			c.CheckResponse(r, status, respHeader, respBody),
		} {
			var m *Mismatch
			if err != nil && !errors.As(err, &m) {
				t.Fatalf("got %T, want nil or *Mismatch: %v", err, err)
			}
		}
	})
}
