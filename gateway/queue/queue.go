// Package queue owns the durable hand-off between the receiver and the
// workers, and the delivery log that records what became of every event.
//
// The types here are shared by every backend; the backends live in
// sub-packages (local: an embedded store; natsq: NATS JetStream, shared by
// several replicas). Consumers (receiver, workers, admin API) declare the
// small interfaces they need; Backend is the whole set a backend must
// provide, used where one is opened from config.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// Status is where a delivery stands.
type Status string

const (
	StatusQueued  Status = "queued"  // stored, waiting for a worker (possibly until NotBefore)
	StatusRunning Status = "running" // claimed by a worker
	StatusDone    Status = "done"    // every matching rule reached a successful outcome
	StatusFailed  Status = "failed"  // finished; at least one rule failed for good
	StatusDead    Status = "dead"    // quarantined: kept crashing the process, or retries exhausted
)

// Final reports whether no more processing happens without a replay.
func (s Status) Final() bool { return s == StatusDone || s == StatusFailed || s == StatusDead }

// Delivery is one stored event and its record in the delivery log.
type Delivery struct {
	ID string `json:"id"`
	// Key is the idempotency key (Idempotency-Key or webhook-id), "" if none.
	Key        string    `json:"key,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	// Headers are the request headers that matter for processing and
	// debugging. Never the token or signature.
	Headers  map[string]string `json:"headers,omitempty"`
	Envelope envelope.Envelope `json:"envelope"`

	Status Status `json:"status"`
	// Attempts counts processing runs started; it is stored before each run.
	Attempts int `json:"attempts"`
	// Finished counts processing runs that reached Finish. Attempts minus
	// Finished is the number of runs the process did not survive.
	Finished int `json:"finished"`
	// NotBefore delays the next run (retry backoff).
	NotBefore time.Time `json:"not_before,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// Error says why a delivery failed or was quarantined.
	Error string `json:"error,omitempty"`
	// Outcomes are per rule, in rule order. A rule with a final successful
	// outcome is not run again on a retry.
	Outcomes []Outcome `json:"outcomes,omitempty"`
}

// Outcome is what one rule did for one delivery.
type Outcome struct {
	Rule   string `json:"rule"`
	Plugin string `json:"plugin,omitempty"`
	// Status is "ok", "error", "retry", "skipped" (e.g. access denied) or "dead".
	Status   string          `json:"status"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	Logs     []LogLine       `json:"logs,omitempty"`
	Calls    []Call          `json:"calls,omitempty"`
	Attempts int             `json:"attempts"`
	Started  time.Time       `json:"started"`
	Duration time.Duration   `json:"duration_ns"`
}

// LogLine is one line a plugin logged.
type LogLine struct {
	Level   string         `json:"level"`
	Message string         `json:"msg"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// Call is one GitLab API call a plugin made (or, in dry run, would have made).
type Call struct {
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Body     json.RawMessage `json:"body,omitempty"`
	Status   int             `json:"status,omitempty"` // 0 in dry run
	Duration time.Duration   `json:"duration_ns,omitempty"`
	Error    string          `json:"error,omitempty"`
	DryRun   bool            `json:"dry_run,omitempty"`
}

// Receipt is the answer to Enqueue.
type Receipt struct {
	ID string
	// Duplicate is true when the key was seen within the dedupe window; ID
	// is then the first delivery's id and nothing was stored.
	Duplicate bool
}

// Report is what a worker hands back after a processing run.
type Report struct {
	// Status is the delivery's new status: Done, Failed, Dead, or Queued
	// with RetryAt set for a retry.
	Status   Status
	RetryAt  time.Time
	Error    string
	Outcomes []Outcome
}

// Filter selects deliveries from the delivery log. Zero fields match all.
type Filter struct {
	Status  Status
	Kind    string
	Project string
	Rule    string
	// Before pages backwards: only deliveries with ID < Before.
	Before string
	Limit  int
}

// Backlog is how much work waits in a queue (for metrics).
type Backlog struct {
	// Queued counts deliveries waiting for a worker, retry backoff included.
	Queued int
	// Running counts deliveries claimed by a worker.
	Running int
	// Oldest is when the oldest queued or running delivery was received;
	// zero when there is none.
	Oldest time.Time
}

// ErrNotFound is returned for an unknown delivery id.
var ErrNotFound = errors.New("queue: delivery not found")

// ErrClosed is returned by calls on a closed queue.
var ErrClosed = errors.New("queue: closed")

// ErrNotRunning is returned (wrapped) by Finish for a delivery that is not
// currently claimed: it is queued, already final, or was put back in the
// queue when the process restarted.
var ErrNotRunning = errors.New("queue: delivery is not running")

// ErrNotFinal is returned (wrapped) by Requeue for a delivery that is still
// queued or running: only final deliveries can be replayed.
var ErrNotFinal = errors.New("queue: delivery is not final")

// Backend is the full set of operations a queue backend provides.
//
// Enqueue returns only after the delivery is durable (fsynced, or acked by
// the replicated store): a nil error means it will be processed even if the
// process dies the next instant. It assigns d.ID when empty.
//
// Claim blocks until a delivery is ready (status queued, NotBefore passed) or
// ctx ends. Before returning it durably marks the delivery running and
// increments Attempts, so a run that kills the process is counted. A delivery
// whose Attempts-Finished reaches the quarantine limit is marked dead instead
// of being handed out.
//
// Finish records a run's report and increments Finished.
type Backend interface {
	Enqueue(ctx context.Context, d *Delivery) (Receipt, error)
	Claim(ctx context.Context) (*Delivery, error)
	Finish(ctx context.Context, id string, r Report) error
	Get(ctx context.Context, id string) (*Delivery, error)
	List(ctx context.Context, f Filter) ([]*Delivery, error)
	// Requeue puts a final delivery back in the queue (replay). With rule
	// set, only that rule's outcome is cleared; otherwise all are.
	Requeue(ctx context.Context, id, rule string) error
	// Ping checks the store is writable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
