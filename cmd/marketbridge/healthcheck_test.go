package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck_ExitsZeroOnlyOn200 (#17): the container's health check is
// the binary itself, so it must fail on anything but a 200 from /healthz,
// a redirect and a refused connection included.
func TestHealthcheck_ExitsZeroOnlyOn200(t *testing.T) {
	handler := func(status int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			if status == http.StatusFound {
				http.Redirect(w, r, "/elsewhere", status)
				return
			}
			w.WriteHeader(status)
		})
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name    string
		status  int // what the server answers; 0: no server
		addr    func(hostPort string) string
		wantErr string // empty: success
	}{
		{"200 passes", http.StatusOK, nil, ""},
		{"503 fails", http.StatusServiceUnavailable, nil, "503"},
		{"a redirect is not followed", http.StatusFound, nil, "302"},
		{"0.0.0.0 is checked on loopback", http.StatusOK, func(hp string) string { return "0.0.0.0:" + port(t, hp) }, ""},
		{"no host is checked on loopback", http.StatusOK, func(hp string) string { return ":" + port(t, hp) }, ""},
		{"[::] is checked on loopback", http.StatusOK, func(hp string) string { return "[::]:" + port(t, hp) }, ""},
		{"nothing listening fails", 0, func(string) string { return closedAddr }, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := closedAddr
			if tc.status != 0 {
				srv := httptest.NewServer(handler(tc.status))
				defer srv.Close()
				addr = srv.Listener.Addr().String()
			}
			if tc.addr != nil {
				addr = tc.addr(addr)
			}
			var out strings.Builder
			err := run(context.Background(), []string{"healthcheck", "--addr", addr}, func(string) string { return "" }, &out, io.Discard)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("healthcheck --addr %s = %v, want success", addr, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("healthcheck --addr %s = %v, want an error with %q", addr, err, tc.wantErr)
			case tc.wantErr == "" && !strings.Contains(out.String(), "200 OK"):
				t.Fatalf("healthcheck printed %q, want the answer", out.String())
			}
		})
	}
}

// TestHealthcheck_ReadsServeAddrFromEnvironment: in the image,
// MARKETBRIDGE_ADDR=:8080 makes serve listen everywhere and healthcheck ask
// loopback, with no flag on either (#17).
func TestHealthcheck_ReadsServeAddrFromEnvironment(t *testing.T) {
	url, stop := startServe(t)
	getenv := func(k string) string {
		if k == "MARKETBRIDGE_ADDR" {
			return ":" + port(t, strings.TrimPrefix(url, "http://"))
		}
		return ""
	}
	if err := run(context.Background(), []string{"healthcheck"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatalf("healthcheck against a running serve = %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"healthcheck"}, getenv, io.Discard, io.Discard); err == nil {
		t.Fatal("healthcheck passed after serve stopped")
	}
}

func port(t *testing.T, hostPort string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
