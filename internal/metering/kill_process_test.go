package metering_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/time/rate"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// killChildEnv makes the test binary act as a metering process that the
// kill test kills; it holds a killChildConfig as JSON.
const killChildEnv = "MARKETBRIDGE_METERING_KILL_CHILD"

// killChildConfig is what the parent hands a metering process.
type killChildConfig struct {
	DB       string        `json:"db"`
	Endpoint string        `json:"endpoint"` // the marketplace, through the parent's faulty link
	Offset   time.Duration `json:"offset"`   // the seller's clock is real time plus this
	Timeout  time.Duration `json:"timeout"`  // of one HTTP call to the marketplace
}

// killCatalog is the catalog of the kill test's seller, in both processes.
func killCatalog(t testing.TB) *marketplace.Catalog {
	t.Helper()
	catalog, err := marketplace.NewCatalog([]marketplace.Product{paygProduct, contractProduct}, testMeters...)
	if err != nil {
		t.Fatal(err)
	}
	return catalog
}

// killMaker is a process's record maker, wired as serve wires it.
func killMaker(t testing.TB, db *store.DB, catalog *marketplace.Catalog, client *awsmp.Client, now func() time.Time, logger *slog.Logger) *metering.Maker {
	t.Helper()
	outbox := mail.NewOutbox(db, now)
	orgs, err := org.New(org.Config{DB: db, Mailer: outbox, Logger: logger, Now: now, BaseURL: "https://seller.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	mkt, err := marketplace.New(marketplace.Config{DB: db, Catalog: catalog, Resolver: client, Orgs: orgs, Mailer: outbox,
		Logger: logger, Now: now, BaseURL: "https://seller.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	maker, err := metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: mkt, Usage: usage.NewTotals(db), Prices: catalog,
		Logger: logger, Now: now, ZeroRecords: true})
	if err != nil {
		t.Fatal(err)
	}
	return maker
}

// killChild is the metering process: the real AWS client, the maker and the
// sender in metering.Run, until the parent kills it. It ends by itself after
// two minutes, should the parent be gone.
func killChild(t *testing.T, raw string) {
	var cfg killChildConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	db, err := store.Open(ctx, cfg.DB, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := func() time.Time { return time.Now().Add(cfg.Offset) }
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient: awshttp.NewBuildableClient().WithTimeout(cfg.Timeout),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3; o.MaxBackoff = 20 * time.Millisecond })
		}}
	client := awsmp.New(awsCfg, awsmp.Endpoints{Metering: cfg.Endpoint, Entitlement: cfg.Endpoint})
	maker := killMaker(t, db, killCatalog(t), client, now, logger)
	sender, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: client, Logger: logger, Now: now,
		Pacer: rate.NewLimiter(20, 20), Window: 6 * time.Hour, Lease: time.Minute, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	metering.Run(ctx, logger, maker, 100*time.Millisecond, sender)
}

// Where in a call to the marketplace a metering process is killed.
const (
	stageSent      = "as its call left"
	stageAnswered  = "after AWS answered, before the answer reached it"
	stageDelivered = "just after the answer reached it"
	stageTimer     = "at a random moment"
)

// killPlan says when to kill a process: at a stage of its call'th call to
// the marketplace, or after a while, whichever comes first.
type killPlan struct {
	call  int // 0: by time only
	stage string
	after time.Duration
}

func (p killPlan) String() string {
	if p.call == 0 {
		return fmt.Sprintf("%s after it was ready", p.after)
	}
	return fmt.Sprintf("%s of call %d, or %s after it was ready", p.stage, p.call, p.after)
}

func randomKillPlan(rng *rand.Rand) killPlan {
	p := killPlan{after: time.Duration(200+rng.IntN(2000)) * time.Millisecond}
	if rng.IntN(3) > 0 {
		p.call = 1 + rng.IntN(3)
		p.stage = []string{stageSent, stageAnswered, stageDelivered}[rng.IntN(3)]
	}
	return p
}

// slot runs metering processes one after another, and kills each with
// SIGKILL as its plan says.
type slot struct {
	mu     sync.Mutex
	gen    int // which process: calls of an earlier one do not count
	proc   *os.Process
	plan   killPlan
	calls  int
	killed bool
	kills  map[string]int // by stage
	logs   []string       // of the last processes, for a failure
}

// call counts a call of the current process reaching the link.
func (s *slot) call() (gen, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.gen, s.calls
}

// at kills the process if its plan names this call and stage, and reports
// whether it did.
func (s *slot) at(gen, n int, stage string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.killed || s.proc == nil || n != s.plan.call || stage != s.plan.stage {
		return false
	}
	s.killLocked(stage)
	return true
}

func (s *slot) killLocked(why string) {
	_ = s.proc.Kill() // SIGKILL
	s.killed = true
	s.kills[why]++
}

