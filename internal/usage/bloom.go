package usage

// bloom is a blocked Bloom filter over slots: all the bits of one slot lie in
// one 512-bit block, a cache line, so a test costs one memory access however
// large the filter. It answers "certainly absent" or "perhaps present".
//
// With 24 bits a key and 12 bits set per key, about 1 key in 10,000 that was
// never added is reported present by a chain of four filters holding forty
// million keys (measured, BenchmarkHourFilter; TestBloom_NoFalseNegatives-
// AndFewFalsePositives checks a bound). Each such "perhaps" costs a lookup in
// usage_keys and in every run, pages mostly out of the cache: at 16 to 20
// bits a key and 10 bits set, the same chain answered 15 in 10,000, and at
// eighty million keys those lookups took a seventh of the writer's time.
// The bits cost 3 bytes a key: 300 MB for a hundred million keys.
type bloom struct {
	blocks [][8]uint64
	keys   int // keys added
	cap    int // keys it is sized for
	k      int // bits set per key
}

const (
	bloomBitsPerKey = 24
	bloomProbes     = 12 // at most 14: blockBits holds 14 positions
	bloomBlockBytes = 64
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

func (f *bloom) add(h uint64, bits blockBits) {
	w := f.block(h)
	for i := range f.k {
		p := bits.next(i)
		w[p>>6] |= 1 << (p & 63)
	}
	f.keys++
}

// has tests the bits of a key whose block is w.
func (f *bloom) has(w *[8]uint64, bits blockBits) bool {
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
// no hint: 3 MiB. A test asks every filter of the chain, each a memory
// access far from the last, so a chain should stay short: it grows fourfold
// up to quadFilterKeys, twofold after (for memory), and reaches a hundred
// million keys in five filters. (It began at 65,536 keys and doubled: an
// hour that grew to twenty million keys from nothing asked nine filters for
// every key, a fifth of the writer's time.)
const (
	firstFilterKeys = 1 << 20
	quadFilterKeys  = 1 << 24
)

// mayHave asks every filter of the chain, hashing the slot once. Each
// filter's block is a cache and TLB miss; the blocks are all fetched before
// any is tested, so that the misses overlap instead of each waiting for the
// test before it (a test that found a bit clear returns, and its branch is
// what the processor cannot see past).
func (h *hourFilter) mayHave(slot int64) bool {
	hs := mix(slot)
	bits := bitsOf(hs)
	first := bits.next(0)
	var blocks [8]*[8]uint64
	var words [8]uint64 // each block's word of the first bit
	n := min(len(h.chain), len(blocks))
	for i, f := range h.chain[:n] {
		blocks[i] = f.block(hs)
		words[i] = blocks[i][first>>6]
	}
	for i, f := range h.chain[:n] {
		if words[i]&(1<<(first&63)) != 0 && f.has(blocks[i], bits) {
			return true
		}
	}
	for _, f := range h.chain[n:] {
		if f.has(f.block(hs), bits) {
			return true
		}
	}
	return false
}

// touch loads the first word of slot's block in every filter of the chain
// and tests nothing, so that a loop of touches has no branch on what it
// loads and runs ahead, many misses in flight at once. dedup touches a
// window of a round's keys before it tests them.
func (h *hourFilter) touch(slot int64) uint64 {
	hs := mix(slot)
	first := bitsOf(hs).next(0)
	var seen uint64
	for _, f := range h.chain {
		seen ^= f.block(hs)[first>>6]
	}
	return seen
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
		f := newBloom(next, bloomBitsPerKey, bloomProbes)
		h.chain = append(h.chain, f)
		grown = f.bytes()
	}
	hs := mix(slot)
	h.chain[len(h.chain)-1].add(hs, bitsOf(hs))
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
