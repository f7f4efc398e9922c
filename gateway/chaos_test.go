package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/local"
	"github.com/hookgate/hookgate/internal/testproc"
)

// The chaos test's size. `task chaos` sets HOOKGATE_CHAOS=full for the
// issue's figures; a plain `go test` runs the short version (-short skips it).
type chaosSize struct {
	deliveries int // keys driven through the kill phase
	kills      int // SIGKILLs during it
	termPhase  int // keys driven through the SIGTERM phase
	senders    int // concurrent clients
}

func chaosSizing() chaosSize {
	if os.Getenv("HOOKGATE_CHAOS") == "full" {
		return chaosSize{deliveries: 10000, kills: 10, termPhase: 2000, senders: 32}
	}
	return chaosSize{deliveries: 1500, kills: 5, termPhase: 300, senders: 16}
}

const chaosWorkers = 4

// chaosRecordPlugin counts its runs per delivery in the kv store (the same
// bbolt file as the queue, namespace "record"), burns a little CPU so that
// runs are in flight at every kill, and makes one dry-run GitLab call.
const chaosRecordPlugin = `
function handle(event, params)
  local n = (tonumber(kv.get(event.id)) or 0) + 1
  kv.set(event.id, tostring(n))
  local x = 0
  for i = 1, 20000 do x = x + i end
  gitlab.comment("recorded " .. event.id)
  return { runs = n }
end
`

// chaos drives deliveries at a hookgate binary that is killed and
// restarted under it.
type chaos struct {
	t   *testing.T
	p   *process
	dir string

	client *http.Client
	body   []byte                  // a Note Hook whose note is "@NOTE@"
	note   func(key string) string // the note sent with a key; default "/work KEY"
	pace   time.Duration           // pause of each client after each acked key
	// limitKB, when set, caps the process's address space (ulimit -v)
	// instead of process.start's 3 GB; negative: no cap.
	limitKB int
	starts  int // processes started so far; logs are hookgate-<n>.log

	mu    sync.Mutex
	acked map[string]string // idempotency key -> delivery id answered 2xx
	dups  int               // 200 "duplicate" answers: stored, but the first answer was lost
}

// newChaos writes a configuration (4 workers, JSON logs, an admin token)
// with the given rule and plugin files, builds the binary, and kills it when
// the test ends (showing its last log lines if the test failed).
func newChaos(t *testing.T, files map[string]string) *chaos {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	files["hookgate.toml"] = fmt.Sprintf(`
[server]
listen = %q
read_timeout = "5s"
shutdown_grace = "20s"
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok"
[admin]
token = "admin-tok"
[rules]
paths = ["rules/*.toml"]
watch = false
[plugins]
dir = "plugins"
timeout = "20s"
[workers]
count = %d
[log]
format = "json"
[fairness]
# Thousands of commands from one user: this test measures the pipeline,
# not the command limits.
commands_per_user = -1
commands_per_project = -1
`, addr, chaosWorkers)
	writeFiles(t, dir, files)
	c := &chaos{
		t: t, dir: dir, acked: map[string]string{}, body: withNote(t, "@NOTE@"),
		p: &process{t: t, bin: buildBinary(t), cfg: filepath.Join(dir, "hookgate.toml"), url: "http://" + addr},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, DisableCompression: true}},
	}
	t.Cleanup(func() {
		if c.p.cmd != nil && c.p.alive() {
			c.p.kill()
		}
		if t.Failed() && c.starts > 0 {
			for n := 1; n <= c.starts; n++ {
				// A Go crash (not one of ours) shows where it began.
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("hookgate-%d.log", n)))
				for _, start := range []string{"\npanic: ", "\nfatal error: "} {
					if i := bytes.Index(b, []byte(start)); i >= 0 {
						t.Logf("start %d crashed:\n%s", n, b[i:min(len(b), i+3000)])
					}
				}
			}
			b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("hookgate-%d.log", c.starts)))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("last log lines:\n%s", b)
		}
	})
	return c
}

