package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/config"
)

// startServe runs "serve" in-process on a free port and a fresh data folder,
// and returns its base URL and a function that stops it and returns run's
// error.
func startServe(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--log-format", "json"}, args...)
	go func() {
		err := run(ctx, argv, func(string) string { return "" }, pw, io.Discard)
		pw.CloseWithError(errors.New("run ended"))
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve did not start: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	url := strings.TrimSpace(strings.TrimPrefix(line, "marketbridge serving on "))
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30s of cancellation")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return url, stop
}

func TestServe_HealthzAndMetrics(t *testing.T) {
	url, stop := startServe(t)
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", resp.StatusCode)
	}
	resp, err = http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want Prometheus text", ct)
	}
	for _, want := range []string{
		`marketbridge_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
		`marketbridge_http_request_duration_seconds_bucket{route="GET /healthz"`,
		`go_sql_open_connections{db_name="write"}`,
		`go_sql_open_connections{db_name="read"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The dev mailbox holds log-in and reset links: serve never shows it,
	// only the demo does.
	if resp, err := http.Get(url + "/dev/mailbox"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("serve exposes /dev/mailbox: %v %v", resp.StatusCode, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve ended with %v, want a clean stop", err)
	}
}

// A request in flight when the signal arrives is answered before the process
// ends, and new connections are refused after.
func TestServeHTTP_ShutdownFinishesInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveHTTP(ctx, discardLogger(), ln, h, config.HTTP{RequestTimeout: time.Minute, ShutdownTimeout: time.Minute})
	}()
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{string(b), err}
	}()
	<-entered
	cancel() // as SIGTERM does
	// Shutdown has begun once the listener refuses new connections.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the listener still accepts connections 30 s after shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request got %q, %v; want it answered", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serveHTTP = %v, want nil after a graceful stop", err)
	}
}

