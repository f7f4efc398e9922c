package queuetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

func richOutcomes() []queue.Outcome {
	started := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return []queue.Outcome{
		{
			Rule: "r1", Plugin: "packit_build", Status: "ok", Attempts: 1,
			Result:  json.RawMessage(`{"build":42}`),
			Logs:    []queue.LogLine{{Level: "info", Message: "building", Fields: map[string]any{"chroot": "fedora"}}},
			Calls:   []queue.Call{{Method: "POST", Path: "/projects/7/merge_requests/1/notes", Body: json.RawMessage(`{"body":"ok"}`), Status: 201, Duration: time.Millisecond}},
			Started: started, Duration: 3 * time.Millisecond,
		},
		{Rule: "r2", Plugin: "labeler", Status: "error", Error: "script error", Attempts: 1, Started: started},
	}
}

func testFinish(t *testing.T, b queue.Backend) {
	ctx := Context(t)
	queued := enqueue(t, b, newDelivery("note", "g/a")).ID
	if err := b.Finish(ctx, queued, queue.Report{Status: queue.StatusDone}); !errors.Is(err, queue.ErrNotRunning) {
		t.Errorf("finish of a queued delivery: %v, want ErrNotRunning", err)
	}
	if err := b.Finish(ctx, "no-such-id", queue.Report{Status: queue.StatusDone}); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("finish of an unknown id: %v, want ErrNotFound", err)
	}

	cases := []struct {
		name   string
		report queue.Report
	}{
		{"done", queue.Report{Status: queue.StatusDone, Outcomes: richOutcomes()}},
		{"failed", queue.Report{Status: queue.StatusFailed, Error: "rule r2 failed", Outcomes: richOutcomes()}},
		{"dead", queue.Report{Status: queue.StatusDead, Error: "retries exhausted"}},
	}
	for _, tc := range cases {
		d := Claim(t, b)
		for _, bad := range []queue.Status{queue.StatusRunning, "bogus", ""} {
			if err := b.Finish(ctx, d.ID, queue.Report{Status: bad}); err == nil {
				t.Errorf("%s: finish with status %q accepted", tc.name, bad)
			}
		}
		finish(t, b, d.ID, tc.report)
		got := get(t, b, d.ID)
		if got.Status != tc.report.Status || got.Error != tc.report.Error ||
			got.Attempts != 1 || got.Finished != 1 || !got.NotBefore.IsZero() {
			t.Errorf("%s: stored status %s error %q attempts %d finished %d not before %v",
				tc.name, got.Status, got.Error, got.Attempts, got.Finished, got.NotBefore)
		}
		if !got.UpdatedAt.After(d.ReceivedAt) && !got.UpdatedAt.Equal(d.ReceivedAt) {
			t.Errorf("%s: UpdatedAt %v before ReceivedAt %v", tc.name, got.UpdatedAt, d.ReceivedAt)
		}
		sameJSON(t, tc.name+" outcomes", got.Outcomes, tc.report.Outcomes)
		if err := b.Finish(ctx, d.ID, tc.report); !errors.Is(err, queue.ErrNotRunning) {
			t.Errorf("%s: second finish: %v, want ErrNotRunning", tc.name, err)
		}
		enqueue(t, b, newDelivery("note", "g/a")) // the next case's delivery
	}
	// Final deliveries are not handed out again: only the last one is left.
	if d := Claim(t, b); d.Status != queue.StatusRunning || d.Attempts != 1 {
		t.Errorf("last delivery claimed with status %s, attempts %d", d.Status, d.Attempts)
	}
	NoClaim(t, b, 50*time.Millisecond)
}

func testRequeue(t *testing.T, b queue.Backend) {
	ctx := Context(t)
	id := enqueue(t, b, newDelivery("note", "g/a")).ID
	if err := b.Requeue(ctx, id, ""); !errors.Is(err, queue.ErrNotFinal) {
		t.Errorf("requeue of a queued delivery: %v, want ErrNotFinal", err)
	}
	Claim(t, b)
	if err := b.Requeue(ctx, id, ""); !errors.Is(err, queue.ErrNotFinal) {
		t.Errorf("requeue of a running delivery: %v, want ErrNotFinal", err)
	}
	if err := b.Requeue(ctx, "no-such-id", ""); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("requeue of an unknown id: %v, want ErrNotFound", err)
	}
	outcomes := richOutcomes()
	finish(t, b, id, queue.Report{Status: queue.StatusFailed, Error: "r2 failed", Outcomes: outcomes})

	// One rule: only its outcome goes.
	if err := b.Requeue(ctx, id, "r2"); err != nil {
		t.Fatalf("requeue rule r2: %v", err)
	}
	got := get(t, b, id)
	if got.Status != queue.StatusQueued || got.Error != "" {
		t.Errorf("after requeue: status %s error %q, want queued and no error", got.Status, got.Error)
	}
	sameJSON(t, "outcomes after requeue of r2", got.Outcomes, outcomes[:1])
	d := Claim(t, b)
	if d.ID != id || d.Attempts != 2 {
		t.Errorf("replay claim: %s attempts %d, want %s attempts 2", d.ID, d.Attempts, id)
	}
	sameJSON(t, "replayed outcomes", d.Outcomes, outcomes[:1])

	// Whole delivery: every outcome goes.
	finish(t, b, id, queue.Report{Status: queue.StatusDead, Error: "gave up", Outcomes: outcomes})
	if err := b.Requeue(ctx, id, ""); err != nil {
		t.Fatalf("requeue: %v", err)
	}
	d = Claim(t, b)
	if d.ID != id || len(d.Outcomes) != 0 || d.Error != "" || d.Attempts != 3 {
		t.Errorf("replay claim: %s outcomes %d error %q attempts %d; want %s, none, empty, 3",
			d.ID, len(d.Outcomes), d.Error, d.Attempts, id)
	}
}
