package usage

// bloom is a blocked Bloom filter over slots: all the bits of one slot lie in
// one 512-bit block, a cache line, so a test costs one memory access however
// large the filter. It answers "certainly absent" or "perhaps present".
//
// With 16 bits a key and 10 bits set per key, about 9 keys in 10,000 that
// were never added are reported present by a full filter; with 20 bits, 2 in
// 10,000 (measured, TestBloom_NoFalseNegativesAndFewFalsePositives). Each
// costs a lookup in usage_keys, in every run and in the log's keys, pages
// mostly out of the cache: with 2 in 1,000 those lookups took a third of the
// writer's time once an hour held eighteen million keys in thirty-five runs.
type bloom struct {
	blocks [][8]uint64
	keys   int // keys added
	cap    int // keys it is sized for
	k      int // bits set per key
}

const (
	bloomBitsPerKey    = 16 // of an hour's first filter
	bloomMaxBitsPerKey = 20 // of its fourth and later
	bloomProbes        = 10
	bloomBlockBytes    = 64
)

func newBloom(capacity, bitsPerKey, probes int) *bloom {
	n := max(1, (capacity*bitsPerKey+511)/512)
	return &bloom{blocks: make([][8]uint64, n), cap: capacity, k: probes}
}

// block is the block of h among n: the top 32 bits of h scaled to n (a
// multiply, not a modulo, so that n need not be a power of two).
func (f *bloom) block(h uint64) *[8]uint64 {
	return &f.blocks[(h>>32)*uint64(len(f.blocks))>>32]
}

// mix spreads a slot over 64 bits. A slot's low 43 bits are already a hash,
// but its high bits (the hour) are shared by every key of an hour.
func mix(slot int64) uint64 {
	x := uint64(slot)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// blockBits places a key's bits in its block: nine bits of a hash for each,
// from two more mixes of h, independent of the bits that chose the block.
// (Placing them as a + i*b from eighteen bits of h, as before, allowed only
// 131,072 patterns in a block: keys sharing one made a floor of false
// positives no size removed.)
type blockBits [2]uint64

func bitsOf(h uint64) blockBits {
	return blockBits{mix(int64(h ^ 0x9e3779b97f4a7c15)), mix(int64(h ^ 0x632be59bd9b4e019))}
}

// next is the position of bit i, for i < 14.
func (b blockBits) next(i int) uint64 { return b[i/7] >> (9 * (i % 7)) & 511 }

func (f *bloom) add(slot int64) {
	h := mix(slot)
	w := f.block(h)
	bits := bitsOf(h)
	for i := range f.k {
		p := bits.next(i)
		w[p>>6] |= 1 << (p & 63)
	}
	f.keys++
}

func (f *bloom) mayHave(slot int64) bool {
	h := mix(slot)
	w := f.block(h)
	bits := bitsOf(h)
	for i := range f.k {
		p := bits.next(i)
		if w[p>>6]&(1<<(p&63)) == 0 {
			return false
		}
	}
	return true
}

func (f *bloom) full() bool { return f.keys >= f.cap }

func (f *bloom) bytes() int { return len(f.blocks) * bloomBlockBytes }

// hourFilter covers every key of one hour. The hour's key count is not known
// ahead, so it is a chain of filters each twice the size of the last (a
// scalable Bloom filter): a test asks each, an add goes to the newest. The
// first is sized like the hour before it (hint), since hours of one service
// look alike: most hours then need one filter, and a test one memory access.
type hourFilter struct {
	chain []*bloom
	hint  int
}

// firstFilterKeys sizes an hour's first filter when the hours before give
// no hint: 2 MiB. A test asks every filter of the chain, each a memory
// access far from the last, so a chain should stay short: it grows fourfold
// up to quadFilterKeys, twofold after (for memory), and reaches a hundred
// million keys in five filters. (It began at 65,536 keys and doubled: an
// hour that grew to twenty million keys from nothing asked nine filters for
// every key, a fifth of the writer's time.)
const (
	firstFilterKeys = 1 << 20
	quadFilterKeys  = 1 << 24
)

func (h *hourFilter) mayHave(slot int64) bool {
	for _, f := range h.chain {
		if f.mayHave(slot) {
			return true
		}
	}
	return false
}

// add records slot and returns how many bytes the filter grew by.
func (h *hourFilter) add(slot int64) int {
	grown := 0
	if len(h.chain) == 0 || h.chain[len(h.chain)-1].full() {
		next := max(firstFilterKeys, h.hint)
		if n := len(h.chain); n > 0 {
			last := h.chain[n-1].cap
			next = last << 1
			if last < quadFilterKeys {
				next = last << 2
			}
		}
		// Each filter of the chain answers "perhaps" for its own share of
		// absent keys, and a test asks them all: later filters take more
		// bits a key, so that a long chain (an hour that grew far past
		// the one before) stays near one filter's rate.
		bits := min(bloomBitsPerKey+2*len(h.chain), bloomMaxBitsPerKey)
		f := newBloom(next, bits, bloomProbes)
		h.chain = append(h.chain, f)
		grown = f.bytes()
	}
	h.chain[len(h.chain)-1].add(slot)
	return grown
}

func (h *hourFilter) keys() int {
	n := 0
	for _, f := range h.chain {
		n += f.keys
	}
	return n
}

func (h *hourFilter) bytes() int {
	n := 0
	for _, f := range h.chain {
		n += f.bytes()
	}
	return n
}
