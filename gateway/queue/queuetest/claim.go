package queuetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

func testClaimOrder(t *testing.T, b queue.Backend) {
	var want []string
	for _, kind := range []string{"note", "push", "issue", "merge_request"} {
		want = append(want, enqueue(t, b, newDelivery(kind, "g/a")).ID)
	}
	var got []string
	for range want {
		d := Claim(t, b)
		if d.Status != queue.StatusRunning || d.Attempts != 1 || d.Finished != 0 {
			t.Errorf("claimed %s: status %s, attempts %d, finished %d; want running, 1, 0",
				d.ID, d.Status, d.Attempts, d.Finished)
		}
		if d.Envelope.Kind == "" || len(d.Envelope.Payload) == 0 {
			t.Errorf("claimed %s without its envelope: %+v", d.ID, d.Envelope)
		}
		stored := get(t, b, d.ID)
		if stored.Status != queue.StatusRunning || stored.Attempts != 1 {
			t.Errorf("stored after claim: status %s, attempts %d", stored.Status, stored.Attempts)
		}
		got = append(got, d.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("claim order %v, want enqueue order %v", got, want)
	}
	NoClaim(t, b, 50*time.Millisecond)
}

type claimResult struct {
	d   *queue.Delivery
	err error
}

func claimAsync(ctx context.Context, b queue.Backend) <-chan claimResult {
	ch := make(chan claimResult, 1)
	go func() {
		d, err := b.Claim(ctx)
		ch <- claimResult{d, err}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan claimResult) claimResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		t.Fatal("claim did not return")
		return claimResult{}
	}
}

func testClaimBlocksThenWakes(t *testing.T, b queue.Backend) {
	const claimers = 3
	ctx := Context(t)
	var results []<-chan claimResult
	for range claimers {
		results = append(results, claimAsync(ctx, b))
	}
	for _, ch := range results {
		select {
		case r := <-ch:
			t.Fatalf("claim on an empty queue returned %v, %v", r.d, r.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	var want []string
	for range claimers {
		want = append(want, enqueue(t, b, newDelivery("note", "g/a")).ID)
	}
	var got []string
	for _, ch := range results {
		r := receive(t, ch)
		if r.err != nil {
			t.Fatalf("woken claim: %v", r.err)
		}
		got = append(got, r.d.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("waiting claimers got %v, want each of %v once", got, want)
	}
}

func testClaimContext(t *testing.T, b queue.Backend) {
	NoClaim(t, b, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Claim(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("claim with canceled ctx: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	ch := claimAsync(ctx, b)
	cancel()
	if r := receive(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Errorf("claim canceled while waiting: %v, %v; want context.Canceled", r.d, r.err)
	}
}

func testRetryNotBefore(t *testing.T, b queue.Backend) {
	id := enqueue(t, b, newDelivery("note", "g/a")).ID
	Claim(t, b)
	retryAt := time.Now().Add(400 * time.Millisecond)
	outcomes := []queue.Outcome{
		{Rule: "r1", Plugin: "p1", Status: "ok", Attempts: 1},
		{Rule: "r2", Plugin: "p2", Status: "retry", Error: "gitlab: 502", Attempts: 1},
	}
	finish(t, b, id, queue.Report{Status: queue.StatusQueued, RetryAt: retryAt, Error: "gitlab: 502", Outcomes: outcomes})

	stored := get(t, b, id)
	if stored.Status != queue.StatusQueued || !stored.NotBefore.Equal(retryAt) ||
		stored.Attempts != 1 || stored.Finished != 1 || stored.Error != "gitlab: 502" {
		t.Errorf("after retry report: status %s, not before %v (want %v), attempts %d, finished %d, error %q",
			stored.Status, stored.NotBefore, retryAt, stored.Attempts, stored.Finished, stored.Error)
	}

	// A fresh delivery is ready before the retry.
	fresh := enqueue(t, b, newDelivery("push", "g/a")).ID
	if d := Claim(t, b); d.ID != fresh {
		t.Errorf("claimed %s, want the fresh %s before the delayed retry", d.ID, fresh)
	}
	NoClaim(t, b, 100*time.Millisecond)

	d := Claim(t, b)
	if now := time.Now(); now.Before(retryAt) {
		t.Errorf("retry claimed at %v, %v before its RetryAt", now, retryAt.Sub(now))
	}
	if d.ID != id || d.Attempts != 2 || d.Finished != 1 {
		t.Errorf("retry claim: %s attempts %d finished %d; want %s, 2, 1", d.ID, d.Attempts, d.Finished, id)
	}
	sameJSON(t, "outcomes kept for the retry", d.Outcomes, outcomes)
}

func testDelayedEnqueue(t *testing.T, b queue.Backend) {
	d := newDelivery("note", "g/a")
	d.NotBefore = time.Now().Add(300 * time.Millisecond)
	id := enqueue(t, b, d).ID
	NoClaim(t, b, 50*time.Millisecond)
	got := Claim(t, b)
	if got.ID != id || time.Now().Before(d.NotBefore) {
		t.Errorf("delayed delivery %s claimed as %s at %v, want after %v", id, got.ID, time.Now(), d.NotBefore)
	}
}
