package natsq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/natsq/natstest"
)

// pair opens two stores (two replicas) on one stream.
func pair(t *testing.T, opts Options) (*Store, *Store) {
	t.Helper()
	srv := natstest.Start(t)
	n := streamSeq.Add(1)
	opts.Stream = fmt.Sprintf("P%d", n)
	opts.Subject = fmt.Sprintf("p%d.deliveries", n)
	return open(t, srv, opts), open(t, srv, opts)
}

// crash drops the store's connection without putting anything back, as a
// killed process would.
func crash(s *Store) {
	s.bgCancel()
	s.mu.Lock()
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.disp.close()
	s.nc.Close()
	s.bg.Wait()
}

func mustEnqueue(t *testing.T, s *Store, d *queue.Delivery) queue.Receipt {
	t.Helper()
	rc, err := s.Enqueue(ctx(t), d)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return rc
}

func TestDuplicateAcrossReplicas(t *testing.T) {
	a, b := pair(t, Options{})
	d := delivery("note")
	d.Key = "k1"
	first := mustEnqueue(t, a, d)
	d2 := delivery("note")
	d2.Key = "k1"
	again := mustEnqueue(t, b, d2)
	if !again.Duplicate || again.ID != first.ID {
		t.Fatalf("same key on the other replica = %+v, want duplicate of %s", again, first.ID)
	}
	got := mustClaim(t, b)
	if got.ID != first.ID {
		t.Fatalf("claimed %s, want %s", got.ID, first.ID)
	}
	nothingFor(t, a, 100*time.Millisecond)
}

// TestDuplicateCompletesDeadEnqueue: the first enqueue of a key died after
// taking the key (and, in the second case, after writing its record); the
// duplicate must store the event before answering "duplicate".
func TestDuplicateCompletesDeadEnqueue(t *testing.T) {
	for _, withRecord := range []bool{false, true} {
		t.Run(fmt.Sprintf("record=%v", withRecord), func(t *testing.T) {
			a, b := pair(t, Options{})
			first := "0190-first"
			if _, dup, err := a.takeKey(ctx(t), "k", first); err != nil || dup {
				t.Fatalf("take key: %v %v", dup, err)
			}
			if withRecord {
				r := a.newRecord(withKey(delivery("push"), "k"), first)
				rec, _ := encodeRecord(r)
				if _, err := a.records.Create(ctx(t), token(first), rec); err != nil {
					t.Fatal(err)
				}
			}
			d := delivery("note")
			d.Key = "k"
			rc := mustEnqueue(t, b, d)
			if !rc.Duplicate || rc.ID != first {
				t.Fatalf("receipt %+v, want duplicate of %s", rc, first)
			}
			got := mustClaim(t, a)
			if got.ID != first || got.Envelope.ID != first || got.Envelope.Kind != "note" {
				t.Fatalf("claimed %s (envelope %s, %s), want %s", got.ID, got.Envelope.ID, got.Envelope.Kind, first)
			}
			// Once stored, later duplicates change nothing.
			if rc := mustEnqueue(t, a, withKey(delivery("note"), "k")); !rc.Duplicate || rc.ID != first {
				t.Fatalf("receipt %+v", rc)
			}
			nothingFor(t, b, 100*time.Millisecond)
		})
	}
}

func withKey(d *queue.Delivery, k string) *queue.Delivery {
	d.Key = k
	return d
}

