package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/internal/testproc"
)

// process is a hookgate binary run by a test as a supervisor would.
type process struct {
	t      *testing.T
	bin    string
	cfg    string
	url    string
	cmd    *exec.Cmd
	exited chan error
	logs   *os.File
}

// buildBinary builds cmd/hookgate into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hookgate")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/hookgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary with its address space capped (so a plugin that
// exhausts memory kills it quickly) and waits until it answers /healthz.
func (p *process) start() {
	p.t.Helper()
	// bash execs the binary, which keeps bash's process group and death
	// signal: the gateway dies with the test, however the test ends.
	p.cmd = testproc.Command(p.t, "bash", "-c", "ulimit -v 3000000; exec \"$0\" serve --config \"$1\"", p.bin, p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan error, 1)
	go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(p.cmd, p.exited)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case err := <-p.exited:
			p.t.Fatalf("hookgate exited while starting: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatal("hookgate did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// alive reports whether the process is still running.
func (p *process) alive() bool {
	select {
	case err := <-p.exited:
		p.exited <- err
		return false
	default:
		return true
	}
}

func (p *process) list(status queue.Status) []queue.Delivery {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.url+"/api/v1/deliveries?limit=1000&status="+string(status), nil)
	req.Header.Set("Authorization", "Bearer admin-tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out struct{ Deliveries []queue.Delivery }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.Deliveries
}

func (p *process) send(body []byte, key string) (id string, ok bool) {
	req, _ := http.NewRequest("POST", p.url+"/hooks/gitlab", bytes.NewReader(body))
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "tok")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var m map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m["id"], resp.StatusCode == 202 || resp.StatusCode == 200
}

// TestCrashLosesNothing kills the real binary with SIGKILL while deliveries
// are arriving and being processed, restarts it on the same data file, and
// checks that every acknowledged delivery is processed; then a poison event
// that kills the process every time it runs is quarantined after 3 attempts
// while everything else keeps flowing.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	writeFiles(t, dir, map[string]string{
		"hookgate.toml": fmt.Sprintf(`
[server]
listen = %q
shutdown_grace = "2s"
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok"
[admin]
token = "admin-tok"
[rules]
paths = ["rules/*.toml"]
[plugins]
dir = "plugins"
timeout = "20s"
[workers]
count = 4
[fairness]
# Thousands of commands from one user: this test measures the pipeline,
# not the command limits.
commands_per_user = -1
commands_per_project = -1
`, addr),
		"rules/r.toml": `
[[rule]]
name = "work"
on = ["note"]
when = 'has_command("/work")'
plugin = "work"

[[rule]]
name = "poison"
on = ["note"]
when = 'has_command("/poison")'
plugin = "poison"
`,
		// a little CPU per event so some are in flight at each kill
		"plugins/work.lua": `
function handle(event, params)
  local x = 0
  for i = 1, 20000 do x = x + i end
  return { n = event.command.args[1] }
end
`,
		// exhausts memory: the process dies under its address-space cap
		"plugins/poison.lua": `
function handle(event, params)
  local t, s = {}, string.rep("x", 1000000)
  for i = 1, 100000 do t[i] = s .. i end
end
`,
	})
	logs, err := os.Create(filepath.Join(dir, "hookgate.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	p := &process{t: t, bin: buildBinary(t), cfg: filepath.Join(dir, "hookgate.toml"), url: "http://" + addr, logs: logs}
	defer func() {
		if p.alive() {
			p.kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("last log lines:\n%s", b)
		}
	}()

	const total, rounds = 900, 3
	var (
		mu    sync.Mutex
		acked = map[string]bool{} // delivery ids answered 2xx
		next  atomic.Int64
	)
	bodyWith := noteBodies(t)
	p.start()
	for round := range rounds {
		// 16 senders; the process is killed once this round's share is acked.
		var acksThisRound atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := next.Add(1)
					if n > total {
						return
					}
					id, ok := p.send(bodyWith(fmt.Sprintf("/work %d", n)), fmt.Sprintf("key-%d", n))
					if ok {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						acksThisRound.Add(1)
					}
				}
			})
		}
		// Wait for this round's acks, but not forever: if the senders
		// cannot get through, the checks below say what was lost.
		for waitUntil := time.Now().Add(60 * time.Second); acksThisRound.Load() < total/rounds/2 && next.Load() < total; {
			if time.Now().After(waitUntil) {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: only %d acks in 60s", round+1, acksThisRound.Load())
			}
			time.Sleep(time.Millisecond)
		}
		p.kill() // SIGKILL with requests and plugin runs in flight
		close(stop)
		wg.Wait()
		t.Logf("round %d: killed after %d acks", round+1, acksThisRound.Load())
		p.start()
	}
	// Send what is left on the restarted process.
	for n := next.Add(1); n <= total; n = next.Add(1) {
		if id, ok := p.send(bodyWith(fmt.Sprintf("/work %d", n)), fmt.Sprintf("key-%d", n)); ok {
			acked[id] = true
		}
	}

	// The poison event kills the process each time it runs; restart it as a
	// supervisor would until the event is quarantined.
	poisonID, ok := p.send(withNote(t, "/poison"), "poison")
	if !ok {
		t.Fatal("poison event not accepted")
	}
	crashes := 0
	deadline := time.Now().Add(60 * time.Second)
	for {
		if !p.alive() {
			crashes++
			if crashes > 5 {
				t.Fatal("process keeps dying: poison event not quarantined")
			}
			p.start()
			continue
		}
		dead := p.list(queue.StatusDead)
		if len(dead) == 1 && dead[0].ID == poisonID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poison event not quarantined; dead = %+v", dead)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if crashes != 3 {
		t.Errorf("process died %d times on the poison event, want 3 (quarantine after 3 attempts)", crashes)
	}

	// Every acknowledged delivery is processed.
	var done []queue.Delivery
	waitFor(t, 60*time.Second, func() bool {
		done = p.list(queue.StatusDone)
		return len(done) >= len(acked)
	})
	doneIDs := map[string]bool{}
	for _, d := range done {
		doneIDs[d.ID] = true
	}
	lost := 0
	for id := range acked {
		if !doneIDs[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged deliveries were not processed", lost, len(acked))
	}
	dead := p.list(queue.StatusDead)
	if len(dead) != 1 || dead[0].Error == "" {
		t.Fatalf("dead letters = %+v, want only the poison event with a reason", dead)
	}
	t.Logf("%d acknowledged, all processed; poison quarantined after %d crashes: %s", len(acked), crashes, dead[0].Error)

	// SIGTERM: a clean stop.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
}
