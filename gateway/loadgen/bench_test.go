package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// TestBenchSelf is the whole tool on a small scale: a gateway in this
// process on the generated configuration, both floors, a few hundred
// requests each; the report's shape and counts are checked, never its
// timings.
func TestBenchSelf(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway")
	}
	cfg, err := WriteBenchConfig(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	g, err := StartGateway(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	p, err := NewPayload(NoteHook, "Note Hook", DefaultNote, g.Token, g.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	follow, err := Detect(ctx, g.URL, "", g.AdminToken)
	if err != nil || follow == nil {
		t.Fatalf("no way to follow the gateway: %v", err)
	}
	const n = 300
	var progress bytes.Buffer
	rep, err := Bench(ctx, Plan{
		Load: Options{
			URL: g.URL, Payload: p, Conns: 8, Requests: n,
			Follow: follow, PollEvery: 50 * time.Millisecond, Drain: 30 * time.Second,
			RSS:     func() (int64, error) { return 1 << 20, nil },
			AnonRSS: func() (int64, error) { return 1 << 19, nil },
		},
		Floors: true, FloorDir: t.TempDir(), Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Result{rep.Bare, rep.Durable, rep.Gateway} {
		if r == nil {
			t.Fatal("a run is missing from the report")
		}
		var sum uint64
		for _, v := range r.Statuses {
			sum += v
		}
		if r.Sent != n || sum+r.Errors != r.Sent || r.Statuses["202 queued"] != n || r.Accepted != n || r.Queued != n {
			t.Errorf("%s: sent %d, statuses %v, errors %d (%s), accepted %d, queued %d",
				r.Name, r.Sent, r.Statuses, r.Errors, r.FirstError, r.Accepted, r.Queued)
		}
		if r.AcceptedPerSec <= 0 || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 || r.Latency.Max < r.Latency.P99 {
			t.Errorf("%s: rate %.0f latency %+v", r.Name, r.AcceptedPerSec, r.Latency)
		}
	}
	if rep.Bare.Pipeline != nil || rep.Durable.Pipeline != nil {
		t.Error("floors were followed")
	}
	pl := rep.Gateway.Pipeline
	if pl == nil || pl.Error != "" || pl.DrainTime < 0 || pl.AtLeast {
		t.Fatalf("pipeline: %+v", pl)
	}
	if last := pl.Samples[len(pl.Samples)-1]; last.Backlog != 0 || last.Processed != n {
		t.Errorf("after the drain: backlog %d, processed %d; want 0 and %d", last.Backlog, last.Processed, n)
	}
	if pl.EndToEndPerSec <= 0 || rep.Gateway.MaxRSS < 1<<20 || rep.Gateway.MaxAnonRSS != 1<<19 {
		t.Errorf("end to end %.0f/s, rss %d, anonymous %d", pl.EndToEndPerSec, rep.Gateway.MaxRSS, rep.Gateway.MaxAnonRSS)
	}
	if rep.Ratios.ThroughputVsDurable <= 0 || rep.Ratios.ThroughputVsBare <= 0 || rep.Ratios.P99VsDurable <= 0 {
		t.Errorf("ratios %+v", rep.Ratios)
	}
	names := map[string]bool{}
	for _, c := range rep.Checks {
		names[c.Name] = true
	}
	for _, want := range []string{"durable ingest vs durable floor", "ack p99 vs durable floor",
		"every request accepted", "processing keeps pace (backlog)", "resident memory", "resident memory, anonymous"} {
		if !names[want] {
			t.Errorf("check %q missing from %v", want, rep.Checks)
		}
	}
	var text bytes.Buffer
	rep.Print(&text)
	for _, want := range []string{"bare floor", "durable floor", "gateway", "ratios", "targets:", "end to end"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, text.String())
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
	if strings.Count(progress.String(), "running") != 3 {
		t.Errorf("progress:\n%s", progress.String())
	}
}
