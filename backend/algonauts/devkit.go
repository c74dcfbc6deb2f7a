package algonauts

import "math"

// DevkitSplit returns the Algonauts 2023 development kit's train/validation split of n training
// images, index for index and in the same order:
//
//	np.random.seed(seed)
//	num_train = int(np.round(n / 100 * 90))
//	idxs = np.arange(n); np.random.shuffle(idxs)
//	idxs_train, idxs_val = idxs[:num_train], idxs[num_train:]
//
// It reproduces numpy's legacy RandomState (MT19937 seeded by init_genrand, and the shuffle's
// bounded draws by masking and rejection), so a model trained here is validated on exactly the
// images the devkit's tutorial (seed 5) holds out. The devkit rounds half to even, as numpy does.
func DevkitSplit(n int, seed uint32) (train, val []int) {
	numTrain := int(math.RoundToEven(float64(n) / 100 * 90))
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	mt := newMT19937(seed)
	for i := n - 1; i >= 1; i-- {
		j := mt.interval(uint32(i))
		idx[i], idx[j] = idx[j], idx[i]
	}
	return idx[:numTrain:numTrain], idx[numTrain:]
}

// mt19937 is the Mersenne Twister as numpy's legacy RandomState runs it.
type mt19937 struct {
	key [624]uint32
	pos int
}

func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{}
	s := seed
	for i := range m.key {
		m.key[i] = s
		s = 1812433253*(s^(s>>30)) + uint32(i) + 1
	}
	m.pos = len(m.key)
	return m
}

func (m *mt19937) next() uint32 {
	const n, mid = 624, 397
	const upper, lower, matrixA = 0x80000000, 0x7fffffff, 0x9908b0df
	if m.pos == n {
		for i := range n {
			y := m.key[i]&upper | m.key[(i+1)%n]&lower
			v := m.key[(i+mid)%n] ^ y>>1
			if y&1 != 0 {
				v ^= matrixA
			}
			m.key[i] = v
		}
		m.pos = 0
	}
	y := m.key[m.pos]
	m.pos++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// interval returns a uniform value in [0, max] as numpy's legacy random_interval does: the
// smallest all-ones mask covering max, and rejection of draws above max.
func (m *mt19937) interval(max uint32) uint32 {
	if max == 0 {
		return 0
	}
	mask := max
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	for {
		if v := m.next() & mask; v <= max {
			return v
		}
	}
}