// openStore opens the stopped process's store file (for the kv counters
// and the delivery log), closed when the test ends.
func (c *chaos) openStore() *local.Store {
	c.t.Helper()
	store, err := local.Open(filepath.Join(c.dir, "data", "hookgate.db"), local.Options{Policy: queue.Policy{SweepInterval: -1}})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { store.Close() })
	return store
}

// procStatus reads VmSize and VmRSS (KiB) of a process.
func procStatus(pid int) (vmSize, vmRSS int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		for name, v := range map[string]*int64{"VmSize:": &vmSize, "VmRSS:": &vmRSS} {
			if rest, ok := strings.CutPrefix(line, name); ok {
				*v, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			}
		}
	}
	return vmSize, vmRSS
}

// start starts the binary with a log file of its own.
func (c *chaos) start() {
	c.t.Helper()
	if err := c.tryStart(); err != nil {
		c.t.Fatal(err)
	}
}

// errExitedAtStart: the process died before answering /healthz.
var errExitedAtStart = errors.New("hookgate exited while starting")

// tryStart is start, returning errExitedAtStart (wrapped) if the process
// died before it answered, as a crash-looping one does under a supervisor.
func (c *chaos) tryStart() error {
	c.t.Helper()
	c.starts++
	f, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("hookgate-%d.log", c.starts)))
	if err != nil {
		return err
	}
	c.t.Cleanup(func() { f.Close() })
	p := c.p
	p.logs = f
	// As process.start, with the cap of limitKB.
	limit := "3000000"
	switch {
	case c.limitKB > 0:
		limit = strconv.Itoa(c.limitKB)
	case c.limitKB < 0:
		limit = "unlimited"
	}
	p.cmd = testproc.Command(c.t, "bash", "-c", "ulimit -v "+limit+"; exec \"$0\" serve --config \"$1\"", p.bin, p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(p.cmd, p.exited)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-p.exited:
			p.exited <- err // kept for alive and kill
			return fmt.Errorf("%w: %v", errExitedAtStart, err)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("hookgate did not start within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logRecords returns the JSON log records of the n-th start with message msg.
func (c *chaos) logRecords(n int, msg string) []map[string]any {
	c.t.Helper()
	f, err := os.Open(filepath.Join(c.dir, fmt.Sprintf("hookgate-%d.log", n)))
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// requeuedAtStart is how many deliveries the n-th start found left running
// by the process before it: the runs in flight when that one died.
func (c *chaos) requeuedAtStart(n int) int {
	total := 0
	for _, rec := range c.logRecords(n, "deliveries left running by the previous process are queued again") {
		count, _ := rec["count"].(float64)
		total += int(count)
	}
	return total
}

// send posts one delivery; ok is true on a 2xx carrying a delivery id.
func (c *chaos) send(key string) (id string, dup, ok bool) {
	note := "/work " + key
	if c.note != nil {
		note = c.note(key)
	}
	body := bytes.Replace(c.body, []byte("@NOTE@"), []byte(note), 1)
	req, _ := http.NewRequest("POST", c.p.url+"/hooks/gitlab", bytes.NewReader(body))
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "tok")
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.client.Do(req)
	if err != nil {
		return "", false, false
	}
	defer resp.Body.Close()
	var m map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode/100 != 2 || m["id"] == "" {
		return "", false, false
	}
	return m["id"], m["status"] == "duplicate", true
}

// drive sends every key with concurrent clients, each key again and again
// (as an operator's replay would) until it is answered 2xx. acks counts
// the 2xx answers as they come. It returns when every key is acked or ctx
// ends.
func (c *chaos) drive(ctx context.Context, keys []string, senders int, acks *atomic.Int64) {
	work := make(chan string, len(keys))
	for _, k := range keys {
		work <- k
	}
	close(work)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for key := range work {
				for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
					id, dup, ok := c.send(key)
					if ok {
						c.mu.Lock()
						if prev, seen := c.acked[key]; seen && prev != id {
							c.t.Errorf("key %s answered with two ids: %s and %s", key, prev, id)
						}
						c.acked[key] = id
						if dup {
							c.dups++
						}
						c.mu.Unlock()
						acks.Add(1)
						time.Sleep(c.pace)
						break
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(backoff):
					}
				}
			}
		})
	}
	wg.Wait()
}

