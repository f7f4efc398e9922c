package scaletest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/natsq"
	"github.com/hookgate/hookgate/gateway/queue/natsq/natstest"
)

const (
	replicaWorkers = 8
	scaleStream    = "SCALE"
	scaleSubject   = "scale.deliveries"
)

// countPlugin increments kv[event.id]: how many times the event ran.
const countPlugin = `
function handle(event, params)
  local n = tonumber(kv.get(event.id) or "0")
  kv.set(event.id, tostring(n + 1))
  return { n = n + 1 }
end
`

func replicaConfig(addr, natsURL string) string {
	return fmt.Sprintf(`
[server]
listen = %q
shutdown_grace = "2s"
[queue]
backend = "nats"
url = [%q]
stream = %q
subject = %q
ack_wait = "5s"
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok"
[rules]
paths = ["rules/*.toml"]
watch = false
[plugins]
dir = "plugins"
timeout = "2s"
[workers]
count = %d
[log]
level = "warn"
format = "text"
[fairness]
# Thousands of commands from one user: this test measures the pipeline,
# not the command limits.
commands_per_user = -1
commands_per_project = -1
`, addr, natsURL, scaleStream, scaleSubject, replicaWorkers)
}

// keyResult is every answer given for one idempotency key.
type keyResult struct {
	mu      sync.Mutex
	answers []answer
	failed  int // attempts that got no answer (the replica was killed)
}

