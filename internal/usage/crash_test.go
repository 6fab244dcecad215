package usage_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// crashChildEnv makes the test binary act as an ingesting process that the
// crash test kills; it names the database URL.
const crashChildEnv = "MARKETBRIDGE_USAGE_CRASH_CHILD"

// TestIngest_AcknowledgedEventsSurviveKill9 runs ingest in a child process,
// kills it with SIGKILL while requests are in flight, and checks the
// database: every acknowledged event is there, tables agree with each other,
// and resending everything stores each event exactly once.
func TestIngest_AcknowledgedEventsSurviveKill9(t *testing.T) {
	if url := os.Getenv(crashChildEnv); url != "" {
		crashChild(t, url)
		return
	}
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			url := storetest.URL(t, engine)
			db := storetest.OpenURL(t, url) // migrate before the child starts
			db.Close()

			cmd := exec.Command(os.Args[0], "-test.run", "^TestIngest_AcknowledgedEventsSurviveKill9$", "-test.v")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+url)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]bool{}
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
					for _, one := range strings.Split(id, ",") {
						acked[one] = true
					}
				}
				if len(acked) >= 3000 {
					break
				}
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if len(acked) < 3000 {
				t.Fatalf("the child acknowledged only %d events before ending", len(acked))
			}

			db = storetest.OpenURL(t, url)
			defer db.Close()
			stored := map[string]bool{}
			rows, err := db.Read().Query(`SELECT event_id FROM usage_events`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				if stored[id] {
					t.Errorf("event %s stored twice", id)
				}
				stored[id] = true
			}
			rows.Close()
			for id := range acked {
				if !stored[id] {
					t.Errorf("acknowledged event %s was lost", id)
				}
			}
			if got := storedTotals(t, db, 1); got.Keys != got.Events || got.HourlyEvents != got.Events || got.HourlyQuantity != got.Quantity {
				t.Errorf("tables disagree after the crash: %+v", got)
			}
			// Resending everything the child may have sent stores the rest.
			ing := startIngester(t, db, nil)
			var res usage.Result
			for lo := 0; lo < crashEvents; lo += 1000 {
				r, err := ing.Ingest(context.Background(), 1, batch(t, crashBatch(lo, 1000)...))
				if err != nil {
					t.Fatal(err)
				}
				res.Accepted += r.Accepted
				res.Duplicates += r.Duplicates
			}
			if res.Duplicates != len(stored) || res.Accepted+res.Duplicates != crashEvents {
				t.Errorf("resend: %+v; want %d duplicates of %d", res, len(stored), crashEvents)
			}
		})
	}
}

const crashEvents = 100_000

func crashBatch(lo, n int) []map[string]any {
	out := make([]map[string]any, 0, n)
	for i := lo; i < lo+n && i < crashEvents; i++ {
		out = append(out, ev(fmt.Sprintf("crash-%d", i), nil))
	}
	return out
}

// crashChild ingests crashEvents events from 8 goroutines in batches of 50,
// printing each acknowledged batch, until it is killed.
func crashChild(t *testing.T, url string) {
	db := storetest.OpenURL(t, url)
	ing := startIngester(t, db, nil)
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Minute)
	for w := range 8 {
		wg.Go(func() {
			for lo := w * 50; lo < crashEvents && time.Now().Before(deadline); lo += 8 * 50 {
				evs := crashBatch(lo, 50)
				if _, err := ing.Ingest(context.Background(), 1, batch(t, evs...)); err != nil {
					continue
				}
				ids := make([]string, len(evs))
				for i, e := range evs {
					ids[i] = e["id"].(string)
				}
				mu.Lock()
				fmt.Printf("ACK %s\n", strings.Join(ids, ","))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
