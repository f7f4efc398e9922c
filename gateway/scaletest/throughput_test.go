package scaletest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue/natsq/natstest"
)

// gitlabLatency is how long the fake GitLab takes to answer.
const gitlabLatency = 50 * time.Millisecond

// slowGitLab answers every note creation after gitlabLatency and counts
// them.
func slowGitLab(t *testing.T) (url string, notes *atomic.Int64) {
	notes = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" && r.URL.Path == "/api/v4/projects/g/p" {
			// Each replica checks the project's id once, then caches it.
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id": 5, "path_with_namespace": "g/p"}`)
			return
		}
		time.Sleep(gitlabLatency)
		if r.Method != "POST" || r.URL.Path != "/api/v4/projects/5/merge_requests/1/notes" {
			t.Errorf("fake GitLab: unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		notes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": 1, "body": "ok"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, notes
}

// startReplica runs a hookgate process on the nats backend whose reply
// plugin comments on gitlabURL.
func startReplica(t *testing.T, natsURL, stream, gitlabURL string, workers int) string {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	writeFiles(t, dir, map[string]string{
		"hookgate.toml": fmt.Sprintf(`
[server]
listen = %q
shutdown_grace = "5s"
[queue]
backend = "nats"
url = [%q]
stream = %q
subject = %q
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok"
[[gitlab]]
url = %q
token = "bot-token"
rate_per_minute = 1000000
notes_per_minute = 1000000
[rules]
paths = ["rules/*.toml"]
watch = false
[plugins]
dir = "plugins"
[workers]
count = %d
[log]
level = "warn"
format = "text"
`, addr, natsURL, stream, "tp."+stream, gitlabURL, workers),
		"rules/reply.toml":  "[[rule]]\nname = \"reply\"\non = [\"note\"]\nplugin = \"reply\"\n",
		"plugins/reply.lua": "function handle(event, params)\n  gitlab.comment(\"seen \" .. event.id)\nend\n",
	})
	p := startProcess(t, binary(t), stream+"-replica", filepath.Join(dir, "hookgate.toml"), addr)
	return p.url
}

// TestThroughputGrowsWithReplicas measures events per second through 1, 2
// and 3 replica processes (4 workers each) whose plugin comments on a
// GitLab that takes 50 ms to answer: the work is waiting, so each replica
// adds its workers' worth of throughput (ideal: 80, 160, 240 events/s).
func TestThroughputGrowsWithReplicas(t *testing.T) {
	const workers = 4
	events := 240
	if testing.Short() {
		events = 120
	}
	srv := natstest.Start(t)
	rates := map[int]float64{}
	for n := 1; n <= 3; n++ {
		t.Run(fmt.Sprintf("replicas=%d", n), func(t *testing.T) {
			gitlabURL, notes := slowGitLab(t)
			stream := fmt.Sprintf("TP%d", n)
			var urls []string
			for range n {
				urls = append(urls, startReplica(t, srv.URL, stream, gitlabURL, workers))
			}
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					c := newClient()
					for i := int(next.Add(1)) - 1; i < events; i = int(next.Add(1)) - 1 {
						a := post(c, urls[i%n], noteEventOn(gitlabURL, "hello "+strconv.Itoa(i)), fmt.Sprintf("tp-%d-%d", n, i))
						if !a.ok() || a.Status != "queued" {
							t.Errorf("event %d: %+v", i, a)
						}
					}
				})
			}
			wg.Wait()
			waitFor(t, 60*time.Second, "every event processed", func() bool { return notes.Load() >= int64(events) })
			took := time.Since(start)
			rates[n] = float64(events) / took.Seconds()
			t.Logf("%d replica(s) x %d workers, GitLab latency %s: %d events in %s = %.0f events/s",
				n, workers, gitlabLatency, events, took.Round(time.Millisecond), rates[n])
		})
	}
	if len(rates) == 3 {
		t.Logf("events/s: 1 replica %.0f, 2 replicas %.0f (x%.2f), 3 replicas %.0f (x%.2f)",
			rates[1], rates[2], rates[2]/rates[1], rates[3], rates[3]/rates[1])
		if rates[2] < 1.3*rates[1] || rates[3] < 1.6*rates[1] {
			t.Errorf("throughput does not grow with replicas: %.0f, %.0f, %.0f events/s", rates[1], rates[2], rates[3])
		}
	}
}
