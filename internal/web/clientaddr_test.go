package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The client address rate limits count against (#11 item 6): the peer, or
// behind a trusted proxy the last X-Forwarded-For entry, the one the proxy
// added; what the client wrote before it counts for nothing.
func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trust bool
		xff   []string // header lines
		want  string
	}{
		{"peer", false, nil, "192.0.2.1"},
		{"header ignored without trust", false, []string{"203.0.113.5"}, "192.0.2.1"},
		{"one entry", true, []string{"203.0.113.5"}, "203.0.113.5"},
		{"client's claim before the proxy's entry", true, []string{"10.0.0.1, 203.0.113.5"}, "203.0.113.5"},
		{"several header lines", true, []string{"10.0.0.1", "198.51.100.2, 203.0.113.5"}, "203.0.113.5"},
		{"IPv6", true, []string{"2001:db8::1"}, "2001:db8::1"},
		{"empty last entry falls back to the peer", true, []string{"203.0.113.5,"}, "192.0.2.1"},
		{"no header falls back to the peer", true, nil, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{TrustProxy: tc.trust}}
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			r.RemoteAddr = "192.0.2.1:4321"
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientAddr(r); got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzClientAddr: whatever X-Forwarded-For holds, the address is one
// trimmed entry (never a list) taken from its end, or the peer.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "10.0.0.1, 203.0.113.5", "2001:db8::1", " , ", ",", "", "unknown", "1.1.1.1,2.2.2.2,,"} {
		f.Add(s)
	}
	s := &Server{cfg: Config{TrustProxy: true}}
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.RemoteAddr = "192.0.2.1:4321"
		r.Header.Set("X-Forwarded-For", xff)
		got := s.clientAddr(r)
		if got == "" || strings.Contains(got, ",") || got != strings.TrimSpace(got) {
			t.Fatalf("clientAddr with X-Forwarded-For %q = %q, want one trimmed entry", xff, got)
		}
		if got != "192.0.2.1" && !strings.HasSuffix(strings.TrimSpace(xff), got) {
			t.Fatalf("clientAddr with X-Forwarded-For %q = %q, not its last entry", xff, got)
		}
	})
}
