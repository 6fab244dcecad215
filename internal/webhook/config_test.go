package webhook

import (
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestParseEndpointsFile(t *testing.T) {
	s := NewSecret()
	for _, tc := range []struct {
		name, file string
		want       int
		err        string
	}{
		{"two endpoints", `{"endpoints": [{"url": "https://a.example.com/h", "secret": "` + s + `"},
			{"url": "https://b.example.com/h", "secret": "` + s + `", "types": ["subscription.updated", "usage.unbilled"]}]}`, 2, ""},
		{"none", `{"endpoints": []}`, 0, ""},
		{"unknown field", `{"endpoints": [{"url": "https://a.example.com/h", "secret": "` + s + `", "type": ["x"]}]}`, 0, "unknown field"},
		{"unknown type", `{"endpoints": [{"url": "https://a.example.com/h", "secret": "` + s + `", "types": ["org.deleted"]}]}`, 0, "unknown event type"},
		{"bad secret", `{"endpoints": [{"url": "https://a.example.com/h", "secret": "hunter2"}]}`, 0, "whsec_"},
		{"short secret", `{"endpoints": [{"url": "https://a.example.com/h", "secret": "whsec_c2hvcnQ="}]}`, 0, "24 to 64 bytes"},
		{"private address", `{"endpoints": [{"url": "http://10.0.0.1/h", "secret": "` + s + `"}]}`, 0, "private"},
		{"twice", `{"endpoints": [{"url": "https://a.example.com/h", "secret": "` + s + `"}, {"url": "https://a.example.com/h", "secret": "` + s + `"}]}`, 0, "twice"},
		{"trailing data", `{"endpoints": []} {}`, 0, "after"},
		{"not JSON", `endpoints:`, 0, "webhooks file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEndpointsFile([]byte(tc.file), false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("= %d endpoints, %v; want %d", len(got), err, tc.want)
			}
		})
	}
}

// FuzzParseEndpointsFile: the webhooks file is outside input. Whatever it
// holds, parsing does not panic, and what it accepts is valid.
func FuzzParseEndpointsFile(f *testing.F) {
	s := NewSecret()
	f.Add([]byte(`{"endpoints": [{"url": "https://a.example.com/h", "secret": "` + s + `", "types": ["subscription.updated"]}]}`))
	f.Add([]byte(`{"endpoints": [{"url": "http://127.0.0.1:1/h", "secret": "` + s + `"}]}`))
	f.Add([]byte(`{"endpoints": null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"endpoints": [{"url": "https://u:p@a/", "secret": "whsec_"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, allow := range []bool{false, true} {
			eps, err := ParseEndpointsFile(data, allow)
			if err != nil {
				continue
			}
			if err := ValidateConfig(eps, allow); err != nil {
				t.Fatalf("accepted an invalid file: %v", err)
			}
			for _, e := range eps {
				if _, err := Signature("msg_x", time.Unix(1, 0), data, e.Secret); err != nil {
					t.Fatalf("accepted secret cannot sign: %v", err)
				}
			}
		}
	})
}

// Our signature is the library's, and our verifier agrees with it.
func TestSignature_MatchesStandardWebhooks(t *testing.T) {
	secret := NewSecret()
	at := time.Now()
	body := []byte(`{"type":"organization.linked"}`)
	sig, err := Signature("msg_1", at, body, secret)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := wh.Sign("msg_1", at, body)
	if sig != want {
		t.Errorf("signature %q, library's %q", sig, want)
	}
	unix := at.Unix()
	if err := Verify(secret, "msg_1", itoa(unix), sig, body, at, 5*time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := Verify(secret, "msg_1", itoa(unix), sig, append(body, ' '), at, 5*time.Minute); err != ErrBadSignature {
		t.Errorf("Verify of a changed body: %v", err)
	}
	if err := Verify(secret, "msg_1", itoa(unix), sig, body, at.Add(10*time.Minute), 5*time.Minute); err != ErrStale {
		t.Errorf("Verify of an old message: %v", err)
	}
	if err := Verify(NewSecret(), "msg_1", itoa(unix), sig, body, at, 5*time.Minute); err != ErrBadSignature {
		t.Errorf("Verify with another secret: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
