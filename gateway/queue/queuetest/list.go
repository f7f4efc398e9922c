package queuetest

import (
	"slices"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
)

func testList(t *testing.T, b queue.Backend) {
	// d0 done (rule r1), d1 failed (rule r2), d2 running, d3..d6 queued.
	specs := []struct{ kind, project string }{
		{"note", "g/a"}, {"push", "g/a"}, {"note", "g/b"}, {"merge_request", "g/a"},
		{"note", "g/b"}, {"push", "g/b"}, {"note", "g/a"},
	}
	var d []string
	for _, s := range specs {
		d = append(d, enqueue(t, b, newDelivery(s.kind, s.project)).ID)
	}
	Claim(t, b)
	finish(t, b, d[0], queue.Report{Status: queue.StatusDone, Outcomes: []queue.Outcome{{Rule: "r1", Status: "ok"}}})
	Claim(t, b)
	finish(t, b, d[1], queue.Report{Status: queue.StatusFailed, Outcomes: []queue.Outcome{
		{Rule: "r1", Status: "ok"}, {Rule: "r2", Status: "error"},
	}})
	Claim(t, b)

	rev := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, x := range idx {
			out[i] = d[x]
		}
		return out
	}
	cases := []struct {
		name   string
		filter func() queue.Filter
		want   []string
	}{
		{"all", func() queue.Filter { return queue.Filter{} }, rev(6, 5, 4, 3, 2, 1, 0)},
		{"queued", func() queue.Filter { return queue.Filter{Status: queue.StatusQueued} }, rev(6, 5, 4, 3)},
		{"running", func() queue.Filter { return queue.Filter{Status: queue.StatusRunning} }, rev(2)},
		{"done", func() queue.Filter { return queue.Filter{Status: queue.StatusDone} }, rev(0)},
		{"dead", func() queue.Filter { return queue.Filter{Status: queue.StatusDead} }, nil},
		{"kind", func() queue.Filter { return queue.Filter{Kind: "note"} }, rev(6, 4, 2, 0)},
		{"project", func() queue.Filter { return queue.Filter{Project: "g/b"} }, rev(5, 4, 2)},
		{"kind and project", func() queue.Filter { return queue.Filter{Kind: "note", Project: "g/b"} }, rev(4, 2)},
		{"rule r1", func() queue.Filter { return queue.Filter{Rule: "r1"} }, rev(1, 0)},
		{"rule r2", func() queue.Filter { return queue.Filter{Rule: "r2"} }, rev(1)},
		{"rule and status", func() queue.Filter { return queue.Filter{Rule: "r1", Status: queue.StatusDone} }, rev(0)},
		{"no match", func() queue.Filter { return queue.Filter{Kind: "pipeline"} }, nil},
		{"limit", func() queue.Filter { return queue.Filter{Limit: 3} }, rev(6, 5, 4)},
		{"page 2", func() queue.Filter { return queue.Filter{Limit: 3, Before: d[4]} }, rev(3, 2, 1)},
		{"page 3", func() queue.Filter { return queue.Filter{Limit: 3, Before: d[1]} }, rev(0)},
		{"past the end", func() queue.Filter { return queue.Filter{Before: d[0]} }, nil},
		{"status page", func() queue.Filter { return queue.Filter{Status: queue.StatusQueued, Limit: 2, Before: d[5]} }, rev(4, 3)},
		{"kind page", func() queue.Filter { return queue.Filter{Kind: "note", Limit: 1, Before: d[6]} }, rev(4)},
	}
	for _, tc := range cases {
		got := ids(list(t, b, tc.filter()))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: listed %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, dl := range list(t, b, queue.Filter{}) {
		if dl.Envelope.Kind == "" || len(dl.Envelope.Payload) == 0 {
			t.Errorf("listed %s without its envelope", dl.ID)
		}
	}
}

func testListLimit(t *testing.T, b queue.Backend) {
	const n = 60
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := b.Enqueue(Context(t), newDelivery("note", "g/a")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(list(t, b, queue.Filter{})); got != 50 {
		t.Errorf("default limit listed %d, want 50", got)
	}
	if got := len(list(t, b, queue.Filter{Limit: 5000})); got != n {
		t.Errorf("limit 5000 listed %d, want all %d", got, n)
	}
}
