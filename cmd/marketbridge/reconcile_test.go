package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// reconcileArgsEnv carries the arguments of "marketbridge reconcile" to a
// child run of this test binary, which is then "marketbridge" itself (see
// TestMain): main, with its real exit status.
const reconcileArgsEnv = "MARKETBRIDGE_TEST_RECONCILE_ARGS"

// TestMain runs main instead of the tests in a child started by reconcile,
// so that the child is neither a test that passes nor one that skips.
func TestMain(m *testing.M) {
	if raw := os.Getenv(reconcileArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Args = append([]string{"marketbridge"}, args...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// reconcile runs "marketbridge reconcile" with args in a process of its own
// and returns what it printed and its exit status.
func reconcile(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	raw, _ := json.Marshal(args)
	cmd.Env = append(os.Environ(), reconcileArgsEnv+"="+string(raw))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run reconcile: %v", err)
	}
	return out.String(), errOut.String(), code
}

// reconcileFixture is a database with one pay-as-you-go subscription of the
// demo catalog, linked before month, whose organization used $220 of
// compute in month's first hours.
type reconcileFixture struct {
	t     *testing.T
	db    *store.DB
	sub   int64
	org   int64
	month time.Time
}

func newReconcileFixture(t *testing.T, url string, month time.Time) *reconcileFixture {
	t.Helper()
	db := storetest.OpenURL(t, url)
	f := &reconcileFixture{t: t, db: db, month: month}
	linked := store.Now(month.Add(-24 * time.Hour))
	var user int64
	f.exec(`INSERT INTO users (email, name, password_hash, created_at) VALUES ('rec@example.com', 'R', 'x', $1) RETURNING id`, []any{linked}, &user)
	f.exec(`INSERT INTO organizations (name, created_by, created_at) VALUES ('Reconciled', $1, $2) RETURNING id`, []any{user, linked}, &f.org)
	f.exec(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, agreement_key, created_at, updated_at)
		VALUES ('aws', 'example-cloud-payg', 'payg', '123456789012', 'agreement-1', $1, $1) RETURNING id`, []any{linked}, &f.sub)
	f.exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`, []any{f.sub, f.org, user, linked})
	// 1,000 vCPU-hours at the demo catalog's $0.22: 22,000 cents.
	f.exec(`INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at) VALUES ($1, 'compute', '', $2, $3, 1, $2)`,
		[]any{f.org, store.Now(month.Add(5 * time.Hour)), int64(1000 * 1_000_000)})
	f.exec(`INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity) VALUES ($1, $2, 'compute', $3)`,
		[]any{f.org, store.Now(month.Add(5 * time.Hour)), int64(1000 * 1_000_000)})
	return f
}

func (f *reconcileFixture) exec(query string, args []any, into ...any) {
	f.t.Helper()
	var err error
	if len(into) > 0 {
		err = f.db.Write().QueryRow(query, args...).Scan(into...)
	} else {
		_, err = f.db.Write().Exec(query, args...)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// record stores the metering record of the usage's hour, as the sender
// left it.
func (f *reconcileFixture) record(status string, cents int64) {
	f.exec(`INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, status, created_at)
		VALUES ($1, 'example-cloud-payg', 'credits', $2, $3, $4, $2)`, []any{f.sub, store.Now(f.month.Add(5 * time.Hour)), cents, status})
}

// "marketbridge reconcile" exits 1 when what a month's usage owes AWS is
// not what was metered (R10, R11): a record AWS refused for another
// quantity (DuplicateRecord, a conflict), or an hour never metered; and 0
// when every cent is accepted or on its way. It prints the comparison
// either way, the differing lines marked.
func TestReconcile_ExitsOneOnADifference(t *testing.T) {
	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0) // closed: every hour is due
	cases := []struct {
		name     string
		status   string // of the hour's record; "" for none
		wantLine string // the subscription's line, from due to difference (¢)
		wantCode int
	}{
		{"every cent accepted", "accepted", "22000 22000 0 0 0 0", 0},
		{"pending records are on their way", "pending", "22000 0 22000 0 0 0", 0},
		{"a record in conflict with what AWS holds", "conflict", "22000 0 0 0 22000 22000 <- check", 1},
		{"an hour never metered", "", "22000 0 0 0 0 22000 <- check", 1},
	}
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					url := storetest.URL(t, engine)
					f := newReconcileFixture(t, url, month)
					if tc.status != "" {
						f.record(tc.status, 22000)
					}
					stdout, stderr, code := reconcile(t, "reconcile", "--database-url", url, "--data", t.TempDir(),
						"--month", month.Format("2006-01"), "--log-format", "text")
					if code != tc.wantCode {
						t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
					}
					want := fmt.Sprintf("%d %d example-cloud-payg %s %s", f.sub, f.org, month.Format("2006-01"), tc.wantLine)
					lines := strings.Split(stdout, "\n")
					if len(lines) < 2 || !strings.Contains(lines[0], "difference ¢") || strings.Join(strings.Fields(lines[1]), " ") != want {
						t.Fatalf("printed:\n%s\nwant the header, then the line %q", stdout, want)
					}
					switch tc.wantCode {
					case 0:
						if !strings.Contains(stdout, "1 subscription(s) reconciled, no differences.") {
							t.Errorf("no summary line in:\n%s", stdout)
						}
					default:
						if !strings.Contains(stderr, "marketbridge: 1 of 1 subscription(s) differ: see the lines marked check") {
							t.Errorf("stderr does not say what differs:\n%s", stderr)
						}
					}
				})
			}
		})
	}
}

// The demo meters on a marketplace clock that runs ahead of real time:
// reconcile, given no month, reckons on that clock, as far as the metering
// records tell, so that hours metered "in the future" are due, not
// differences (#11: it reported due 0 ¢ against millions accepted).
func TestReconcile_OnTheClockTheDataWasMeteredOn(t *testing.T) {
	now := time.Now().UTC()
	// Two months ahead: neither real time's month nor its hours hold anything.
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 2, 0)
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			url := storetest.URL(t, engine)
			f := newReconcileFixture(t, url, month)
			f.record("accepted", 22000)
			stdout, stderr, code := reconcile(t, "reconcile", "--database-url", url, "--data", t.TempDir(), "--log-format", "text")
			if code != 0 {
				t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			want := fmt.Sprintf("%d %d example-cloud-payg %s 22000 22000 0 0 0 0", f.sub, f.org, month.Format("2006-01"))
			if !strings.Contains(stdout, "ahead of real time") || !strings.Contains(normalizeSpaces(stdout), want) {
				t.Fatalf("printed:\n%s\nwant a note on the clock and the line %q", stdout, want)
			}
		})
	}
}

// normalizeSpaces folds each run of spaces into one, per line.
func normalizeSpaces(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
