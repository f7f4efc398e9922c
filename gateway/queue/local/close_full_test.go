package local

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fillLog opens a store whose mover fails (a full disk for bbolt) and
// whose logged backlog is past full(), so that the log writer waits for
// room with a batch of one, then starts n more enqueues with short
// contexts. It returns the store (not closed at cleanup) and a counter of
// the enqueues that returned.
func fillLog(t *testing.T, n int) (*Store, *atomic.Int64, *sync.WaitGroup) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("no space left on device")
	s.in.fault.Store(&full)
	s.in.mu.Lock()
	s.in.moveCount = 10
	s.in.mu.Unlock()
	for range 13 { // past moveCount + moveCount/4: the next batch waits for room
		mustEnqueue(t, s, delivery("note"))
	}
	returned := &atomic.Int64{}
	wg := &sync.WaitGroup{}
	enqueue := func() {
		defer wg.Done()
		c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _ = s.Enqueue(c, delivery("note"))
		returned.Add(1)
	}
	wg.Add(1)
	go enqueue() // the log writer takes it and waits for room
	time.Sleep(100 * time.Millisecond)
	for range n {
		wg.Add(1)
		go enqueue()
	}
	return s, returned, wg
}

// An Enqueue whose context ends returns, also when the log writer waits
// for room and its channel is full (the enqueue past its capacity once
// blocked in the send, holding s.mu shared, for as long as the mover
// could not move).
func TestEnqueueHonoursItsContextWhenTheLogIsFull(t *testing.T) {
	n := walMaxBatch + 1
	s, returned, _ := fillLog(t, n)
	time.Sleep(2 * time.Second) // 10 times the enqueues' timeout
	if got := returned.Load(); got != int64(n+1) {
		t.Errorf("%d of %d enqueues with a 200 ms context returned after 2 s", got, n+1)
	}
	// Let the store recover so that it can close.
	s.in.fault.Store(nil)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Error("Close did not return (see TestCloseWhenTheLogIsFull)")
	}
}

// Close while the log writer waits for room and enqueues wait to send to
// its full channel: Close once waited for s.mu exclusively, which a
// blocked sender held shared, while its pending Lock blocked the mover's
// submit, so no room was ever made and Close never returned.
func TestCloseWhenTheLogIsFull(t *testing.T) {
	s, _, _ := fillLog(t, walMaxBatch+1)
	time.Sleep(500 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(500 * time.Millisecond)
	s.in.fault.Store(nil) // the disk has room again: moves would succeed
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close has not returned after 15 s: deadlocked (mover blocked on s.mu.RLock behind Close's Lock, Close behind the enqueue blocked on in.reqs)")
	}
}
