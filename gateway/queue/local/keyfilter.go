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
// in the index as before (false positives cost one Get). The filter
// grows as a chain of filters, each twice the size of the one before, so
// it needs no sizing up front: about 1.4 bytes per key.
//
// Keys dropped from the index (the dedupe window's end) stay in the
// filter: more false positives, never a wrong answer. So that a gateway
// running for months does not keep every key it ever saw, the key index
// replaces the filter once half the keys added to it are gone
// (keyIndex.refreshFilter): a new filter is built from the index while
// every key added meanwhile goes to both (next), then swapped in.
type keyFilter struct {
	mu      sync.RWMutex
	filters []*bloom.BloomFilter
	size    uint // keys the last filter was made for
	room    uint // keys it takes before the next one starts
	added   uint // keys added since the filter was made
	// next, while a replacement is being built, receives every key added.
	next *keyFilter
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
	f.added++
	if f.next != nil {
		f.next.add(key)
	}
	f.mu.Unlock()
}

// keys returns how many keys were added since the filter was made.
func (f *keyFilter) keys() uint {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.added
}

// bytes returns the memory the filter's bits take.
func (f *keyFilter) bytes() uint {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := uint(0)
	for _, b := range f.filters {
		n += b.Cap() / 8
	}
	return n
}

// setNext makes every key added from now on go to next as well (nil:
// stop).
func (f *keyFilter) setNext(next *keyFilter) {
	f.mu.Lock()
	f.next = next
	f.mu.Unlock()
}

// replace takes over the filters of next, which setNext installed; next
// is not used afterwards.
func (f *keyFilter) replace(next *keyFilter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next.mu.Lock()
	defer next.mu.Unlock()
	f.filters, f.size, f.room, f.added = next.filters, next.size, next.room, next.added
	f.next = nil
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
