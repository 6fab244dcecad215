package webhook

import (
	"net/http"
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

// The demo inbox verifies like a receiver and keeps the latest, newest
// first.
func TestInbox_VerifiesAndKeepsTheLatest(t *testing.T) {
	now := time.Now()
	in := NewInbox(NewSecret(), func() time.Time { return now })
	send := func(id string, secret string, at time.Time) InboxItem {
		body := []byte(`{"type":"organization.linked","timestamp":"x","data":{"organization":{"id":7,"external_id":"t"},"sequence":3}}`)
		sig, err := Signature(id, at, body, secret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", itoa(at.Unix()))
		h.Set("webhook-signature", sig)
		return in.Receive(h, body)
	}
	if it := send("msg_a", in.Secret(), now); !it.Verified() || it.Type != TypeOrganizationLinked || it.Seq != 3 || it.OrgID != 7 || it.ExternalID != "t" {
		t.Errorf("good delivery = %+v", it)
	}
	if it := send("msg_b", NewSecret(), now); it.Verified() {
		t.Error("a delivery signed with another secret verified")
	}
	if it := send("msg_c", in.Secret(), now.Add(-time.Hour)); it.Verified() {
		t.Error("an hour-old delivery verified")
	}
	for i := range inboxSize + 5 {
		send("msg_"+itoa(int64(i)), in.Secret(), now)
	}
	got := in.List()
	if len(got) != inboxSize || got[0].ID != "msg_"+itoa(inboxSize+4) || got[0].N != inboxSize+8 || got[len(got)-1].N != 9 {
		t.Errorf("inbox holds %d, newest %+v, oldest N %d", len(got), got[0].ID, got[len(got)-1].N)
	}
}

// FuzzInboxReceive: the demo inbox reads whatever is posted to it. It never
// panics, and accepts only what carries a signature made with its secret.
func FuzzInboxReceive(f *testing.F) {
	secret := NewSecret()
	body := []byte(`{"type":"organization.linked","data":{"organization":{"id":1},"sequence":1}}`)
	sig, _ := Signature("msg_1", time.Unix(1_800_000_000, 0), body, secret)
	f.Add("msg_1", "1800000000", sig, body)
	f.Add("msg_1", "1800000000", "v1,AAAA v2,BBBB", []byte(`{`))
	f.Add("", "-1", ",", []byte(nil))
	f.Fuzz(func(t *testing.T, id, ts, signature string, body []byte) {
		in := NewInbox(secret, func() time.Time { return time.Unix(1_800_000_000, 0) })
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", signature)
		it := in.Receive(h, body)
		if it.Verified() {
			unix, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				t.Fatalf("verified with timestamp %q", ts)
			}
			want, _ := Signature(id, time.Unix(unix, 0), body, secret)
			if !strings.Contains(" "+signature+" ", " "+want+" ") && !strings.Contains(signature, strings.TrimPrefix(want, "v1,")) {
				t.Fatalf("verified %q without the signature %q", signature, want)
			}
		}
		if len(in.List()) != 1 {
			t.Fatal("the inbox did not keep the delivery")
		}
	})
}
