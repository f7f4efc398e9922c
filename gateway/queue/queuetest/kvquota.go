package queuetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
)

// KV is the plugin key-value store of a backend.
type KV interface {
	KVGet(ctx context.Context, ns, key string) ([]byte, bool, error)
	KVPut(ctx context.Context, ns, key string, value []byte) error
	KVDelete(ctx context.Context, ns, key string) error
}

// KVFactory returns a new, empty store held to quota. When reopen is
// true it returns the store of the previous call reopened instead (a
// backend that cannot reopen skips that part by returning nil).
type KVFactory func(t *testing.T, quota queue.KVQuota, reopen bool) KV

// KVQuota checks a backend's per-namespace quota: keys and bytes (of keys
// and values) are counted exactly, also under concurrent puts; replacing
// and deleting give room back; a namespace's keys count toward its quota
// after a reopen; namespaces are counted apart; the refusal is a
// *queue.KVQuotaError wrapping queue.ErrKVQuota.
func KVQuota(t *testing.T, newKV KVFactory) {
	c := Context(t)
	s := newKV(t, queue.KVQuota{MaxKeys: 4, MaxBytes: 1000}, false)
	val := func(n int) []byte { return bytes.Repeat([]byte("v"), n) }
	put := func(ns, key string, n int) error { return s.KVPut(c, ns, key, val(n)) }
	mustPut := func(ns, key string, n int) {
		t.Helper()
		if err := put(ns, key, n); err != nil {
			t.Fatalf("put %s/%s (%d bytes): %v", ns, key, n, err)
		}
	}
	wantQuota := func(err error, units string, want, max int64) {
		t.Helper()
		var qe *queue.KVQuotaError
		if !errors.As(err, &qe) || !errors.Is(err, queue.ErrKVQuota) || qe.Units != units || qe.Want != want || qe.Max != max {
			t.Fatalf("got %v, want a quota error: %d %s (max %d)", err, want, units, max)
		}
	}

	// Keys: 4 fit, a fifth does not; replacing one does not add a key.
	for i := range 4 {
		mustPut("a", fmt.Sprint("k", i), 1) // 3 bytes each
	}
	wantQuota(put("a", "k4", 1), "keys", 5, 4)
	mustPut("a", "k0", 2)
	// Bytes: 12 + 1 so far; growing k1 to 989 bytes makes 1000: fits.
	mustPut("a", "k1", 988)
	wantQuota(put("a", "k2", 2), "bytes", 1001, 1000)
	// A refused put leaves the old value.
	if v, ok, err := s.KVGet(c, "a", "k2"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("after a refused put: %q %v %v", v, ok, err)
	}
	// Shrinking and deleting give room back.
	mustPut("a", "k1", 0)
	if err := s.KVDelete(c, "a", "k3"); err != nil {
		t.Fatal(err)
	}
	if err := s.KVDelete(c, "a", "never"); err != nil {
		t.Fatal(err)
	}
	mustPut("a", "k4", 900)
	wantQuota(put("a", "k5", 1), "keys", 5, 4)
	// Other namespaces have their own quota.
	mustPut("b", "k0", 990)

	// Concurrent puts of new keys: exactly the quota's worth succeed.
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := put("c", fmt.Sprint("k", i), 10)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, queue.ErrKVQuota):
				refused.Add(1)
			default:
				t.Errorf("concurrent put: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 4 || refused.Load() != 8 {
		t.Fatalf("concurrent puts: %d stored, %d refused; want 4 and 8", ok.Load(), refused.Load())
	}

	// After a reopen the keys stored still count.
	s = newKV(t, queue.KVQuota{MaxKeys: 4, MaxBytes: 1000}, true)
	if s == nil {
		return
	}
	wantQuota(s.KVPut(c, "a", "k6", nil), "keys", 5, 4)
	wantQuota(s.KVPut(c, "b", "k1", val(10)), "bytes", 1004, 1000)
}
