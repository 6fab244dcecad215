package usage

// bloom is a blocked Bloom filter over slots: all the bits of one slot lie in
// one 512-bit block, a cache line, so a test costs one memory access however
// large the filter. It answers "certainly absent" or "perhaps present".
//
// With 16 bits a key and 10 bits set per key, about 2 keys in 1,000 that
// were never added are reported present by a full filter (measured). Each costs a lookup in usage_keys and in
// every run, pages mostly out of the cache: with 12 bits and 8 probes (1 in
// 250) those lookups took a tenth of the writer's time once an hour held
// thirty million keys in sixty runs.
type bloom struct {
	blocks [][8]uint64
	mask   uint64 // len(blocks)-1; the count is a power of two
	keys   int    // keys added
	cap    int    // keys it is sized for
}

const (
	bloomBitsPerKey = 16
	bloomProbes     = 10
	bloomBlockBytes = 64
)

func newBloom(capacity int) *bloom {
	n := 1
	for n*512 < capacity*bloomBitsPerKey {
		n <<= 1
	}
	return &bloom{blocks: make([][8]uint64, n), mask: uint64(n - 1), cap: capacity}
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

// probes returns the block of h and the two halves that place its bits: bit
// i is at (a + i*b) mod 512, with b odd so that the ten differ.
func probes(h uint64) (block uint64, a, b uint32) {
	return h >> 32, uint32(h) & 511, (uint32(h)>>9)&511 | 1
}

func (f *bloom) add(slot int64) {
	blk, a, b := probes(mix(slot))
	w := &f.blocks[blk&f.mask]
	for range bloomProbes {
		w[a>>6] |= 1 << (a & 63)
		a = (a + b) & 511
	}
	f.keys++
}

func (f *bloom) mayHave(slot int64) bool {
	blk, a, b := probes(mix(slot))
	w := &f.blocks[blk&f.mask]
	for range bloomProbes {
		if w[a>>6]&(1<<(a&63)) == 0 {
			return false
		}
		a = (a + b) & 511
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

// firstFilterKeys sizes an hour's first filter: 96 KiB.
const firstFilterKeys = 1 << 16

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
		if len(h.chain) > 0 {
			next = h.chain[len(h.chain)-1].cap << 1
		}
		f := newBloom(next)
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
