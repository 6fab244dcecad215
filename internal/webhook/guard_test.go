package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// The SSRF guard refuses every address of this machine and of private
// networks, and lets public ones through. It is called here with the
// addresses directly: no packet leaves.
func TestGuard_RefusesPrivateAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1:80", false},
		{"127.9.9.9:443", false},
		{"[::1]:80", false},
		{"10.0.0.1:80", false},
		{"172.16.0.1:80", false},
		{"172.31.255.255:80", false},
		{"192.168.1.10:8080", false},
		{"169.254.169.254:80", false}, // the cloud metadata service
		{"[fe80::1]:80", false},
		{"[fc00::1]:80", false},
		{"[fd12:3456::1]:80", false},
		{"0.0.0.0:80", false},
		{"[::]:80", false},
		{"224.0.0.1:80", false},
		{"[ff02::1]:80", false},
		{"100.64.0.1:80", false}, // carrier-grade NAT
		{"100.127.255.254:80", false},
		{"255.255.255.255:80", false},
		{"[::ffff:10.0.0.1]:80", false}, // IPv4-mapped
		{"[::ffff:127.0.0.1]:80", false},
		// IPv6 addresses that carry an IPv4 address a gateway or the
		// kernel turns back into it: NAT64 (a VPC's NAT gateway reaches
		// the VPC's private addresses), 6to4, Teredo, IPv4-compatible.
		{"[64:ff9b::a9fe:a9fe]:80", false}, // NAT64 of 169.254.169.254
		{"[64:ff9b::10.0.0.1]:80", false},
		{"[64:ff9b::7f00:1]:80", false},
		{"[64:ff9b:1::a00:1]:80", false},                     // local-use NAT64 (RFC 8215)
		{"[2002:a00:1::1]:80", false},                        // 6to4 of 10.0.0.1
		{"[2002:7f00:1::1]:80", false},                       // 6to4 of 127.0.0.1
		{"[2001:0:4136:e378:8000:63bf:3fff:fdd2]:80", false}, // Teredo
		{"[::10.0.0.1]:80", false},                           // IPv4-compatible
		{"[::127.0.0.1]:80", false},
		{"[fec0::1]:80", false}, // site-local
		// IPv4 ranges no public service lives in.
		{"192.0.0.1:80", false},         // IETF protocol assignments
		{"198.18.0.1:80", false},        // benchmarking
		{"240.0.0.1:80", false},         // reserved
		{"[64:ff9b::808:808]:53", true}, // NAT64 of 8.8.8.8: public
		{"[2002:808:808::1]:53", true},  // 6to4 of 8.8.8.8: public
		{"93.184.215.14:443", true},
		{"172.32.0.1:80", true},
		{"100.128.0.1:80", true},
		{"[2606:4700::1111]:443", true},
		{"8.8.8.8:53", true},
		{"not-an-address", false},
	} {
		err := guardDial("tcp", tc.addr, nil)
		if got := err == nil; got != tc.allowed {
			t.Errorf("guard(%s) = %v, want allowed %v", tc.addr, err, tc.allowed)
		}
		if err != nil && !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("guard(%s) = %v, want ErrRefusedAddress", tc.addr, err)
		}
	}
}

// The guarded client refuses in the dialer's Control, which runs before
// the connection is attempted: a name that resolves to this machine
// ("localhost", as a rebinding name would) never reaches the receiver
// listening there, and a private address literal never gets a packet.
func TestClient_GuardRefusesBeforeConnecting(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	guarded := NewClient(false, nil)
	for _, url := range []string{
		"http://localhost:" + port + "/",
		"http://127.0.0.1:" + port + "/",
		"http://10.0.0.1:9/", // refused before connect(2): nothing is sent
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader("{}"))
		_, err := guarded.Do(req)
		if !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("POST %s through the guarded client: %v, want ErrRefusedAddress", url, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the receiver on loopback got %d requests through the guard", hits.Load())
	}
	// With --webhooks-allow-private the same receiver is reached.
	resp, err := NewClient(true, nil).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Errorf("allowed client: %d requests, want 1", hits.Load())
	}
}

// The client follows no redirect: a 3xx is the endpoint's answer.
func TestClient_FollowsNoRedirect(t *testing.T) {
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := NewClient(true, nil).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() != 0 {
		t.Errorf("status %d, %d followed; want the 307 itself", resp.StatusCode, followed.Load())
	}
}

// An endpoint's URL is checked when it is saved.
func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/marketbridge", false, true},
		{"http://hooks.example.com:8080/in?x=1", false, true},
		{"https://user:pass@hooks.example.com/", false, false},
		{"https://token@hooks.example.com/", false, false},
		{"ftp://hooks.example.com/", false, false},
		{"file:///etc/passwd", false, false},
		{"javascript:alert(1)", false, false},
		{"hooks.example.com/in", false, false},
		{"https:///path", false, false},
		{"https://hooks.example.com/#frag", false, false},
		{"", false, false},
		{"https://10.1.2.3/in", false, false},
		{"https://[::1]/in", false, false},
		{"http://localhost:8080/in", false, false},
		{"http://app.localhost/in", false, false},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"http://127.0.0.1:8080/dev/webhooks/inbox", true, true},
		{"http://localhost:8080/in", true, true},
		{"https://hooks.example.com/a b", false, false},
		{"https://" + strings.Repeat("a", 2001) + ".com/", false, false},
	} {
		err := CheckURL(tc.url, tc.allowPrivate)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, allowPrivate=%v) = %v, want ok %v", tc.url, tc.allowPrivate, err, tc.ok)
		}
	}
}

func TestAllowedAddress_Unmapped(t *testing.T) {
	if AllowedAddress(netip.MustParseAddr("::ffff:192.168.0.1")) {
		t.Error("an IPv4-mapped private address was allowed")
	}
}
