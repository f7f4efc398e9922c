package natsq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/natsq/natstest"
	"github.com/hookgate/hookgate/gateway/queue/queuetest"
)

func TestKVQuota(t *testing.T) {
	srv := natstest.Start(t)
	n := streamSeq.Add(1)
	opts := Options{Stream: fmt.Sprintf("Q%d", n), Subject: fmt.Sprintf("q%d.deliveries", n)}
	queuetest.KVQuota(t, func(t *testing.T, q queue.KVQuota, reopen bool) queuetest.KV {
		// A second replica on the same stream stands for the reopened
		// store: the usage entries are shared.
		opts.KVQuota = q
		return open(t, srv, opts)
	})
}

// TestKVQuotaCountsOldKeys: a namespace written without usage entries (by
// a hookgate before quotas) is counted from its keys, and a usage entry
// left too high (a replica died between its two writes) is put right by
// the count a refused put triggers.
func TestKVQuotaCountsOldKeys(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s := open(t, natstest.Start(t), Options{KVQuota: queue.KVQuota{MaxKeys: 3, MaxBytes: 1000}, Now: clock})
	c := ctx(t)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.pluginKV.Put(c, pluginKey("old", k), []byte("xx")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.KVPut(c, "old", "d", nil); err == nil {
		t.Fatal("a fourth key passed a quota of 3 over keys stored before quotas")
	}
	if u, err := usageOf(s, "old"); err != nil || u != (queue.KVUsage{Keys: 3, Bytes: 9}) {
		t.Fatalf("usage %+v %v", u, err)
	}
	if err := s.KVDelete(c, "old", "a"); err != nil {
		t.Fatal(err)
	}
	// Leftover of a put that never wrote its value: usage says 3 keys.
	// The refused put above counted the namespace; a minute later it may
	// be counted again.
	now = now.Add(recountEvery)
	if err := s.adjustUsage(c, "old", s.namespace("old"), 1, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.KVPut(c, "old", "d", []byte("x")); err != nil {
		t.Fatalf("put after a recount: %v", err)
	}
	if u, _ := usageOf(s, "old"); u != (queue.KVUsage{Keys: 3, Bytes: 8}) {
		t.Errorf("usage after the recount %+v, want 3 keys, 8 bytes", u)
	}
	// The count is redone at most once a minute: a second leftover stays
	// until then.
	if err := s.adjustUsage(c, "old", s.namespace("old"), 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.KVDelete(c, "old", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.KVPut(c, "old", "e", nil); err == nil {
		t.Error("recounted twice within a minute")
	}
}

// usageOf reads ns's usage entry as stored.
func usageOf(s *Store, ns string) (queue.KVUsage, error) {
	e, err := s.pluginKV.Get(context.Background(), usageKey(ns))
	if err != nil {
		return queue.KVUsage{}, err
	}
	return decodeUsage(e.Value())
}

// TestKVQuotaAcrossReplicas: two replicas putting into one namespace at
// once store exactly the quota's worth, and the usage entry matches the
// keys stored.
func TestKVQuotaAcrossReplicas(t *testing.T) {
	a, b := pair(t, Options{KVQuota: queue.KVQuota{MaxKeys: 20, MaxBytes: 1 << 20}})
	c := ctx(t)
	var stored, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.KVPut(c, "shared", fmt.Sprint("k", i), []byte("value"))
			switch {
			case err == nil:
				stored.Add(1)
			case errors.Is(err, queue.ErrKVQuota):
				refused.Add(1)
			default:
				t.Errorf("put: %v", err)
			}
		}()
	}
	wg.Wait()
	if stored.Load() != 20 || refused.Load() != 20 {
		t.Errorf("%d stored, %d refused; want 20 and 20", stored.Load(), refused.Load())
	}
	counted, err := a.countNamespace(c, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := usageOf(a, "shared"); err != nil || u != counted || counted.Keys != 20 {
		t.Errorf("usage entry %+v (%v), keys stored %+v", u, err, counted)
	}
}