// TestReplicasShareWorkAndSurviveKill runs 3 hookgate processes on one
// JetStream stream and sends them 10,000 deliveries (1,500 with -short)
// from 32 concurrent clients; every tenth key is also sent, at the same
// moment, to a second replica. When a third of the deliveries are
// acknowledged, one replica is killed with SIGKILL; clients whose request
// it was holding send it again to another replica, as a load balancer
// would. At the end: every acknowledged delivery was processed, the two
// copies of a key got one "queued" and one "duplicate" naming the same id,
// and an event ran more than once only if a run of it died with the killed
// replica.
func TestReplicasShareWorkAndSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Log("short: 1,500 deliveries instead of 10,000")
	}
	total := 10000
	if testing.Short() {
		total = 1500
	}
	srv := natstest.Start(t)
	bin := binary(t)
	var procs []*process
	for i := range 3 {
		dir := t.TempDir()
		addr := freeAddr(t)
		writeFiles(t, dir, map[string]string{
			"hookgate.toml":     replicaConfig(addr, srv.URL),
			"rules/count.toml":  "[[rule]]\nname = \"count\"\non = [\"note\"]\nplugin = \"count\"\n",
			"plugins/count.lua": countPlugin,
		})
		procs = append(procs, startProcess(t, bin, fmt.Sprintf("replica-%d", i), filepath.Join(dir, "hookgate.toml"), addr))
	}

	results := make([]keyResult, total)
	var acked, dupAnswers atomic.Int64
	killAt := int64(total / 3)
	killed := make(chan struct{})
	var killOnce sync.Once
	// send delivers key i, starting with replica r and moving on to the
	// next live one when a replica gives no answer.
	send := func(c *http.Client, i, r int) {
		body := noteEvent("/count " + strconv.Itoa(i))
		key := "key-" + strconv.Itoa(i)
		res := &results[i]
		for try := 0; try < 30; try++ {
			p := procs[(r+try)%3]
			a := post(c, p.url, body, key)
			if !a.ok() {
				res.mu.Lock()
				res.failed++
				res.mu.Unlock()
				continue
			}
			res.mu.Lock()
			res.answers = append(res.answers, a)
			res.mu.Unlock()
			if a.Status == "duplicate" {
				dupAnswers.Add(1)
			}
			if acked.Add(1) == killAt {
				killOnce.Do(func() { go func() { procs[0].kill(); close(killed) }() })
			}
			return
		}
		t.Errorf("key %d: no replica answered", i)
	}

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			c := newClient()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if i%10 == 0 { // the same key to two replicas at once
					var pair sync.WaitGroup
					pair.Go(func() { send(c, i, i%3) })
					pair.Go(func() { send(newClient(), i, (i+1)%3) })
					pair.Wait()
					continue
				}
				send(c, i, i%3)
			}
		})
	}
	wg.Wait()
	sent := time.Since(start)
	<-killed

	// A store in the test process reads the log and the plugin's keys; it
	// claims nothing.
	store, err := natsq.Open(t.Context(), natsq.Options{
		URLs: []string{srv.URL}, Stream: scaleStream, Subject: scaleSubject,
		AckWait: 5 * time.Second, Policy: queue.Policy{SweepInterval: -1}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitFor(t, 90*time.Second, "every delivery processed", func() bool {
		b, err := store.Backlog(t.Context())
		return err == nil && b.Queued == 0 && b.Running == 0
	})
	took := time.Since(start)

	// Per key: one id, at most one "queued" (none only if the request
	// that stored it died with the killed replica).
	ids := make([]string, 0, total)
	noQueued := 0
	for i := range results {
		res := &results[i]
		if len(res.answers) == 0 {
			continue
		}
		queued := 0
		for _, a := range res.answers {
			if a.ID != res.answers[0].ID {
				t.Fatalf("key %d: answers name %s and %s", i, a.ID, res.answers[0].ID)
			}
			if a.Status == "queued" {
				queued++
			} else if a.Status != "duplicate" {
				t.Fatalf("key %d: answer %+v", i, a)
			}
		}
		if queued > 1 {
			t.Fatalf("key %d stored %d times: %+v", i, queued, res.answers)
		}
		if queued == 0 {
			noQueued++
			if res.failed == 0 {
				t.Fatalf("key %d: only duplicates, yet no request for it was lost: %+v", i, res.answers)
			}
		}
		if i%10 == 0 && len(res.answers) != 2 {
			t.Fatalf("key %d: sent twice, answered %d times", i, len(res.answers))
		}
		ids = append(ids, res.answers[0].ID)
	}
	if len(ids) != total {
		t.Fatalf("%d of %d keys acknowledged", len(ids), total)
	}

	// Every acknowledged delivery processed; more than once only when a
	// run of it died with the killed replica (counted in Attempts).
	var mu sync.Mutex
	twice, cut := 0, 0
	var check sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, id := range ids {
		sem <- struct{}{}
		check.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := store.Get(ctx, id)
			if err != nil {
				t.Errorf("get %s: %v", id, err)
				return
			}
			v, _, err := store.KVGet(ctx, "count", id)
			if err != nil {
				t.Errorf("kv %s: %v", id, err)
				return
			}
			runs, _ := strconv.Atoi(string(v))
			if d.Status != queue.StatusDone || runs < 1 {
				t.Errorf("delivery %s: status %s, ran %d times", id, d.Status, runs)
			}
			if runs-1 > d.Attempts-d.Finished {
				t.Errorf("delivery %s ran %d times with %d attempts, %d finished: processed twice without a crash",
					id, runs, d.Attempts, d.Finished)
			}
			mu.Lock()
			if runs > 1 {
				twice++
			}
			cut += d.Attempts - d.Finished
			mu.Unlock()
		})
	}
	check.Wait()
	if cut > replicaWorkers {
		t.Errorf("%d runs cut short, more than the killed replica's %d workers", cut, replicaWorkers)
	}
	t.Logf("%d deliveries (%d keys sent twice) over 3 replicas, one SIGKILLed after %d acks: "+
		"sent in %s, all processed in %s (%.0f/s); %d answered duplicate; %d acknowledged only as a duplicate "+
		"(their first request died with the replica); %d runs cut by the kill, %d events processed twice",
		total, (total+9)/10, killAt, sent.Round(time.Millisecond), took.Round(time.Millisecond),
		float64(total)/took.Seconds(), dupAnswers.Load(), noQueued, cut, twice)
}
