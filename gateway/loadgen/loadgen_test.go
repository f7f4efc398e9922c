package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	var other Histogram
	other.Record(5 * time.Second)
	h.Merge(&other)
	cases := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Microsecond},
		{0.9, 900 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, 5 * time.Second},
	}
	for _, tc := range cases {
		got := h.Quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < 0 || d > 0.008 {
			t.Errorf("q%.2f = %s, want %s (+0.8%% at most)", tc.q, got, tc.want)
		}
	}
	if h.Count() != 1001 || h.Max() != 5*time.Second {
		t.Errorf("count %d max %s", h.Count(), h.Max())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram is not zero")
	}
}

func TestBucketsCoverEveryValue(t *testing.T) {
	last := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		i := bucketOf(v)
		if i < last || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d (previous %d, buckets %d)", v, i, last, histBuckets)
		}
		if up := bucketUpper(i); up < v || float64(up-v) > float64(v)/128+1 {
			t.Errorf("value %d: bucket %d upper bound %d", v, i, up)
		}
		last = i
	}
}

func TestNewPayload(t *testing.T) {
	p, err := NewPayload(NoteHook, "Note Hook", "/retest now", "tok", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Attrs struct {
			Note string `json:"note"`
		} `json:"object_attributes"`
	}
	if err := json.Unmarshal(p.Body, &m); err != nil || m.Attrs.Note != "/retest now" {
		t.Fatalf("note = %q, %v", m.Attrs.Note, err)
	}
	h1 := p.headers("run-1", time.Unix(1700000000, 0))
	h2 := p.headers("run-2", time.Unix(1700000000, 0))
	get := func(h []header, name string) string {
		for _, x := range h {
			if x.name == name {
				return x.value
			}
		}
		return ""
	}
	if get(h1, "Idempotency-Key") == get(h2, "Idempotency-Key") {
		t.Error("two requests share an Idempotency-Key")
	}
	if get(h1, "X-Gitlab-Token") != "tok" || !strings.HasPrefix(get(h1, "webhook-signature"), "v1,") {
		t.Errorf("headers %v", h1)
	}
	bad := []struct{ body, event, note, key string }{
		{"not json", "Note Hook", "", ""},
		{`{"a":1}`, "Note Hook", "/x", ""},
		{`{"a":1}`, "", "", ""},
		{`{"a":1}`, "Note Hook", "", "nope"},
	}
	for _, b := range bad {
		if _, err := NewPayload([]byte(b.body), b.event, b.note, "", b.key); err == nil {
			t.Errorf("NewPayload(%q, %q, %q, %q) accepted", b.body, b.event, b.note, b.key)
		}
	}
}

func TestOnlyLoopback(t *testing.T) {
	for _, u := range []string{"http://example.com:80", "http://10.0.0.1:8080", "https://127.0.0.1:1", "127.0.0.1:80"} {
		if err := checkLoopback(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:1/", "http://[::1]:9"} {
		if err := checkLoopback(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP hookgate_queue_depth x
# TYPE hookgate_queue_depth gauge
hookgate_queue_depth{status="queued"} 12
hookgate_queue_depth{status="running"} 3
hookgate_deliveries_processed_total{status="done"} 40
hookgate_deliveries_processed_total{status="failed"} 2
process_resident_memory_bytes 1.048576e+08
`
	p, err := parseMetrics([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if p.Backlog != 15 || p.Processed != 42 || p.RSS != 100<<20 {
		t.Errorf("progress %+v", p)
	}
	if _, err := parseMetrics([]byte("process_resident_memory_bytes 1\n")); err == nil {
		t.Error("metrics without the backlog gauge accepted")
	}
}

// TestRunCountsAddUp: a few hundred requests against a server answering a
// mix of statuses; every request is counted once.
func TestRunCountsAddUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Idempotency-Key") == "" || !bytes.Contains(body, []byte("object_kind")) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch {
		case strings.HasSuffix(r.Header.Get("Idempotency-Key"), "7"):
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"id":"x","status":"duplicate"}`))
		case strings.HasSuffix(r.Header.Get("Idempotency-Key"), "3"):
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"no"}`))
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"x","status":"queued"}`))
		}
	}))
	defer srv.Close()
	p, err := NewPayload(NoteHook, "Note Hook", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range []string{ClientFast, ClientNetHTTP} {
		t.Run(client, func(t *testing.T) {
			res, err := Run(context.Background(), Options{URL: srv.URL, Payload: p, Conns: 4, Requests: 300, Client: client, Keys: KeysSequential})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != 300 || res.Errors != 0 {
				t.Fatalf("sent %d errors %d (%s)", res.Sent, res.Errors, res.FirstError)
			}
			var sum uint64
			for _, v := range res.Statuses {
				sum += v
			}
			if sum != 300 || res.Statuses["401"] != 30 || res.Statuses["200 duplicate"] != 30 || res.Statuses["202 queued"] != 240 {
				t.Errorf("statuses %v", res.Statuses)
			}
			if res.Accepted != 270 || res.Queued != 240 {
				t.Errorf("accepted %d queued %d", res.Accepted, res.Queued)
			}
			if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
				t.Errorf("latency %+v", res.Latency)
			}
		})
	}
	if _, err := Run(context.Background(), Options{URL: srv.URL, Payload: p, Requests: 1, Client: "curl"}); err == nil {
		t.Error("unknown client accepted")
	}
	if _, err := Run(context.Background(), Options{URL: srv.URL, Payload: p, Requests: 1, Keys: "uuid"}); err == nil {
		t.Error("unknown keys accepted")
	}
}

// By default every request carries its own random UUID as Idempotency-Key
// and webhook-id, as GitLab sends.
func TestRandomKeysAreUUIDs(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		dup := seen[key]
		seen[key] = true
		mu.Unlock()
		if u, err := uuid.Parse(key); err != nil || u.Version() != 4 || dup || r.Header.Get("webhook-id") != key {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	p, err := NewPayload(NoteHook, "Note Hook", "", "", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{URL: srv.URL, Payload: p, Conns: 4, Requests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != KeysRandom || res.Statuses["202"] != 200 || len(seen) != 200 {
		t.Fatalf("keys %q, statuses %v, %d distinct keys", res.Keys, res.Statuses, len(seen))
	}
}

// Resident memory is read every 100 ms whatever the backlog's poll
// interval, so that a peak of a fraction of a second is in the report.
func TestBriefMemoryPeakIsCaught(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	p, err := NewPayload(NoteHook, "Note Hook", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	peak := func(base int64) func() (int64, error) {
		return func() (int64, error) {
			if reads.Add(1) == 3 { // one read, about 300 ms in (RSS and AnonRSS alternate)
				return 300 << 20, nil
			}
			return base, nil
		}
	}
	res, err := Run(context.Background(), Options{
		URL: srv.URL, Payload: p, Conns: 2, Duration: 600 * time.Millisecond,
		PollEvery: time.Hour, RSS: peak(100 << 20), AnonRSS: peak(50 << 20),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.MaxRSS != 300<<20 && res.MaxAnonRSS != 300<<20 {
		t.Errorf("peak missed: max RSS %d MiB, anonymous %d MiB after %d reads", res.MaxRSS>>20, res.MaxAnonRSS>>20, reads.Load())
	}
}