// TestCrashRedeliveryAndQuarantine: a replica dies while running a
// delivery; another gets it after AckWait, counted as an unfinished run;
// after QuarantineAfter such runs it is dead-lettered, and a replay runs
// it again.
func TestCrashRedeliveryAndQuarantine(t *testing.T) {
	srv := natstest.Start(t)
	var mu sync.Mutex
	var quarantined []string
	opts := Options{
		Stream: "CRASH", Subject: "crash.deliveries", AckWait: 300 * time.Millisecond,
		OnQuarantine: func(id string) { mu.Lock(); quarantined = append(quarantined, id); mu.Unlock() },
	}
	id := mustEnqueue(t, open(t, srv, opts), delivery("note")).ID
	for run := 1; run <= 3; run++ {
		s := open(t, srv, opts)
		d := mustClaim(t, s)
		if d.ID != id || d.Attempts != run || d.Finished != 0 {
			t.Fatalf("run %d: claimed %s attempts %d finished %d", run, d.ID, d.Attempts, d.Finished)
		}
		crash(s)
	}
	s := open(t, srv, opts)
	nothingFor(t, s, 800*time.Millisecond) // redelivered, quarantined, not handed out
	got, err := s.Get(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != queue.StatusDead || got.Error != "quarantined: 3 runs did not finish" {
		t.Fatalf("after 3 crashes: status %s, error %q", got.Status, got.Error)
	}
	mu.Lock()
	if len(quarantined) != 1 || quarantined[0] != id {
		t.Errorf("OnQuarantine calls %v, want [%s]", quarantined, id)
	}
	mu.Unlock()
	if n := deadLetters(t, s); n != 1 {
		t.Errorf("dead-letter stream holds %d messages, want 1", n)
	}
	if err := s.Requeue(ctx(t), id, ""); err != nil {
		t.Fatal(err)
	}
	d := mustClaim(t, s)
	if d.ID != id || d.Attempts != 4 || d.Finished != 3 {
		t.Fatalf("replay: %s attempts %d finished %d", d.ID, d.Attempts, d.Finished)
	}
	if err := s.Finish(ctx(t), id, queue.Report{Status: queue.StatusDone}); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, s); n != 0 {
		t.Errorf("work queue holds %d messages after everything finished, want 0", n)
	}
}

