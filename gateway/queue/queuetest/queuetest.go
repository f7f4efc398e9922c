// Package queuetest owns the conformance suite every queue.Backend must
// pass: enqueue and get, deduplication, concurrent enqueues, claim order and
// blocking, retries, finish and requeue, listing, close. A backend's own
// tests call Run (and RunClock when it accepts a clock):
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Backend {
//			b, err := mybackend.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { b.Close() })
//			return b
//		})
//	}
//
// Subtests run in parallel, each on its own fresh backend.
//
// The package also holds the helpers the backends' own tests share:
// Context, Delivery, Opened, Claim and NoClaim.
package queuetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// Factory returns a new, empty backend for one test, using the real clock
// and default options. The suite closes it in some tests; Close may then be
// called again by the factory's own cleanup and must not panic.
type Factory func(t *testing.T) queue.Backend

// ClockFactory returns a new, empty backend that reads the time from now
// and remembers idempotency keys for window.
type ClockFactory func(t *testing.T, now func() time.Time, window time.Duration) queue.Backend

// Run runs the conformance suite against backends made by newBackend.
func Run(t *testing.T, newBackend Factory) {
	tests := []struct {
		name string
		run  func(t *testing.T, b queue.Backend)
	}{
		{"EnqueueGet", testEnqueueGet},
		{"Dedupe", testDedupe},
		{"ConcurrentEnqueue", testConcurrentEnqueue},
		{"ClaimOrder", testClaimOrder},
		{"ClaimBlocksThenWakes", testClaimBlocksThenWakes},
		{"ClaimContext", testClaimContext},
		{"RetryNotBefore", testRetryNotBefore},
		{"DelayedEnqueue", testDelayedEnqueue},
		{"Finish", testFinish},
		{"Requeue", testRequeue},
		{"List", testList},
		{"ListLimit", testListLimit},
		{"Ping", testPing},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newBackend(t))
		})
	}
}

// RunClock runs the tests that need a controlled clock.
func RunClock(t *testing.T, newBackend ClockFactory) {
	t.Run("DedupeWindow", func(t *testing.T) {
		t.Parallel()
		testDedupeWindow(t, newBackend)
	})
}

// Clock is a manual clock safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newDelivery is a small note delivery of kind on project.
func newDelivery(kind, project string) *queue.Delivery {
	payload := fmt.Sprintf(`{"object_kind":%q,"project":{"path_with_namespace":%q}}`, kind, project)
	return &queue.Delivery{
		Headers: map[string]string{"X-Gitlab-Event": "Note Hook"},
		Envelope: envelope.Envelope{
			Kind:    kind,
			Event:   "Note Hook",
			Project: envelope.Project{ID: 7, Path: project, URL: "https://gitlab.example.com/" + project},
			Note:    "/packit build",
			Labels:  []string{"bug"},
			Payload: json.RawMessage(payload),
		},
	}
}

func enqueue(t *testing.T, b queue.Backend, d *queue.Delivery) queue.Receipt {
	t.Helper()
	rc, err := b.Enqueue(Context(t), d)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if rc.ID == "" {
		t.Fatal("enqueue: empty receipt id")
	}
	return rc
}

func get(t *testing.T, b queue.Backend, id string) *queue.Delivery {
	t.Helper()
	d, err := b.Get(Context(t), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return d
}

func finish(t *testing.T, b queue.Backend, id string, r queue.Report) {
	t.Helper()
	if err := b.Finish(Context(t), id, r); err != nil {
		t.Fatalf("finish %s: %v", id, err)
	}
}

func list(t *testing.T, b queue.Backend, f queue.Filter) []*queue.Delivery {
	t.Helper()
	ds, err := b.List(Context(t), f)
	if err != nil {
		t.Fatalf("list %+v: %v", f, err)
	}
	return ds
}

func ids(ds []*queue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// sameJSON compares two values by their JSON form.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}
