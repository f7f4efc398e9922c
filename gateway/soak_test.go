package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakSample is one reading of the process under steady load.
type soakSample struct {
	at         time.Duration
	acked      int64
	processed  float64 // plugin runs, from /metrics
	backlog    float64 // queued + running
	rssKB      int64   // VmRSS from /proc/PID/status
	heapMB     float64 // go_memstats_heap_inuse_bytes
	goroutines float64
	fds        float64
	dbKB       int64
}

// procRSS reads VmRSS (KiB) of a process.
func procRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// metricSum adds up every sample of a metric in Prometheus text format
// (-1 when the metric is absent).
func metricSum(text, name string) float64 {
	sum, seen := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, seen = sum+v, true
		}
	}
	if !seen {
		return -1
	}
	return sum
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// TestSoak runs the real binary at a steady delivery rate for
// HOOKGATE_SOAK_DURATION (default 10m; `task soak`), sampling its resident
// memory, Go heap, goroutines and open files every HOOKGATE_SOAK_EVERY
// (default 10s), prints the table, and checks they stay flat: after a
// one-minute warm-up, the last third of the run may not exceed the middle
// third by more than 25% (memory) or 20% plus 10 (goroutines, files).
// Every acknowledged delivery must have been processed. Not run by
// `go test` unless HOOKGATE_SOAK=1.
func TestSoak(t *testing.T) {
	if os.Getenv("HOOKGATE_SOAK") == "" {
		t.Skip("set HOOKGATE_SOAK=1 (task soak) to run the 10-minute soak")
	}
	duration := envDuration("HOOKGATE_SOAK_DURATION", 10*time.Minute)
	every := envDuration("HOOKGATE_SOAK_EVERY", 10*time.Second)
	rate, _ := strconv.Atoi(os.Getenv("HOOKGATE_SOAK_RATE"))
	if rate <= 0 {
		rate = 50
	}
	c := newChaos(t, map[string]string{
		"rules/r.toml":       "[[rule]]\nname = \"record\"\non = [\"note\"]\nplugin = \"record\"\n",
		"plugins/record.lua": chaosRecordPlugin,
	})
	// Keep the delivery log bounded as an operator would, so the janitor
	// runs during the soak.
	cfg, _ := os.ReadFile(c.p.cfg)
	cfg = bytes.Replace(cfg, []byte("[queue]\n"), []byte("[queue]\nretain_count = 5000\n"), 1)
	os.WriteFile(c.p.cfg, cfg, 0o600)
	c.start()
	pid := c.p.cmd.Process.Pid

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var keysMu sync.Mutex
	var ids []string
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				id, _, ok := c.send("soak-" + strconv.Itoa(n))
				if !ok {
					failed.Add(1)
					return
				}
				acked.Add(1)
				keysMu.Lock()
				ids = append(ids, id)
				keysMu.Unlock()
			})
		}
	})

	start := time.Now()
	var samples []soakSample
	sample := func() {
		s := soakSample{at: time.Since(start).Round(time.Second), acked: acked.Load(), rssKB: procRSS(pid)}
		if resp, err := http.Get(c.p.url + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			text := string(b)
			s.processed = metricSum(text, "hookgate_plugin_runs_total")
			s.backlog = metricSum(text, "hookgate_queue_depth")
			s.heapMB = metricSum(text, "go_memstats_heap_inuse_bytes") / (1 << 20)
			s.goroutines = metricSum(text, "go_goroutines")
			s.fds = metricSum(text, "process_open_fds")
		}
		if fi, err := os.Stat(filepath.Join(c.dir, "data", "hookgate.db")); err == nil {
			s.dbKB = fi.Size() >> 10
		}
		samples = append(samples, s)
	}
	sample()
	tick := time.NewTicker(every)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-tick.C:
			sample()
		}
	}
	tick.Stop()
	wg.Wait()
	c.drained(2 * time.Minute)
	sample()
	c.term()

	var table strings.Builder
	fmt.Fprintf(&table, "| time | acked | plugin runs | backlog | RSS MiB | heap MiB | goroutines | open fds | store MiB |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range samples {
		fmt.Fprintf(&table, "| %v | %d | %.0f | %.0f | %.1f | %.1f | %.0f | %.0f | %.1f |\n",
			s.at, s.acked, s.processed, s.backlog, float64(s.rssKB)/1024, s.heapMB, s.goroutines, s.fds, float64(s.dbKB)/1024)
	}
	t.Logf("soak: %v at %d deliveries/s, %d acked, %d failed\n%s", duration, rate, acked.Load(), failed.Load(), table.String())
	if out := os.Getenv("HOOKGATE_SOAK_OUT"); out != "" {
		os.WriteFile(out, []byte(table.String()), 0o644)
	}

	// Every acknowledged delivery was processed (kv counters outlive the
	// delivery log's retention).
	store := c.openStore()
	lost := 0
	for _, id := range ids {
		if _, ok, err := store.KVGet(context.Background(), "record", id); err != nil || !ok {
			lost++
		}
	}
	if lost > 0 || failed.Load() > 0 {
		t.Errorf("%d acknowledged deliveries not processed, %d requests failed", lost, failed.Load())
	}

	// Flat: compare the last third with the middle third, after warm-up.
	var steady []soakSample
	for _, s := range samples[:len(samples)-1] { // the last one is after the drain
		if s.at >= time.Minute || duration < 3*time.Minute {
			steady = append(steady, s)
		}
	}
	if len(steady) < 6 {
		t.Logf("too few samples (%d) to judge flatness", len(steady))
		return
	}
	third := len(steady) / 3
	peak := func(ss []soakSample, f func(soakSample) float64) float64 {
		m := 0.0
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	mid, last := steady[third:2*third], steady[2*third:]
	for _, m := range []struct {
		name    string
		f       func(soakSample) float64
		rel, ab float64
	}{
		{"RSS", func(s soakSample) float64 { return float64(s.rssKB) }, 1.25, 0},
		{"heap", func(s soakSample) float64 { return s.heapMB }, 1.25, 2},
		{"goroutines", func(s soakSample) float64 { return s.goroutines }, 1.2, 10},
		{"open fds", func(s soakSample) float64 { return s.fds }, 1.2, 10},
	} {
		a, b := peak(mid, m.f), peak(last, m.f)
		if b > a*m.rel+m.ab {
			t.Errorf("%s grows: peak %.1f in the middle third, %.1f in the last", m.name, a, b)
		}
	}
}