func deadLetters(t *testing.T, s *Store) uint64 {
	t.Helper()
	st, err := s.js.Stream(ctx(t), s.opts.deadStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func streamMsgs(t *testing.T, s *Store) uint64 {
	t.Helper()
	info, err := s.stream.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestLongRunKeepsItsClaim: in-progress acks keep a run longer than
// AckWait on its replica.
func TestLongRunKeepsItsClaim(t *testing.T) {
	a, b := pair(t, Options{AckWait: 300 * time.Millisecond})
	id := mustEnqueue(t, a, delivery("note")).ID
	d := mustClaim(t, a)
	nothingFor(t, b, time.Second) // 3 AckWaits
	if err := a.Finish(ctx(t), d.ID, queue.Report{Status: queue.StatusDone}); err != nil {
		t.Fatalf("finish after a long run: %v", err)
	}
	got, _ := b.Get(ctx(t), id)
	if got.Status != queue.StatusDone || got.Attempts != 1 {
		t.Errorf("status %s attempts %d", got.Status, got.Attempts)
	}
}

// TestWorkIsShared: two replicas claiming concurrently get every delivery
// exactly once.
func TestWorkIsShared(t *testing.T) {
	a, b := pair(t, Options{})
	const n = 60
	want := map[string]bool{}
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		want[mustEnqueue(t, s, delivery("note")).ID] = true
	}
	var mu sync.Mutex
	got := map[string]int{}
	per := map[*Store]int{}
	var wg sync.WaitGroup
	var claimed int
	for _, s := range []*Store{a, a, b, b} {
		wg.Go(func() {
			for {
				mu.Lock()
				if claimed >= n {
					mu.Unlock()
					return
				}
				mu.Unlock()
				c, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				d, err := s.Claim(c)
				cancel()
				if err != nil {
					return
				}
				time.Sleep(2 * time.Millisecond)
				if err := s.Finish(context.Background(), d.ID, queue.Report{Status: queue.StatusDone}); err != nil {
					t.Error(err)
				}
				mu.Lock()
				got[d.ID]++
				per[s]++
				claimed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id := range want {
		if got[id] != 1 {
			t.Errorf("delivery %s claimed %d times", id, got[id])
		}
	}
	if per[a] == 0 || per[b] == 0 {
		t.Errorf("work not shared: %d and %d", per[a], per[b])
	}
}

func TestFinishOnOtherReplica(t *testing.T) {
	a, b := pair(t, Options{})
	mustEnqueue(t, a, delivery("note"))
	d := mustClaim(t, a)
	if err := b.Finish(ctx(t), d.ID, queue.Report{Status: queue.StatusDone}); !errors.Is(err, queue.ErrNotRunning) {
		t.Errorf("finish by a replica that did not claim: %v, want ErrNotRunning", err)
	}
	if err := a.Finish(ctx(t), d.ID, queue.Report{Status: queue.StatusDead, Error: "gave up"}); err != nil {
		t.Fatal(err)
	}
	if n := deadLetters(t, a); n != 1 {
		t.Errorf("dead letters %d, want 1", n)
	}
}

func TestKV(t *testing.T) {
	a, b := pair(t, Options{})
	c := ctx(t)
	if _, ok, err := a.KVGet(c, "p", "k"); ok || err != nil {
		t.Fatalf("missing key: %v %v", ok, err)
	}
	for _, k := range []string{"k", "with space/and.dots", strings.Repeat("x", 1024)} {
		if err := a.KVPut(c, "plugin.one", k, []byte("v-"+k[:1])); err != nil {
			t.Fatalf("put %q: %v", k[:min(len(k), 20)], err)
		}
		v, ok, err := b.KVGet(c, "plugin.one", k)
		if err != nil || !ok || string(v) != "v-"+k[:1] {
			t.Fatalf("get on the other replica: %q %v %v", v, ok, err)
		}
		if _, ok, _ := b.KVGet(c, "plugin.two", k); ok {
			t.Fatal("namespaces are not separate")
		}
	}
	if err := b.KVDelete(c, "plugin.one", "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.KVGet(c, "plugin.one", "k"); ok || err != nil {
		t.Fatalf("deleted key: %v %v", ok, err)
	}
	if err := a.KVDelete(c, "plugin.one", "never"); err != nil {
		t.Errorf("delete of a missing key: %v", err)
	}
	if err := a.KVPut(c, "p", "empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := a.KVGet(c, "p", "empty"); !ok || len(v) != 0 {
		t.Errorf("empty value: %q %v", v, ok)
	}
	cases := []struct {
		ns, key string
		val     []byte
		want    error
	}{
		{"", "k", nil, queue.ErrKVKey},
		{"p", "", nil, queue.ErrKVKey},
		{"p", strings.Repeat("x", 1025), nil, queue.ErrKVKey},
		{"p", "k", make([]byte, queue.MaxKVValueLen+1), queue.ErrKVValue},
	}
	for _, tc := range cases {
		if err := a.KVPut(c, tc.ns, tc.key, tc.val); !errors.Is(err, tc.want) {
			t.Errorf("put %q/%d bytes: %v, want %v", tc.ns, len(tc.key), err, tc.want)
		}
	}
}

func TestSweep(t *testing.T) {
	srv := natstest.Start(t)
	var offset time.Duration
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	opts := Options{Stream: "SWEEP", Subject: "sweep.deliveries", Now: now, Policy: queue.Policy{RetainCount: 2, RetainFor: time.Hour}}
	s := open(t, srv, opts)
	var ids []string
	for range 4 {
		ids = append(ids, mustEnqueue(t, s, delivery("note")).ID)
		d := mustClaim(t, s)
		if err := s.Finish(ctx(t), d.ID, queue.Report{Status: queue.StatusDone}); err != nil {
			t.Fatal(err)
		}
	}
	queued := mustEnqueue(t, s, delivery("push")).ID
	// An orphan: a queued record whose message was never published.
	orphan := s.newRecord(delivery("issue"), "orphan-1")
	rec, _ := encodeRecord(orphan)
	env, _ := encodeEnvelope(&delivery("issue").Envelope)
	if _, err := s.records.Create(ctx(t), token("orphan-1"), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.envelopes.Create(ctx(t), token("orphan-1"), env); err != nil {
		t.Fatal(err)
	}

	sw, err := s.Sweep(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if sw.Deliveries != 2 || sw.Republished != 0 {
		t.Fatalf("first sweep %+v, want 2 deliveries past the count, no republish (orphan too young)", sw)
	}
	for i, id := range ids {
		_, err := s.Get(ctx(t), id)
		if kept := i >= 2; kept != (err == nil) {
			t.Errorf("delivery %d: get error %v, kept want %v", i, err, kept)
		}
	}
	mu.Lock()
	offset = 2 * time.Hour
	mu.Unlock()
	sw, err = s.Sweep(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if sw.Deliveries != 2 || sw.Republished != 1 {
		t.Fatalf("second sweep %+v, want the 2 older than RetainFor and the orphan republished", sw)
	}
	got := map[string]bool{}
	for range 2 {
		got[mustClaim(t, s).ID] = true
	}
	if !got[queued] || !got["orphan-1"] {
		t.Errorf("claimed %v, want the queued delivery and the orphan", got)
	}
	if _, err := s.Get(ctx(t), queued); err != nil {
		t.Errorf("queued delivery swept: %v", err)
	}
}

func TestBacklog(t *testing.T) {
	a, _ := pair(t, Options{})
	b, err := a.Backlog(ctx(t))
	if err != nil || b.Queued != 0 || b.Running != 0 || !b.Oldest.IsZero() {
		t.Fatalf("empty backlog %+v %v", b, err)
	}
	start := time.Now()
	for range 3 {
		mustEnqueue(t, a, delivery("note"))
	}
	mustClaim(t, a)
	b, err = a.Backlog(ctx(t))
	if err != nil || b.Queued != 2 || b.Running != 1 {
		t.Fatalf("backlog %+v %v, want 2 queued, 1 running", b, err)
	}
	if b.Oldest.Before(start.Add(-time.Second)) || b.Oldest.After(time.Now()) {
		t.Errorf("oldest %v, want about %v", b.Oldest, start)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), Options{}); err == nil {
		t.Error("open without a url succeeded")
	}
	_, err := Open(t.Context(), Options{URLs: []string{"nats://user:secretpw@127.0.0.1:1"}})
	if err == nil {
		t.Fatal("open on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	a, _ := pair(t, Options{})
	d := delivery("push")
	d.Envelope.Payload = []byte(`{"x":"` + strings.Repeat("y", int(a.MaxPayload())) + `"}`)
	if _, err := a.Enqueue(ctx(t), d); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized enqueue: %v, want ErrTooLarge", err)
	}
	if _, err := a.Get(ctx(t), d.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("oversized delivery stored: %v", err)
	}
	d = delivery("push")
	d.Envelope.Payload = []byte(`{"x":"` + strings.Repeat("y", 2<<20) + `"}`) // over NATS's default 1 MiB
	if _, err := a.Enqueue(ctx(t), d); err != nil {
		t.Fatalf("2 MiB enqueue on an 8 MiB server: %v", err)
	}
	if got := mustClaim(t, a); len(got.Envelope.Payload) != len(d.Envelope.Payload) {
		t.Errorf("payload of %d bytes came back as %d", len(d.Envelope.Payload), len(got.Envelope.Payload))
	}
}

// TestDeliveryLimit: a message JetStream will not deliver again (its
// MaxDeliver reached) is dead-lettered rather than left stuck.
func TestDeliveryLimit(t *testing.T) {
	a, _ := pair(t, Options{MaxAttempts: 1, Policy: queue.Policy{QuarantineAfter: -1}})
	limit := a.opts.maxDeliver()
	id := mustEnqueue(t, a, delivery("note")).ID
	for run := 1; run < limit; run++ {
		d := mustClaim(t, a)
		if d.ID != id || d.Attempts != run {
			t.Fatalf("run %d: claimed %s attempts %d", run, d.ID, d.Attempts)
		}
		if err := a.held.take(id).Nak(); err != nil { // the run vanished, as in a crash
			t.Fatal(err)
		}
	}
	nothingFor(t, a, 300*time.Millisecond)
	got, err := a.Get(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != queue.StatusDead || got.Error != fmt.Sprintf("delivery limit reached: %d deliveries", limit) {
		t.Errorf("status %s, error %q", got.Status, got.Error)
	}
}
