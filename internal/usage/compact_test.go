package usage

import (
	"cmp"
	"context"
	"database/sql"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// TestRunIndex_CompactionKeepsEveryKeyOnce writes random runs (blocks of 1
// to 60 keys, keys of five hours, some dense, some sparse), then moves the
// hot window forward in jumps of one or two hours and compacts step by step,
// with steps of one block a run up to whole runs. After every step each key
// is exactly once in usage_keys or a run, with its chk; a run's blocks are
// sorted, disjoint and carry their first and last slots; and a lookup finds
// exactly the keys in runs. After the last step no block begins below the
// window.
func TestRunIndex_CompactionKeepsEveryKeyOnce(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		db := storetest.Open(t, "sqlite")
		ctx := context.Background()
		x := newRunIndex(1000, slog.New(slog.DiscardHandler), nil)
		x.moveKeys = 1 + rng.IntN(3000)
		base := int64(60_000)
		all := map[int64]int64{}
		for r := 1; r <= 1+rng.IntN(6); r++ {
			var ks []key
			for range 1 + rng.IntN(800) {
				var s int64
				for {
					s = (base+rng.Int64N(5))<<slotHashBits | rng.Int64N(1<<rng.IntN(40)+1)
					if _, taken := all[s]; !taken {
						break
					}
				}
				all[s] = rng.Int64()
				ks = append(ks, key{s, all[s]})
			}
			sortBySlot(ks)
			step := 1 + rng.IntN(200)
			for lo := 0; lo < len(ks); lo += step {
				if err := db.InTx(ctx, func(tx *sql.Tx) error {
					return insertBlocks(ctx, nil, tx, int64(r), ks[lo:min(lo+step, len(ks))])
				}); err != nil {
					t.Fatal(err)
				}
			}
			x.runs = append(x.runs, int64(r))
		}
		x.ready = true
		for hot := base + 1; hot <= base+6; hot += int64(1 + rng.IntN(2)) {
			x.hotFrom, x.compacting = hot, true
			for steps := 0; ; steps++ {
				if steps > 100_000 {
					t.Fatalf("seed %d: compaction does not end", seed)
				}
				var more bool
				if err := db.InTx(ctx, func(tx *sql.Tx) error {
					var err error
					_, more, err = x.compact(ctx, tx)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				checkEveryKeyOnce(t, db, x, all)
				if !more {
					break
				}
			}
			var below int
			if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_key_blocks WHERE first_slot < ?`, hot<<slotHashBits).Scan(&below); err != nil || below != 0 {
				t.Fatalf("seed %d: %d blocks begin below the hot window (%v)", seed, below, err)
			}
		}
	}
}

func checkEveryKeyOnce(t *testing.T, db *store.DB, x *runIndex, all map[int64]int64) {
	t.Helper()
	got := usageKeys(t, db)
	rows, err := db.Read().Query(`SELECT run, first_slot, last_slot, keys FROM usage_key_blocks ORDER BY run, first_slot`)
	if err != nil {
		t.Fatal(err)
	}
	lastRun, lastSlot, inRuns := int64(-1), int64(-1), 0
	for rows.Next() {
		var r, first, last int64
		var b []byte
		if err := rows.Scan(&r, &first, &last, &b); err != nil {
			t.Fatal(err)
		}
		ks, err := decodeBlock(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if ks[0].slot != first || ks[len(ks)-1].slot != last || !slices.IsSortedFunc(ks, func(a, b key) int { return cmp.Compare(a.slot, b.slot) }) {
			t.Fatalf("run %d: a block from %d to %d holds %v", r, first, last, ks)
		}
		if r == lastRun && first <= lastSlot {
			t.Fatalf("run %d: blocks overlap at %d", r, first)
		}
		lastRun, lastSlot = r, last
		for _, k := range ks {
			if _, twice := got[k.slot]; twice {
				t.Fatalf("key %d is in two places", k.slot)
			}
			got[k.slot] = k.chk
			inRuns++
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("%d keys stored, want %d", len(got), len(all))
	}
	for s, c := range all {
		if got[s] != c {
			t.Fatalf("key %d: chk %d, want %d", s, got[s], c)
		}
	}
	var items []*item
	for s := range all {
		items = append(items, &item{key: key{slot: s}}, &item{key: key{slot: s + 1}})
	}
	found := map[int64]int64{}
	if err := db.InTx(context.Background(), func(tx *sql.Tx) error { return x.blockChecks(context.Background(), tx, items, x.runs, found) }); err != nil {
		t.Fatal(err)
	}
	for s, c := range found {
		if all[s] != c {
			t.Fatalf("lookup: chk %d at %d, want %d", c, s, all[s])
		}
	}
	if len(found) != inRuns {
		t.Fatalf("lookup found %d keys, want the %d in runs", len(found), inRuns)
	}
}
