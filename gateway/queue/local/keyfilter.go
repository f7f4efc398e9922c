package local

import (
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
)

// keyFilter is an in-memory Bloom filter over every key written to the key
// index since Open (and every key the index held then), so that a lookup
// of a key never seen, which is nearly every lookup (GitLab sends a new
// random UUID per delivery), is answered without touching Pebble: a
// Pebble Get of a missing key walks the memtable's skiplist and the
// levels' filters, 5-6 us of the log writer's time per delivery.
//
// A key is added before the index write that stores it, so a key the
// index may hold always passes the filter; a key that passes is looked up
// in the index as before (false positives cost one Get). Keys dropped
// from the index stay in the filter until the next Open: more false
// positives, never a wrong answer. The filter grows as a chain of filters,
// each twice the size of the one before, so it needs no sizing up front
// and no rebuild: about 1.2 bytes per key.
type keyFilter struct {
	mu      sync.RWMutex
	filters []*bloom.BloomFilter
	size    uint // keys the last filter was made for
	room    uint // keys it takes before the next one starts
}

const (
	keyFilterFirst = 1 << 16 // keys of the first filter
	keyFilterFP    = 0.005   // false-positive rate of each filter
)

func newKeyFilter(expect uint) *keyFilter {
	f := &keyFilter{}
	f.grow(max(2*expect, keyFilterFirst))
	return f
}

func (f *keyFilter) grow(n uint) {
	f.filters = append(f.filters, bloom.NewWithEstimates(n, keyFilterFP))
	f.size, f.room = n, n
}

// add records key; it must be called before key is written to the index.
func (f *keyFilter) add(key []byte) {
	f.mu.Lock()
	if f.room == 0 {
		f.grow(2 * f.size)
	}
	f.filters[len(f.filters)-1].Add(key)
	f.room--
	f.mu.Unlock()
}

// mayHold reports whether key may be in the index; false is certain.
func (f *keyFilter) mayHold(key []byte) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, b := range f.filters {
		if b.Test(key) {
			return true
		}
	}
	return false
}