// count returns how many deliveries have status s: from the queue depth
// metric, or the delivery log (up to 1000) if the metric is missing.
func (c *chaos) count(s queue.Status) int {
	if resp, err := http.Get(c.p.url + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if n := metricSum(string(b), `hookgate_queue_depth{status="`+string(s)+`"}`); n >= 0 {
			return int(n)
		}
	}
	return len(c.p.list(s))
}

// drained waits until nothing is queued or running.
func (c *chaos) drained(d time.Duration) {
	c.t.Helper()
	waitFor(c.t, d, func() bool { return c.count(queue.StatusQueued) == 0 && c.count(queue.StatusRunning) == 0 })
}

// term sends SIGTERM and waits for a clean exit.
func (c *chaos) term() {
	c.t.Helper()
	_ = c.p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.p.exited:
		c.p.exited <- err
		if err != nil {
			c.t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		c.t.Fatal("no exit within 30s of SIGTERM")
	}
}

func keyRange(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	return keys
}

// TestChaosKillAndTerm drives deliveries at the real binary with
// concurrent clients, SIGKILLs it at random moments and restarts it on the
// same data, then stops it with SIGTERM under load. It checks that every
// delivery answered 2xx was processed (its plugin ran at least once), that
// the runs beyond the first are bounded by the runs the kills cut short,
// and that SIGTERM loses nothing and runs nothing twice.
//
// The bound: Claim durably counts an attempt before a run, Finish counts
// the run as finished, and the plugin's effect (its kv counter) is durable
// before Finish. A delivery's extra runs are therefore runs that never
// reached Finish: runs in flight when the process was killed. Each restart
// logs how many deliveries it found running (those exact runs); the test
// checks that they add up to the delivery log's unfinished runs and bound
// the extra runs, per delivery and in all.
func TestChaosKillAndTerm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, kills it under load")
	}
	size := chaosSizing()
	c := newChaos(t, map[string]string{
		"rules/r.toml":       "[[rule]]\nname = \"record\"\non = [\"note\"]\nplugin = \"record\"\n",
		"plugins/record.lua": chaosRecordPlugin,
	})
	// No address-space cap: the store of the full run maps a few hundred
	// MB on top of the 1.7 GB the Go runtime reserves at rest.
	c.limitKB = -1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	begin := time.Now()

	// Phase 1: SIGKILL at random moments under load.
	c.start()
	var acks atomic.Int64
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		c.drive(ctx, keyRange("k-", size.deliveries), size.senders, &acks)
	}()
	per := int64(size.deliveries / (size.kills + 1))
	for k := range int64(size.kills) {
		// Kill at a random moment of the k-th stretch of the stream:
		// mid-request, mid-run, mid-commit. The stretches keep each
		// restarted process serving a while before the next kill.
		at := per*(k+1) - rand.Int64N(per/2)
		waitFor(t, 60*time.Second, func() bool { return acks.Load() >= at })
		c.p.kill()
		t.Logf("kill %d: after %d acks", k+1, acks.Load())
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		c.start()
	}
	<-driven
	if ctx.Err() != nil {
		t.Fatal("phase 1 did not finish")
	}
	c.drained(2 * time.Minute)
	phase1 := time.Since(begin)

	// In flight at a kill: the deliveries the next start found running.
	// That is each worker's current run, plus runs whose outcome was not
	// recorded yet (a worker records it in the background, sharing the
	// commit of its next claim), so it can exceed the worker count.
	inFlight := make([]int, size.kills)
	sumInFlight := 0
	for k := range size.kills {
		inFlight[k] = c.requeuedAtStart(k + 2)
		sumInFlight += inFlight[k]
	}

	// Phase 2: SIGTERM under load. Running plugins finish, the backlog
	// stays queued; after the restart it is processed, nothing twice.
	termStart := c.starts
	var termAcks atomic.Int64
	driven = make(chan struct{})
	go func() {
		defer close(driven)
		c.drive(ctx, keyRange("t-", size.termPhase), size.senders, &termAcks)
	}()
	waitFor(t, 60*time.Second, func() bool { return termAcks.Load() >= int64(size.termPhase/2) })
	backlog := c.count(queue.StatusQueued)
	c.term()
	termAt := time.Now()
	t.Logf("SIGTERM after %d acks, %d queued", termAcks.Load(), backlog)
	c.start()
	if n := c.requeuedAtStart(c.starts); n != 0 {
		t.Errorf("after SIGTERM, %d deliveries were left running", n)
	}
	if len(c.logRecords(termStart, "stopped")) != 1 {
		t.Errorf("no clean \"stopped\" line after SIGTERM")
	}
	<-driven
	c.drained(2 * time.Minute)
	size1, rss := procStatus(c.p.cmd.Process.Pid)
	c.term()

	// Read the outcome straight from the store file.
	store := c.openStore()
	bg := context.Background()
	var lost, notDone, twice, extraRuns, killedRuns, termTwice, afterTerm int
	for key, id := range c.acked {
		v, ok, err := store.KVGet(bg, "record", id)
		if err != nil {
			t.Fatal(err)
		}
		runs, _ := strconv.Atoi(string(v))
		d, err := store.Get(bg, id)
		if err != nil {
			t.Fatalf("acked delivery %s (%s): %v", id, key, err)
		}
		if !ok || runs < 1 {
			lost++
			t.Errorf("acked delivery %s (key %s) never processed: %s attempts %d", id, key, d.Status, d.Attempts)
			continue
		}
		if d.Status != queue.StatusDone {
			notDone++
			t.Errorf("delivery %s: status %s (%s)", id, d.Status, d.Error)
		}
		unfinished := d.Attempts - d.Finished
		killedRuns += unfinished
		if runs > 1 {
			twice++
			extraRuns += runs - 1
		}
		if runs-1 > unfinished {
			t.Errorf("delivery %s ran %d times with only %d runs cut short", id, runs, unfinished)
		}
		if key[0] == 't' {
			if runs != 1 {
				termTwice++
			}
			if len(d.Outcomes) > 0 && d.Outcomes[0].Started.After(termAt) {
				afterTerm++
			}
		}
	}
	wantAcked := size.deliveries + size.termPhase
	if len(c.acked) != wantAcked {
		t.Errorf("%d keys acked, want %d", len(c.acked), wantAcked)
	}
	if killedRuns != sumInFlight {
		t.Errorf("runs cut short per the delivery log = %d, per the restart logs = %d", killedRuns, sumInFlight)
	}
	if extraRuns > sumInFlight {
		t.Errorf("%d extra runs, more than the %d runs in flight at the kills", extraRuns, sumInFlight)
	}
	if termTwice > 0 {
		t.Errorf("SIGTERM phase: %d deliveries processed more than once", termTwice)
	}
	t.Logf("%d deliveries acked (%d answered \"duplicate\" on a retry after a kill), %d kills in %v; lost %d, not done %d",
		len(c.acked), c.dups, size.kills, phase1.Round(time.Millisecond), lost, notDone)
	t.Logf("runs in flight (claimed, outcome not recorded) at each kill %v, sum %d, with %d workers; processed twice: %d deliveries, %d extra runs (bound: %d)",
		inFlight, sumInFlight, chaosWorkers, twice, extraRuns, sumInFlight)
	if fi, err := os.Stat(filepath.Join(c.dir, "data", "hookgate.db")); err == nil {
		t.Logf("at the end: store file %d MiB, process VmSize %d MiB, VmRSS %d MiB", fi.Size()>>20, size1>>10, rss>>10)
	}
	t.Logf("SIGTERM: %d queued at the stop, %d of %d processed after the restart, processed twice: %d",
		backlog, afterTerm, size.termPhase, termTwice)
}
