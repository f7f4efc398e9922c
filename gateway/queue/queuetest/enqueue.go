package queuetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

func testEnqueueGet(t *testing.T, b queue.Backend) {
	d := newDelivery("note", "group/a")
	d.Key = "key-1"
	rc := enqueue(t, b, d)
	if rc.Duplicate {
		t.Fatal("first enqueue is a duplicate")
	}
	if d.ID != rc.ID {
		t.Errorf("d.ID = %q, receipt id %q: Enqueue must assign d.ID", d.ID, rc.ID)
	}
	got := get(t, b, rc.ID)
	if got.ID != rc.ID || got.Key != "key-1" || got.Status != queue.StatusQueued ||
		got.Attempts != 0 || got.Finished != 0 || len(got.Outcomes) != 0 {
		t.Errorf("stored delivery = %+v", got)
	}
	if got.ReceivedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("ReceivedAt %v, UpdatedAt %v: want both set", got.ReceivedAt, got.UpdatedAt)
	}
	want := d.Envelope
	want.ID = rc.ID
	sameJSON(t, "envelope", got.Envelope, want)
	sameJSON(t, "headers", got.Headers, d.Headers)

	// A preset id is kept; worker-side fields of the input are not.
	d2 := newDelivery("push", "group/b")
	d2.ID = "preset-id-1"
	d2.Status, d2.Attempts, d2.Finished = queue.StatusDone, 4, 4
	d2.Outcomes = []queue.Outcome{{Rule: "r", Status: "ok"}}
	if rc := enqueue(t, b, d2); rc.ID != "preset-id-1" {
		t.Errorf("preset id: receipt %q", rc.ID)
	}
	got = get(t, b, "preset-id-1")
	if got.Status != queue.StatusQueued || got.Attempts != 0 || got.Finished != 0 || len(got.Outcomes) != 0 {
		t.Errorf("fresh delivery kept worker fields: %+v", got)
	}

	if _, err := b.Get(Context(t), "no-such-id"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("get unknown id: %v, want ErrNotFound", err)
	}
}

func testDedupe(t *testing.T, b queue.Backend) {
	first := enqueue(t, b, withKey(newDelivery("note", "g/a"), "same"))
	again := enqueue(t, b, withKey(newDelivery("note", "g/a"), "same"))
	if !again.Duplicate || again.ID != first.ID {
		t.Errorf("same key again = %+v, want duplicate of %s", again, first.ID)
	}
	other := enqueue(t, b, withKey(newDelivery("note", "g/a"), "other"))
	if other.Duplicate || other.ID == first.ID {
		t.Errorf("other key = %+v, want a new delivery", other)
	}
	for range 2 { // no key: never a duplicate
		if rc := enqueue(t, b, newDelivery("note", "g/a")); rc.Duplicate {
			t.Errorf("keyless delivery answered as duplicate of %s", rc.ID)
		}
	}
	if n := len(list(t, b, queue.Filter{Limit: 100})); n != 4 {
		t.Errorf("stored %d deliveries, want 4", n)
	}

	// Racing deliveries with one key: exactly one is stored.
	const racers = 16
	receipts := make([]queue.Receipt, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			rc, err := b.Enqueue(Context(t), withKey(newDelivery("push", "g/b"), "race"))
			if err != nil {
				t.Error(err)
			}
			receipts[i] = rc
		})
	}
	wg.Wait()
	stored := 0
	for _, rc := range receipts {
		if !rc.Duplicate {
			stored++
		}
		if rc.ID != receipts[0].ID {
			t.Errorf("racing receipts name different ids: %s, %s", rc.ID, receipts[0].ID)
		}
	}
	if stored != 1 {
		t.Errorf("%d of %d racing deliveries with one key were stored, want 1", stored, racers)
	}
	if n := len(list(t, b, queue.Filter{Kind: "push"})); n != 1 {
		t.Errorf("listed %d push deliveries, want 1", n)
	}
}

func withKey(d *queue.Delivery, key string) *queue.Delivery {
	d.Key = key
	return d
}

func testConcurrentEnqueue(t *testing.T, b queue.Backend) {
	const goroutines, total = 32, 500
	receipts := make([]queue.Receipt, total)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ctx := Context(t)
			for i := g; i < total; i += goroutines {
				rc, err := b.Enqueue(ctx, withKey(newDelivery("note", "g/a"), fmt.Sprint("k-", i)))
				if err != nil {
					t.Error(err)
					return
				}
				receipts[i] = rc
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	seen := map[string]bool{}
	for i, rc := range receipts {
		if rc.Duplicate || seen[rc.ID] {
			t.Fatalf("receipt %d = %+v: duplicate", i, rc)
		}
		seen[rc.ID] = true
	}
	all := list(t, b, queue.Filter{Limit: 1000})
	if len(all) != total {
		t.Fatalf("listed %d deliveries, want %d", len(all), total)
	}
	keys := map[string]bool{}
	for _, d := range all {
		if !seen[d.ID] || keys[d.Key] {
			t.Fatalf("listed %s (key %s): unknown id or key listed twice", d.ID, d.Key)
		}
		keys[d.Key] = true
	}
}

func testDedupeWindow(t *testing.T, newBackend ClockFactory) {
	clock := NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b := newBackend(t, clock.Now, time.Hour)
	first := enqueue(t, b, withKey(newDelivery("note", "g/a"), "k"))

	steps := []struct {
		advance   time.Duration
		duplicate bool
	}{
		{59 * time.Minute, true},  // inside the window
		{2 * time.Minute, false},  // 61 minutes after the first: stored again
		{0, true},                 // and the new one is remembered
		{59 * time.Minute, true},  // 59 minutes after the second
		{61 * time.Minute, false}, // expired again
	}
	prev := first.ID
	for i, s := range steps {
		clock.Advance(s.advance)
		rc := enqueue(t, b, withKey(newDelivery("note", "g/a"), "k"))
		if rc.Duplicate != s.duplicate {
			t.Fatalf("step %d (+%v): duplicate = %v, want %v", i, s.advance, rc.Duplicate, s.duplicate)
		}
		if s.duplicate && rc.ID != prev {
			t.Errorf("step %d: duplicate of %s, want of %s", i, rc.ID, prev)
		}
		if !s.duplicate && rc.ID == prev {
			t.Errorf("step %d: stored under the old id %s", i, rc.ID)
		}
		prev = rc.ID
	}
}
