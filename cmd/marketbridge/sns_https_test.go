package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmulatorAndServe_SNSOverHTTPSWithTheEmulatorCA (#13): the emulator
// command prints the CA file it made in its data folder; serve, given the
// emulator's host and that CA, takes the emulator's SNS messages, whose
// URLs are https: it fetches the signing certificate and confirms the
// subscription over TLS, which the emulator sees as a confirmed
// subscription.
func TestEmulatorAndServe_SNSOverHTTPSWithTheEmulatorCA(t *testing.T) {
	// The emulator's public URL names its port, so it cannot be :0.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emuAddr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"emulator", "--emulator-addr", emuAddr, "--data", dir, "--log-format", "json",
			"--seed-demo", "http://127.0.0.1:1/fulfillment"}, func(string) string { return "" }, pw, io.Discard)
		pw.CloseWithError(errors.New("run ended"))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("emulator: %v", err)
		}
	})
	out := bufio.NewReader(pr)
	var caFile string
	for caFile == "" {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("the emulator printed no CA file: %v", err)
		}
		if f := strings.Fields(line); len(f) > 2 && f[0] == "HTTPS" && f[1] == "CA" {
			caFile = f[2]
		}
	}
	go io.Copy(io.Discard, out)
	if caFile != filepath.Join(dir, "emulator-ca.pem") {
		t.Fatalf("CA file %q, want emulator-ca.pem in the data folder %s", caFile, dir)
	}

	seller, _ := startServe(t, "--catalog", "demo-catalog.json", "--sns-cert-host", emuAddr, "--sns-cert-ca", caFile)
	emu := "http://" + emuAddr + "/emulator/v1/sns/subscriptions"
	resp, err := http.Post(emu, "application/json", strings.NewReader(`{"product_code":"example-cloud-payg","topic":"subscription","endpoint":"`+
		seller+`/marketplace/aws/sns"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("subscribe: status %d", resp.StatusCode)
	}
	// The deadline only stops a broken test from hanging.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var list struct {
			Subscriptions []struct {
				Status string `json:"status"`
			} `json:"subscriptions"`
		}
		resp, err := http.Get(emu)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Subscriptions) == 1 && list.Subscriptions[0].Status == "confirmed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seller did not confirm the emulator's subscription: %+v", list)
		}
	}
}