// live starts a metering process, lets the plan kill it, and waits for it
// to be gone. It returns an error if the process ended by itself, or
// reported a data race.
func (s *slot) live(cfg killChildConfig, plan killPlan) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMetering_KilledProcessesLedgerEqualsRatedUsage$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+string(raw))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.plan, s.calls, s.killed, s.proc = plan, 0, false, nil
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.proc = cmd.Process
	s.mu.Unlock()
	ready := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	kill := func(why string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen == gen && !s.killed {
			s.killLocked(why)
		}
	}
	notReady := false
	select {
	case <-ready:
	case <-read:
	case <-time.After(time.Minute):
		notReady = true
		kill("not ready after a minute")
	}
	timer := time.AfterFunc(plan.after, func() { kill(stageTimer) })
	<-read
	werr := cmd.Wait()
	timer.Stop()
	s.mu.Lock()
	killed := s.killed
	s.proc = nil
	s.mu.Unlock()
	s.logs = append(s.logs, fmt.Sprintf("process %d, to be killed %s:\n%s", gen, plan, stderr.String()))
	if len(s.logs) > 3 {
		s.logs = s.logs[1:]
	}
	switch {
	case notReady:
		return fmt.Errorf("the metering process was not ready after a minute:\n%s", stderr.String())
	case strings.Contains(stderr.String(), "DATA RACE"):
		return fmt.Errorf("the metering process reported a data race:\n%s", stderr.String())
	case !killed:
		return fmt.Errorf("the metering process ended by itself (%v):\n%s", werr, stderr.String())
	}
	return nil
}

// stop kills the current process, if any, when the test ends early.
func (s *slot) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.killed {
		s.killLocked("the test ended")
	}
}

// faultyLink is the network between a metering process and the emulator.
// It forwards each call, and at random delivers it twice, loses AWS's answer
// after AWS processed the call, or holds the answer past the caller's
// timeout. It is also where the parent kills the process at a chosen point
// of a call.
type faultyLink struct {
	emulator string
	slot     *slot
	timeout  time.Duration // the caller's
	client   *http.Client
	mu       sync.Mutex
	rng      *rand.Rand
	stats    map[string]int
	answered map[string]bool // MeteringRecordIds AWS answered
}

func newFaultyLink(emulator string, s *slot, timeout time.Duration, seed uint64) *faultyLink {
	return &faultyLink{emulator: emulator, slot: s, timeout: timeout, client: &http.Client{Transport: &http.Transport{}},
		rng: rand.New(rand.NewPCG(seed, 3)), stats: map[string]int{}, answered: map[string]bool{}}
}

func (l *faultyLink) roll(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.IntN(n)
}

func (l *faultyLink) count(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats[what]++
}

// Network faults of a call.
const (
	netDuplicate = "calls delivered twice"
	netLost      = "answers lost after AWS processed the call"
	netLate      = "answers held past the caller's timeout"
)

func (l *faultyLink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	gen, n := l.slot.call()
	if l.slot.at(gen, n, stageSent) {
		// The process died as its request left: AWS may or may not get it.
		if l.roll(2) == 0 {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
			defer cancel()
			_, _, _ = l.forward(ctx, r, body)
		}
		return
	}
	fault := ""
	switch roll := l.roll(20); {
	case roll < 2:
		fault = netDuplicate
	case roll < 4:
		fault = netLost
	case roll < 5:
		fault = netLate
	}
	resp, data, err := l.forward(r.Context(), r, body)
	if err == nil && fault == netDuplicate {
		resp, data, err = l.forward(r.Context(), r, body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if fault != "" {
		l.count(fault)
	}
	if l.slot.at(gen, n, stageAnswered) {
		return
	}
	switch fault {
	case netLost:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	case netLate:
		select {
		case <-time.After(l.timeout + 200*time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	time.Sleep(time.Duration(l.roll(3000)) * time.Microsecond)
	l.slot.at(gen, n, stageDelivered)
}

// forward makes the call to the emulator as it was signed, and notes what
// AWS answered for each record.
func (l *faultyLink) forward(ctx context.Context, r *http.Request, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, l.emulator+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = r.Header.Clone()
	req.Host = r.Host // signed
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	var answer struct {
		Results []struct {
			MeteringRecordID string `json:"MeteringRecordId"`
			Status           string `json:"Status"`
		} `json:"Results"`
		UnprocessedRecords []json.RawMessage `json:"UnprocessedRecords"`
	}
	if resp.StatusCode == http.StatusOK && json.Unmarshal(data, &answer) == nil {
		l.mu.Lock()
		for _, res := range answer.Results {
			l.stats["record answers "+res.Status]++
			if res.MeteringRecordID != "" && l.answered[res.MeteringRecordID] {
				l.stats["records AWS answered again with the same MeteringRecordId"]++
			}
			l.answered[res.MeteringRecordID] = true
		}
		l.stats["records left unprocessed"] += len(answer.UnprocessedRecords)
		l.mu.Unlock()
	} else {
		var failed struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(data, &failed)
		l.count(fmt.Sprintf("calls answered %d %s", resp.StatusCode, failed.Type))
	}
	return resp, data, nil
}
