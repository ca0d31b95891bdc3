// Package xorshift is xorshift64*, the generator every benchmark program
// here uses (the C++ ones too), so all of them spend the same on random
// numbers.
package xorshift

// Rng is a xorshift64* generator.
type Rng struct{ s uint64 }

// New returns a generator seeded from seed (any value, 0 included).
func New(seed uint64) *Rng { return &Rng{seed*0x9E3779B97F4A7C15 + 1} }

// Next returns the next 64-bit value.
func (r *Rng) Next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}
