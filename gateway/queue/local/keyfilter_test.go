package local

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

// Every key added passes the filter, across the chain's growth; keys
// never added mostly do not.
func TestKeyFilterHasNoFalseNegatives(t *testing.T) {
	f := newKeyFilter(0)
	const n = 5 * keyFilterFirst // the chain grows to 3 filters
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(uuid.NewString())
		f.add(keys[i])
	}
	if len(f.filters) < 3 {
		t.Errorf("%d filters after %d keys, want the chain to have grown", len(f.filters), n)
	}
	for _, k := range keys {
		if !f.mayHold(k) {
			t.Fatalf("key %s added but not held", k)
		}
	}
	false_ := 0
	const probes = 100000
	for range probes {
		if f.mayHold([]byte(uuid.NewString())) {
			false_++
		}
	}
	// Each filter of the chain errs at keyFilterFP: with 3, at most ~1.5%.
	if rate := float64(false_) / probes; rate > 3*keyFilterFP*1.5 {
		t.Errorf("false positives %.2f%%, want about %.1f%% at most", 100*rate, 300*keyFilterFP)
	}
}

// The filter is sized from the keys the index holds at Open.
func TestKeyFilterSizedAtOpen(t *testing.T) {
	f := newKeyFilter(3 * keyFilterFirst)
	if f.size != 6*keyFilterFirst || len(f.filters) != 1 {
		t.Errorf("filter for %d keys: %d filters, the last for %d", 3*keyFilterFirst, len(f.filters), f.size)
	}
}

// A reopened store (its key index intact, so the filter is loaded from
// it) still finds every key, in bbolt and in the ingest log alike.
func TestKeysDedupeAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	ids := map[string]string{}
	for i := range 40 {
		key := fmt.Sprintf("%s-%d", uuid.NewString(), i)
		ids[key] = mustEnqueue(t, s, keyed(key))
		if i == 20 {
			settled(t, s)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, Options{})
	defer s.Close()
	for key, id := range ids {
		if !s.keys.filter.mayHold([]byte(key)) {
			t.Errorf("key %s not in the filter after reopen", key)
		}
		mustDuplicate(t, s, key, id)
	}
}

// newFilteredIndex opens a key index in a temporary directory with an
// empty filter, as Open leaves it.
func newFilteredIndex(t *testing.T) *keyIndex {
	t.Helper()
	x, err := openKeyIndex(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	x.filter = newKeyFilter(0)
	t.Cleanup(func() { _ = x.close() })
	return x
}

// writeKeys sets (or, with del, drops) keys in the index.
func writeKeys(t *testing.T, x *keyIndex, keys []string, del bool) {
	t.Helper()
	m := make(map[string]keyEntry, len(keys))
	for i, k := range keys {
		m[k] = keyEntry{at: uint64(i + 1), del: del}
	}
	if err := x.write(m); err != nil {
		t.Fatal(err)
	}
}

func newKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = uuid.NewString()
	}
	return keys
}

// Once half the keys added to the filter are dropped from the index, a
// filter built from the index replaces it: smaller, without most of the
// dropped keys, and holding every key the index holds, those written
// while it was being built included.
func TestKeyFilterRebuiltWithoutDroppedKeys(t *testing.T) {
	x := newFilteredIndex(t)
	keys := newKeys(4 * keyFilterFirst)
	writeKeys(t, x, keys, false)
	before := x.filter.bytes()
	var during []string
	x.afterSnapshot = func() { // not in the snapshot the rebuild reads
		during = newKeys(1000)
		writeKeys(t, x, during, false)
	}

	dropped, kept := keys[:3*keyFilterFirst], keys[3*keyFilterFirst:]
	writeKeys(t, x, dropped[:keyFilterFirst], true) // a quarter: not yet
	if x.refreshing.Load() {
		t.Fatal("filter rebuilt with a quarter of its keys dropped")
	}
	writeKeys(t, x, dropped[keyFilterFirst:], true)
	if !x.refreshing.Load() {
		t.Fatal("filter not being rebuilt with three quarters of its keys dropped")
	}
	x.refreshed.Wait()

	if len(during) == 0 {
		t.Fatal("the rebuild never took its snapshot")
	}
	for _, k := range append(kept, during...) {
		if !x.filter.mayHold([]byte(k)) {
			t.Fatalf("key %s is in the index but not in the rebuilt filter", k)
		}
	}
	if got, want := x.filter.keys(), uint(len(kept)+len(during)); got != want {
		t.Errorf("rebuilt filter has %d keys, want %d", got, want)
	}
	if after := x.filter.bytes(); after >= before {
		t.Errorf("filter %d bytes after the rebuild, %d before", after, before)
	}
	if d := x.deleted.Load(); d != 0 {
		t.Errorf("%d keys counted as dropped after the rebuild, want 0", d)
	}
	held := 0
	for _, k := range dropped {
		if x.filter.mayHold([]byte(k)) {
			held++
		}
	}
	if held > len(dropped)/50 {
		t.Errorf("%d of %d dropped keys still pass the filter", held, len(dropped))
	}
}

// A rebuild that the store's closing interrupts keeps the old filter.
func TestKeyFilterRebuildStopsAtClose(t *testing.T) {
	x := newFilteredIndex(t)
	keys := newKeys(3 * keyFilterFirst)
	writeKeys(t, x, keys, false)
	x.afterSnapshot = func() { x.stopOnce.Do(func() { close(x.stop) }) }
	writeKeys(t, x, keys[:2*keyFilterFirst], true)
	x.refreshed.Wait()
	if got := x.filter.keys(); got != uint(len(keys)) {
		t.Errorf("filter has %d keys after an interrupted rebuild, want the old filter's %d", got, len(keys))
	}
	if x.filter.next != nil {
		t.Error("keys still go to the abandoned filter")
	}
	for _, k := range keys {
		if !x.filter.mayHold([]byte(k)) {
			t.Fatalf("key %s lost by an interrupted rebuild", k)
		}
	}
}
