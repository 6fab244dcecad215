package usage

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// A run of SQLite's deduplication keys (runs.go) is stored as blocks: rows
// of usage_key_blocks, each up to blockKeys keys of one run in slot order,
// packed in one value. One row a key, as runs were stored before, cost
// three bound parameters and a B-tree entry a key: writing a run was a sixth
// of the writer's time once an hour held forty million keys. A block costs
// that once for blockKeys keys, and a lookup reads the one block whose
// first slot is the highest at or below the slot.
//
// A block's value is its keys, each the slot then the chk as 8 big-endian
// bytes: fixed width, so that a lookup binary-searches it without decoding.
const (
	blockKeyBytes = 16
	// blockKeys keeps a block's row (run, first_slot, last_slot and the
	// value, 960 bytes) inside one page of the table: SQLite moves the
	// part of a WITHOUT ROWID row past about 1,000 bytes (at 4 KiB pages)
	// to overflow pages, another read for each lookup.
	blockKeys = 60
)

// encodeBlock packs keys, which are in slot order.
func encodeBlock(keys []key) []byte {
	b := make([]byte, 0, len(keys)*blockKeyBytes)
	for _, k := range keys {
		b = binary.BigEndian.AppendUint64(b, uint64(k.slot))
		b = binary.BigEndian.AppendUint64(b, uint64(k.chk))
	}
	return b
}

// decodeBlock unpacks a block, appending its keys to dst. The database is
// ours, but a block of another length is corruption, not a key to trust.
func decodeBlock(dst []key, b []byte) ([]key, error) {
	if len(b) == 0 || len(b)%blockKeyBytes != 0 {
		return dst, fmt.Errorf("a usage key block of %d bytes, not a positive multiple of %d", len(b), blockKeyBytes)
	}
	for i := 0; i < len(b); i += blockKeyBytes {
		dst = append(dst, key{slot: int64(binary.BigEndian.Uint64(b[i:])), chk: int64(binary.BigEndian.Uint64(b[i+8:]))})
	}
	return dst, nil
}

// blockFind returns the chk of slot, if the block holds it.
func blockFind(b []byte, slot int64) (int64, bool) {
	lo, hi := 0, len(b)/blockKeyBytes
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		s := int64(binary.BigEndian.Uint64(b[m*blockKeyBytes:]))
		switch cmp.Compare(s, slot) {
		case 0:
			return int64(binary.BigEndian.Uint64(b[m*blockKeyBytes+8:])), true
		case -1:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

const (
	radixBits = 11
	radixMask = 1<<radixBits - 1
)

// sortBySlot sorts keys by slot, for a run. It is a radix sort on 11-bit
// digits, lowest first, that skips a digit every key shares (the hour's high
// bits): four passes over a run of one hour's keys, each scattering into
// 2,048 places, few enough to stay in cache (16-bit digits take fewer passes
// but are slower). slices.SortFunc, with a comparison call for every step,
// took 280 ms for a run of 2,097,152 keys with the writer held; this takes
// 69 ms (BenchmarkSortBySlot). Slots are never negative, so their order is
// that of their bits.
func sortBySlot(keys []key) {
	if len(keys) < 1024 {
		slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(a.slot, b.slot) })
		return
	}
	src, dst := keys, make([]key, len(keys))
	count := make([]int, 1<<radixBits)
	for shift := 0; shift < 64; shift += radixBits {
		clear(count)
		for _, k := range src {
			count[uint64(k.slot)>>shift&radixMask]++
		}
		if count[uint64(src[0].slot)>>shift&radixMask] == len(src) {
			continue // every key has this digit
		}
		at := 0
		for d, n := range count {
			count[d] = at
			at += n
		}
		for _, k := range src {
			d := uint64(k.slot) >> shift & radixMask
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}
