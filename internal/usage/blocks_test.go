package usage

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBlock_RoundTripAndFind(t *testing.T) {
	keys := []key{{slot: 10, chk: -1}, {slot: 20, chk: 1 << 62}, {slot: 30, chk: 0}, {slot: 1<<62 + 5, chk: 7}}
	b := encodeBlock(keys)
	if len(b) != len(keys)*blockKeyBytes {
		t.Fatalf("%d bytes for %d keys", len(b), len(keys))
	}
	back, err := decodeBlock(nil, b)
	if err != nil || !slices.Equal(back, keys) {
		t.Fatalf("decodeBlock = %v, %v; want %v", back, err, keys)
	}
	for _, tc := range []struct {
		slot  int64
		chk   int64
		found bool
	}{
		{10, -1, true}, // first
		{20, 1 << 62, true},
		{30, 0, true},
		{1<<62 + 5, 7, true},  // last
		{9, 0, false},         // below
		{25, 0, false},        // between
		{1<<62 + 6, 0, false}, // above
	} {
		chk, ok := blockFind(b, tc.slot)
		if ok != tc.found || chk != tc.chk {
			t.Errorf("blockFind(%d) = %d, %v; want %d, %v", tc.slot, chk, ok, tc.chk, tc.found)
		}
	}
	if _, ok := blockFind(nil, 10); ok {
		t.Error("blockFind found a slot in no block (a NULL from the lookup)")
	}
	for _, bad := range [][]byte{nil, {}, make([]byte, 15), make([]byte, 17)} {
		if _, err := decodeBlock(nil, bad); err == nil {
			t.Errorf("decodeBlock accepted a block of %d bytes", len(bad))
		}
	}
}

func TestSortBySlot(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	hour := int64(60_000) << slotHashBits
	for _, tc := range []struct {
		name string
		n    int
		slot func() int64
	}{
		{"few keys", 100, func() int64 { return hour | rng.Int64N(slotHashMask+1) }},
		{"one hour", 100_000, func() int64 { return hour | rng.Int64N(slotHashMask+1) }},
		{"three hours", 100_000, func() int64 { return hour + rng.Int64N(3)<<slotHashBits | rng.Int64N(slotHashMask+1) }},
		{"every bit", 100_000, func() int64 { return rng.Int64() }},
		{"small slots", 100_000, func() int64 { return rng.Int64N(1 << 20) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := make([]key, tc.n)
			for i := range keys {
				keys[i] = key{slot: tc.slot(), chk: int64(i)}
			}
			want := slices.Clone(keys)
			slices.SortStableFunc(want, func(a, b key) int { return cmp.Compare(a.slot, b.slot) })
			sortBySlot(keys)
			if !slices.Equal(keys, want) {
				t.Error("sortBySlot's order differs from slices.SortStableFunc's")
			}
		})
	}
}

// BenchmarkSortBySlot sorts a run's keys, as flushStep does.
// go test -run '^$' -bench SortBySlot ./internal/usage
func BenchmarkSortBySlot(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	hour := int64(60_000) << slotHashBits
	keys := make([]key, defaultRunKeys)
	for i := range keys {
		keys[i] = key{slot: hour | rng.Int64N(slotHashMask+1), chk: int64(i)}
	}
	work := make([]key, len(keys))
	for _, bc := range []struct {
		name string
		sort func([]key)
	}{
		{"radix", sortBySlot},
		{"slices.SortFunc", func(k []key) { slices.SortFunc(k, func(a, b key) int { return cmp.Compare(a.slot, b.slot) }) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				copy(work, keys)
				bc.sort(work)
			}
		})
	}
}
