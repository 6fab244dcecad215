package metering_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/time/rate"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/quota"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// quotaChildEnv makes the test binary a sender process of
// BenchmarkSender_SharedQuota; it holds a quotaChildConfig as JSON.
const quotaChildEnv = "MARKETBRIDGE_METERING_QUOTA_CHILD"

type quotaChildConfig struct {
	DB       string        `json:"db"`
	Endpoint string        `json:"endpoint"`
	Offset   time.Duration `json:"offset"` // the seller's clock is real time plus this
	Rate     float64       `json:"rate"`
	Shared   bool          `json:"shared"` // the quota in the database, or a limiter of its own
}

// quotaChildResult is what a sender process reports when nothing is left.
type quotaChildResult struct {
	Calls     int `json:"calls"`
	Records   int `json:"records"`
	Throttled int `json:"throttled"`
	// Of the shared quota: round trips to the database, slots reserved,
	// slots wasted by coming too late.
	Reservations, Reserved, Dropped int64
	Sent                            []int64 // when each HTTP attempt left, µs since the epoch
}

// BenchmarkSender_SharedQuota meters a backlog of 6,000 records (240 calls
// of 25) on PostgreSQL from 1 and 3 sender processes, each the test binary
// run again with 4 workers as serve has, against the emulator throttling
// BatchMeterUsage at AWS's 10 calls a second per seller account (a token
// bucket of 10 a second, burst 10). It reports the calls AWS answered a
// second and the HTTP attempts it throttled (the SDK retries them as in
// serve; each attempt counts). "unshared" is the pacing before #13: each process
// at 10 a second of its own. Run:
// go test -run '^$' -bench SharedQuota -benchtime 1x ./internal/metering
func BenchmarkSender_SharedQuota(b *testing.B) {
	if raw := os.Getenv(quotaChildEnv); raw != "" {
		quotaChild(b, raw)
		return
	}
	for _, tc := range []struct {
		name   string
		procs  int
		shared bool
	}{
		{"1-process", 1, true},
		{"3-processes", 3, true},
		{"3-processes-unshared", 3, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			url := storetest.URL(b, "postgres")
			db := storetest.OpenURL(b, url)
			bench := newBenchWith(b, db, market.Settings{ThrottleRate: 10, ThrottleBurst: 10})
			ctx := context.Background()
			ids := bench.subscriptions(1200)
			bench.shift(ctx, 8*time.Hour)
			hour := bench.Now().UTC().Truncate(time.Hour)
			const hours = 5
			var calls, records, throttled int
			var st quotaChildResult
			var sent []time.Time
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				if _, err := db.Write().Exec(`DELETE FROM metering_records`); err != nil {
					b.Fatal(err)
				}
				bench.records(ids, hour, hours)
				cfg := quotaChildConfig{DB: url, Endpoint: bench.url, Offset: bench.Now().Sub(time.Now()), Rate: 10, Shared: tc.shared}
				res, took := runQuotaChildren(b, cfg, tc.procs)
				b.StartTimer()
				elapsed += took
				for _, r := range res {
					calls += r.Calls
					records += r.Records
					throttled += r.Throttled
					st.Reservations += r.Reservations
					st.Reserved += r.Reserved
					st.Dropped += r.Dropped
					for _, us := range r.Sent {
						sent = append(sent, time.UnixMicro(us))
					}
				}
				var accepted int
				scan(b, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'accepted'`), &accepted)
				if want := len(ids) * hours; accepted != want {
					b.Fatalf("%d records accepted, want %d", accepted, want)
				}
			}
			b.ReportMetric(float64(calls)/elapsed.Seconds(), "calls/s")
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(throttled)/float64(b.N), "throttled/op")
			slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
			if len(sent) > 1 && b.N == 1 {
				// The pace of HTTP attempts once started, without the start and the
				// end; throttled attempts included.
				b.ReportMetric(float64(len(sent)-1)/sent[len(sent)-1].Sub(sent[0]).Seconds(), "steady-sent/s")
			}
			b.ReportMetric(float64(mostInASecond(sent)), "max-sent-in-1s")
			if tc.shared {
				b.ReportMetric(float64(st.Reservations)/elapsed.Seconds(), "db-trips/s")
				b.ReportMetric(float64(st.Dropped)/float64(b.N), "slots-wasted/op")
			}
		})
	}
}

// mostInASecond is the most of the sorted times in any one-second span
// [t, t+1s).
func mostInASecond(ts []time.Time) int {
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < time.Second {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

// runQuotaChildren starts n sender processes, lets them go together once
// all are ready, and returns their reports and the time from the go to the
// last report.
func runQuotaChildren(b *testing.B, cfg quotaChildConfig, n int) ([]quotaChildResult, time.Duration) {
	b.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		lines  *bufio.Scanner
		stderr *strings.Builder
	}
	children := make([]child, n)
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkSender_SharedQuota$", "-test.benchtime=1x")
		cmd.Env = append(os.Environ(), quotaChildEnv+"="+string(raw))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		children[i] = child{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(out), stderr: &stderr}
	}
	// until reads a child's stdout to the line that starts with prefix.
	until := func(c child, prefix string) string {
		for c.lines.Scan() {
			if line, ok := strings.CutPrefix(c.lines.Text(), prefix); ok {
				return line
			}
		}
		b.Fatalf("a sender process ended before %q: %s", prefix, c.stderr.String())
		return ""
	}
	for _, c := range children {
		until(c, "READY")
	}
	start := time.Now()
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "GO\n"); err != nil {
			b.Fatal(err)
		}
	}
	results := make([]quotaChildResult, n)
	for i, c := range children {
		if err := json.Unmarshal([]byte(until(c, "RESULT ")), &results[i]); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start)
	for i, c := range children {
		_ = c.cmd.Wait()
		if e := c.stderr.String(); e != "" {
			b.Logf("process %d: %s", i, e)
		}
	}
	return results, took
}

// throttleCounter counts the HTTP attempts AWS answered with a
// ThrottlingException, retries included.
type throttleCounter struct {
	next      aws.HTTPClient
	throttled atomic.Int64
	mu        sync.Mutex
	sent      []int64
}

func (c *throttleCounter) Do(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.sent = append(c.sent, time.Now().UnixMicro())
	c.mu.Unlock()
	resp, err := c.next.Do(req)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if bytes.Contains(body, []byte("ThrottlingException")) {
		c.throttled.Add(1)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// quotaChild is one sender process: it sends until nothing is pending,
// then reports what AWS answered.
func quotaChild(b *testing.B, raw string) {
	var cfg quotaChildConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.Open(ctx, cfg.DB, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := func() time.Time { return time.Now().Add(cfg.Offset) }
	// The SDK's default retries, as serve has; every throttled attempt is
	// counted on the wire.
	wire := &throttleCounter{next: awshttp.NewBuildableClient()}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: wire}
	counter := &answeredMeterer{real: awsmp.New(awsCfg, awsmp.Endpoints{Metering: cfg.Endpoint, Entitlement: cfg.Endpoint})}
	var pacer metering.Pacer = rate.NewLimiter(rate.Limit(cfg.Rate), int(cfg.Rate))
	var shared *quota.Limiter
	if cfg.Shared {
		if shared, err = quota.New(quota.Config{DB: db, Name: "aws:BatchMeterUsage", Rate: cfg.Rate,
			Burst: 1, Logger: logger}); err != nil {
			b.Fatal(err)
		}
		pacer = shared
	}
	sender, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: counter, Pacer: pacer, Logger: logger, Now: now,
		Window: 6 * time.Hour, Lease: time.Minute, Workers: 4})
	if err != nil {
		b.Fatal(err)
	}
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	for ctx.Err() == nil {
		n, err := sender.SendPending(ctx)
		if err != nil {
			logger.Warn("send", "err", err)
		}
		var pending int
		if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM metering_records WHERE status = 'pending'`).Scan(&pending); err != nil {
			b.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if n == 0 {
			time.Sleep(20 * time.Millisecond) // the rest is another process's, or backing off
		}
	}
	res := quotaChildResult{Calls: counter.calls, Records: counter.records, Throttled: int(wire.throttled.Load()), Sent: wire.sent}
	if shared != nil {
		st := shared.Stats()
		res.Reservations, res.Reserved, res.Dropped = st.Reservations, st.Reserved, st.Dropped
	}
	out, err := json.Marshal(res)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Println("RESULT " + string(out))
}