func TestRun_FailsWithOneClearError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command", nil, nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "--nope"}, nil, "flag provided but not defined: -nope"},
		{"stray argument", []string{"migrate", "extra"}, nil, `unexpected argument "extra"`},
		{"bad env value", []string{"serve"}, map[string]string{"MARKETBRIDGE_REQUEST_TIMEOUT": "soon"}, `MARKETBRIDGE_REQUEST_TIMEOUT="soon"`},
		{"bad database URL", []string{"serve", "--addr", "127.0.0.1:0", "--database-url", "mysql://db"}, nil, `scheme "mysql" is not supported`},
		{"unreachable PostgreSQL", []string{"migrate", "--database-url", "postgres://u:p@127.0.0.1:1/db?connect_timeout=2"}, nil, "reach postgres database"},
		{"data folder under a file", []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(file, "data")}, nil, "data folder"},
		{"port in use", []string{"serve", "--addr", busy.Addr().String(), "--data", t.TempDir()}, nil, "cannot listen on " + busy.Addr().String() + ": bind: address already in use"},
		{"bad address", []string{"serve", "--addr", "nowhere"}, nil, `--addr: "nowhere" is not host:port`},
		{"bad product URL", []string{"serve", "--addr", "127.0.0.1:0", "--product-url", "https://app.example.com/{tenant}"}, nil, "--product-url"},
		{"product URL not http", []string{"serve", "--addr", "127.0.0.1:0", "--product-url", "javascript:alert({org_id})"}, nil, "--product-url"},
		{"bad metrics address", []string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "nowhere"}, nil, `--metrics-addr: "nowhere" is not host:port`},
		{"metrics port in use", []string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", busy.Addr().String(), "--data", t.TempDir()}, nil, "--metrics-addr: cannot listen on " + busy.Addr().String()},
		// #13: the SNS CA vouches for the configured host, and must be a certificate.
		{"SNS CA without its host", []string{"serve", "--addr", "127.0.0.1:0", "--sns-cert-ca", file}, nil, "--sns-cert-ca: give --sns-cert-host too"},
		{"SNS CA that is not PEM", []string{"serve", "--addr", "127.0.0.1:0", "--sns-cert-host", "127.0.0.1:8081", "--sns-cert-ca", file}, nil, "holds no PEM certificate"},
		{"SNS CA missing", []string{"serve", "--addr", "127.0.0.1:0", "--sns-cert-host", "127.0.0.1:8081", "--sns-cert-ca", file + ".missing"}, nil, "--sns-cert-ca: open"},
		// #13: shared quotas need a rate their bucket can hold.
		{"agreement rate below one a minute", []string{"serve", "--addr", "127.0.0.1:0", "--agreement-rate", "0.001"}, nil, "below one a minute"},
		{"negative entitlement rate", []string{"serve", "--addr", "127.0.0.1:0", "--entitlement-rate", "-1"}, nil, "--entitlement-rate and --agreement-rate must be 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			err := run(context.Background(), tt.args, getenv, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// Every flag of every command is documented in --help with its
// MARKETBRIDGE_* variable, and the variable really sets it.
func TestCommands_EveryFlagHasAnEnvironmentVariable(t *testing.T) {
	for _, c := range commands() {
		var help strings.Builder
		c.Usage(&help)
		c.Flags.VisitAll(func(f *flagT) {
			name := config.EnvName(f.Name)
			if !strings.Contains(help.String(), name) {
				t.Errorf("%s --help does not list %s", c.Name, name)
			}
		})
	}
	for _, c := range commands() {
		c.Flags.VisitAll(func(f *flagT) {
			fresh := findCommand(t, c.Name)
			value := sampleValue(f.DefValue)
			args := slices.Repeat([]string{"1"}, len(fresh.Args)) // positional arguments, such as token revoke's ID
			err := fresh.Parse(args, func(k string) string {
				if k == config.EnvName(f.Name) {
					return value
				}
				return ""
			}, io.Discard)
			if err != nil {
				t.Fatalf("%s: %s=%s: %v", c.Name, config.EnvName(f.Name), value, err)
			}
			if got := fresh.Flags.Lookup(f.Name).Value.String(); got != value {
				t.Errorf("%s: %s=%s left --%s at %q", c.Name, config.EnvName(f.Name), value, f.Name, got)
			}
		})
	}
}

func TestMigrate_RunsTwice(t *testing.T) {
	data := t.TempDir()
	for i, want := range []string{"applied ", "applied 0 migration(s)"} {
		var out strings.Builder
		if err := run(context.Background(), []string{"migrate", "--data", data}, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if !strings.HasPrefix(out.String(), want) {
			t.Fatalf("run %d printed %q, want it to start %q", i+1, out.String(), want)
		}
	}
}

func TestReconcile_EmptyDatabaseHasNoDifferences(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"reconcile", "--data", t.TempDir(), "--month", "2026-11"}, func(string) string { return "" }, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "0 subscription(s) reconciled, no differences.") {
		t.Fatalf("reconcile = %v:\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"reconcile", "--data", t.TempDir(), "--month", "November"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "YYYY-MM") {
		t.Fatalf("bad --month = %v", err)
	}
}

// TestServe_MetricsAddr: with --metrics-addr, /metrics is served on its own
// listener and the console's port no longer answers it (#11 item 8), so that
// a private network can scrape it while the console faces the buyers.
func TestServe_MetricsAddr(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	argv := []string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--data", t.TempDir(), "--log-format", "json"}
	go func() {
		err := run(ctx, argv, func(string) string { return "" }, pw, io.Discard)
		pw.CloseWithError(errors.New("run ended"))
		done <- err
	}()
	out := bufio.NewReader(pr)
	first, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("serve did not start: %v (run: %v)", err, <-done)
	}
	second, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("serve did not say where metrics are: %v", err)
	}
	go io.Copy(io.Discard, pr)
	console := strings.TrimSpace(strings.TrimPrefix(first, "marketbridge serving on "))
	metrics := strings.TrimSpace(strings.TrimPrefix(second, "metrics on "))
	if !strings.HasPrefix(metrics, "http://127.0.0.1:") || !strings.HasSuffix(metrics, "/metrics") || strings.HasPrefix(metrics, console) {
		t.Fatalf("metrics at %q, console at %q: want another port", metrics, console)
	}

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		url      string
		status   int
		contains string
	}{
		{console + "/healthz", http.StatusOK, ""},
		{console + "/metrics", http.StatusNotFound, ""},
		{metrics, http.StatusOK, `marketbridge_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`},
		// Each shared AWS quota is counted (#13).
		{metrics, http.StatusOK, `marketbridge_aws_quota_slots_reserved_total{quota="aws:BatchMeterUsage"} 0`},
		{metrics, http.StatusOK, `marketbridge_aws_quota_reservations_total{quota="aws:AgreementAPI"} 0`},
		// The metrics listener serves metrics and nothing of the console.
		{strings.TrimSuffix(metrics, "/metrics") + "/healthz", http.StatusNotFound, ""},
		{strings.TrimSuffix(metrics, "/metrics") + "/login", http.StatusNotFound, ""},
	} {
		status, body := get(tc.url)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d (contains %q: %v), want %d", tc.url, status, tc.contains, strings.Contains(body, tc.contains), tc.status)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve ended with %v, want a clean stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of cancellation")
	}
}
