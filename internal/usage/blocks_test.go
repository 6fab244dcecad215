package usage

import (
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
