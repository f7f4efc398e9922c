package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// flakyQueue fails its first claims and finishes with errDisk, then works:
// one delivery to claim, after which Claim blocks until ctx ends.
type flakyQueue struct {
	mu                     sync.Mutex
	claimFails, finishFail int
	claims, finishes       int
	handed                 bool
	finished               chan queue.Report
}

var errDisk = errors.New("write hookgate.db: no space left on device")

func (q *flakyQueue) Claim(ctx context.Context) (*queue.Delivery, error) {
	q.mu.Lock()
	q.claims++
	if q.claims <= q.claimFails {
		q.mu.Unlock()
		return nil, errDisk
	}
	if !q.handed {
		q.handed = true
		q.mu.Unlock()
		return &queue.Delivery{ID: "d1", Status: queue.StatusRunning}, nil
	}
	q.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *flakyQueue) Finish(_ context.Context, id string, r queue.Report) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.finishes++
	if q.finishes <= q.finishFail {
		return errDisk
	}
	q.finished <- r
	return nil
}

// A store failing for a while (a full disk) delays claims and outcomes;
// it does not stop the workers, nor the gateway with them.
func TestWorkersRetryAFailingStore(t *testing.T) {
	retryFirst, retryMax = time.Millisecond, 4*time.Millisecond
	t.Cleanup(func() { retryFirst, retryMax = 100*time.Millisecond, 5*time.Second })

	q := &flakyQueue{claimFails: 5, finishFail: 3, finished: make(chan queue.Report, 1)}
	w := &Workers{
		Queue: q,
		Processor: ProcessorFunc(func(context.Context, *queue.Delivery) queue.Report {
			return queue.Report{Status: queue.StatusDone}
		}),
		Count:  1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case r := <-q.finished:
		if r.Status != queue.StatusDone {
			t.Fatalf("recorded %v, want done", r.Status)
		}
	case err := <-done:
		t.Fatalf("workers stopped on a failing store: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery was never processed and recorded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after a clean stop", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.claims < 6 || q.finishes != 4 {
		t.Errorf("claims %d, finishes %d; want at least 6 and exactly 4", q.claims, q.finishes)
	}
}

// A closed queue still stops the workers with its error.
func TestWorkersStopOnAClosedQueue(t *testing.T) {
	w := &Workers{
		Queue: closedQueue{},
		Processor: ProcessorFunc(func(context.Context, *queue.Delivery) queue.Report {
			return queue.Report{Status: queue.StatusDone}
		}),
		Count:  2,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if err := w.Run(t.Context()); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Run = %v, want queue.ErrClosed", err)
	}
}

type closedQueue struct{}

func (closedQueue) Claim(context.Context) (*queue.Delivery, error) { return nil, queue.ErrClosed }
func (closedQueue) Finish(context.Context, string, queue.Report) error {
	return queue.ErrClosed
}
