package local

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/queuetest"
)

func TestRetention(t *testing.T) {
	clock := queuetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{
		Now:    clock.Now,
		Policy: queue.Policy{RetainFor: time.Hour, RetainCount: 3, DedupeWindow: 30 * time.Minute},
	})
	s.sweepChunk = 2 // several transactions per sweep

	delayed := delivery("note") // queued, waiting far in the future
	delayed.Key = "delayed"
	delayed.NotBefore = clock.Now().Add(100 * time.Hour)
	queuedID := mustEnqueue(t, s, delayed)
	runningID := mustEnqueue(t, s, delivery("note"))
	mustClaim(t, s)
	var finals []string
	for i := range 5 {
		d := delivery("push")
		d.Key = fmt.Sprint("k", i)
		id := mustEnqueue(t, s, d)
		mustClaim(t, s)
		clock.Advance(time.Minute)
		status := []queue.Status{queue.StatusDone, queue.StatusFailed, queue.StatusDead}[i%3]
		if err := s.Finish(ctx(t), id, queue.Report{Status: status}); err != nil {
			t.Fatal(err)
		}
		finals = append(finals, id)
	}

	steps := []struct {
		name    string
		advance time.Duration
		swept   Swept
		left    []string // newest first
	}{
		{"count limit", 0, Swept{Deliveries: 2},
			[]string{finals[4], finals[3], finals[2], runningID, queuedID}},
		{"nothing more", 20 * time.Minute, Swept{},
			[]string{finals[4], finals[3], finals[2], runningID, queuedID}},
		{"age limit and keys", 2 * time.Hour, Swept{Deliveries: 3, Keys: 6},
			[]string{runningID, queuedID}},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		swept, err := s.Sweep(ctx(t))
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if swept != st.swept {
			t.Errorf("%s: swept %+v, want %+v", st.name, swept, st.swept)
		}
		all, err := s.List(ctx(t), queue.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(all); !slices.Equal(got, st.left) {
			t.Errorf("%s: left %v, want %v", st.name, got, st.left)
		}
	}
	if _, err := s.Get(ctx(t), finals[0]); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("swept delivery: %v, want ErrNotFound", err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDedupeAt, bucketFinal, bucketEnvelopes} {
			n := tx.Bucket(b).Stats().KeyN
			want := map[string]int{"envelopes": 2}[string(b)]
			if n != want {
				t.Errorf("bucket %s holds %d keys, want %d", b, n, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := keyIndexLen(t, s); n != 0 {
		t.Errorf("key index holds %d keys after the sweep, want 0", n)
	}
	// The queued delivery is still claimable once due.
	clock.Advance(100 * time.Hour)
	if d := mustClaim(t, s); d.ID != queuedID {
		t.Errorf("claimed %s, want %s", d.ID, queuedID)
	}
}

func ids(ds []*queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func TestJanitor(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{Policy: queue.Policy{SweepInterval: 5 * time.Millisecond, RetainCount: 1}})
	var last string
	for range 3 {
		last = mustEnqueue(t, s, delivery("note"))
		mustClaim(t, s)
		if err := s.Finish(ctx(t), last, queue.Report{Status: queue.StatusDone}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, err := s.List(ctx(t), queue.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 1 && all[0].ID == last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %v, want only %s", ids(all), last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A count limit that takes several transactions to apply: each goes on
// from the previous one's count (the final index is walked once per sweep).
func TestRetentionCountOverSeveralTransactions(t *testing.T) {
	clock := queuetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{
		Now:    clock.Now,
		Policy: queue.Policy{RetainFor: -1, RetainCount: 2},
	})
	s.sweepChunk = 2
	var finals []string
	for range 9 {
		id := mustEnqueue(t, s, delivery("push"))
		mustClaim(t, s)
		clock.Advance(time.Minute)
		if err := s.Finish(ctx(t), id, queue.Report{Status: queue.StatusDone}); err != nil {
			t.Fatal(err)
		}
		finals = append(finals, id)
	}
	before := s.Stats().Commits
	swept, err := s.Sweep(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if swept.Deliveries != 7 {
		t.Errorf("swept %d deliveries, want 7", swept.Deliveries)
	}
	if n := s.Stats().Commits - before; n < 4 {
		t.Errorf("the sweep took %d transactions, want at least 4 (2 deletions each)", n)
	}
	all, err := s.List(ctx(t), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(all), []string{finals[8], finals[7]}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	if swept, err := s.Sweep(ctx(t)); err != nil || swept != (Swept{}) {
		t.Errorf("second sweep = %+v, %v; want nothing", swept, err)
	}
}

// The janitor's sweep rests after each transaction but the last, for a
// multiple of the time it took; a rest that says stop (the store closing)
// ends the sweep with what it deleted so far.
func TestSweepRests(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{Policy: queue.Policy{RetainFor: -1, RetainCount: 1}})
	s.sweepChunk = 2
	for range 7 {
		id := mustEnqueue(t, s, delivery("push"))
		mustClaim(t, s)
		if err := s.Finish(ctx(t), id, queue.Report{Status: queue.StatusDone}); err != nil {
			t.Fatal(err)
		}
	}
	var rests []time.Duration
	swept, err := s.sweep(ctx(t), func(took time.Duration) bool {
		rests = append(rests, took)
		return len(rests) < 2
	})
	if err != nil {
		t.Fatal(err)
	}
	// 6 to delete, 2 a transaction: stopped after the second rest.
	if swept.Deliveries != 4 || len(rests) != 2 || rests[0] <= 0 || rests[1] <= 0 {
		t.Errorf("swept %d, rests %v; want 4 deleted and two rests", swept.Deliveries, rests)
	}
	rests = nil
	swept, err = s.sweep(ctx(t), func(took time.Duration) bool { rests = append(rests, took); return true })
	if err != nil || swept.Deliveries != 2 || len(rests) != 0 {
		t.Errorf("rest of the sweep: %+v, %v, rests %v (none after the last transaction)", swept, err, rests)
	}

	start := time.Now()
	if !s.restAfterSweep(time.Millisecond) {
		t.Error("rest on an open store said stop")
	}
	if d := time.Since(start); d < sweepPace*time.Millisecond {
		t.Errorf("rested %v, want at least %v", d, sweepPace*time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.restAfterSweep(time.Hour) {
		t.Error("rest on a closed store went on")
	}
}

// The count of final deliveries retention reads follows finishes,
// replays, deletions and a reopen, as the final index does.
func TestFinalCountFollowsTheIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{Policy: queue.Policy{RetainCount: 3}})
	indexed := func(s *Store) int64 {
		t.Helper()
		var n int
		if err := s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketFinal).Stats().KeyN; return nil }); err != nil {
			t.Fatal(err)
		}
		return int64(n)
	}
	check := func(s *Store, want int64, when string) {
		t.Helper()
		if got, idx := s.finals.Load(), indexed(s); got != want || idx != want {
			t.Errorf("%s: counted %d final deliveries, the index holds %d; want %d", when, got, idx, want)
		}
	}
	var ids []string
	for range 5 {
		ids = append(ids, mustEnqueue(t, s, delivery("note")))
	}
	for range 5 {
		d := mustClaim(t, s)
		if err := s.Finish(ctx(t), d.ID, queue.Report{Status: queue.StatusDone}); err != nil {
			t.Fatal(err)
		}
	}
	check(s, 5, "after 5 finishes")
	if err := s.Requeue(ctx(t), ids[4], ""); err != nil {
		t.Fatal(err)
	}
	check(s, 4, "after a replay")
	if sw, err := s.Sweep(ctx(t)); err != nil || sw.Deliveries != 1 {
		t.Fatalf("sweep: %+v, %v", sw, err)
	}
	check(s, 3, "after the sweep")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, path, Options{Policy: queue.Policy{RetainCount: 3}}), 3, "after a reopen")
}
