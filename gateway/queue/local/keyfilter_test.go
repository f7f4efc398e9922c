package local

import (
	"fmt"
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
