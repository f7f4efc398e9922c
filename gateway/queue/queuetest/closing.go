package queuetest

import (
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

func testPing(t *testing.T, b queue.Backend) {
	for range 3 {
		if err := b.Ping(Context(t)); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
}

func testClose(t *testing.T, b queue.Backend) {
	id := enqueue(t, b, newDelivery("note", "g/a")).ID
	Claim(t, b)
	waiting := claimAsync(Context(t), b)
	select {
	case r := <-waiting:
		t.Fatalf("claim on an empty queue returned %v, %v", r.d, r.err)
	case <-time.After(30 * time.Millisecond):
	}

	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	start := time.Now()
	if r := receive(t, waiting); !errors.Is(r.err, queue.ErrClosed) {
		t.Errorf("waiting claim after close: %v, %v; want ErrClosed", r.d, r.err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("waiting claim took %v to notice close", d)
	}

	ctx := Context(t)
	calls := map[string]func() error{
		"enqueue": func() error { _, err := b.Enqueue(ctx, newDelivery("note", "g/a")); return err },
		"claim":   func() error { _, err := b.Claim(ctx); return err },
		"finish":  func() error { return b.Finish(ctx, id, queue.Report{Status: queue.StatusDone}) },
		"get":     func() error { _, err := b.Get(ctx, id); return err },
		"list":    func() error { _, err := b.List(ctx, queue.Filter{}); return err },
		"requeue": func() error { return b.Requeue(ctx, id, "") },
		"ping":    func() error { return b.Ping(ctx) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, queue.ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
	if err := b.Close(); err != nil && !errors.Is(err, queue.ErrClosed) {
		t.Errorf("second close: %v", err)
	}
}
