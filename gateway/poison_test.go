package gateway_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// chaosTableBomb exhausts memory by table growth alone: no big string, no
// single long Go call, nothing the sandbox's caps see. Each instruction is
// cheap; the heap grows until the process dies under its address-space cap
// long before the plugin timeout.
const chaosTableBomb = `
function handle(event, params)
  local t, i = {}, 0
  while true do
    i = i + 1
    t[i] = { i, i, i, i }
  end
end
`

// TestPoisonAmidTraffic: one event whose plugin kills the process (memory
// exhausted by table growth) arrives in the middle of steady traffic. The
// harness restarts the process as a supervisor would; the event is
// quarantined after 3 attempts and every other event is processed, the
// runs cut short by the crashes bounding the ones run twice.
// (TestCrashLosesNothing covers a poison event on an idle gateway.)
func TestPoisonAmidTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, crashes it")
	}
	c := newChaos(t, map[string]string{
		"rules/r.toml": `
[[rule]]
name = "record"
on = ["note"]
when = 'has_command("/work")'
plugin = "record"

[[rule]]
name = "poison"
on = ["note"]
when = 'has_command("/poison")'
plugin = "poison"
`,
		"plugins/record.lua": chaosRecordPlugin,
		"plugins/poison.lua": chaosTableBomb,
	})
	c.note = func(key string) string {
		if key == "poison" {
			return "/poison"
		}
		return "/work " + key
	}
	c.pace = 80 * time.Millisecond // 8 clients: about 100 deliveries a second
	// The binary's address space is about 1.7 GB at rest (Go's reservations):
	// half a gigabyte of headroom lets the bomb kill it in a couple of seconds.
	c.limitKB = 2200000
	const n = 600
	keys := keyRange("p-", n)
	keys = append(keys[:50], append([]string{"poison"}, keys[50:]...)...)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.start()
	var acks atomic.Int64
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		c.drive(ctx, keys, 8, &acks)
	}()
	// Supervise: restart the process whenever it dies, until the traffic
	// is through and the poison event is quarantined.
	crashes, ackedAtCrash := 0, []int64{}
	var poisonID string
	for done := false; !done; {
		select {
		case <-driven:
			driven = nil
		case <-ctx.Done():
			t.Fatalf("not done after %d crashes", crashes)
		case <-time.After(20 * time.Millisecond):
		}
		if !c.p.alive() {
			crashes++
			ackedAtCrash = append(ackedAtCrash, acks.Load())
			if crashes > 5 {
				t.Fatal("process keeps dying: poison event not quarantined")
			}
			// The poison may kill it again before it answers: that is the
			// next crash, seen on the next turn.
			if err := c.tryStart(); err != nil && !errors.Is(err, errExitedAtStart) {
				t.Fatal(err)
			}
			continue
		}
		c.mu.Lock()
		poisonID = c.acked["poison"]
		c.mu.Unlock()
		if driven == nil && poisonID != "" {
			dead := c.p.list(queue.StatusDead)
			done = len(dead) == 1 && dead[0].ID == poisonID
		}
	}
	c.drained(time.Minute)
	c.term()

	store := c.openStore()
	bg := context.Background()
	requeued := 0
	for i := 2; i <= c.starts; i++ {
		requeued += c.requeuedAtStart(i)
	}
	var extra, killed int
	for key, id := range c.acked {
		d, err := store.Get(bg, id)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		killed += d.Attempts - d.Finished
		if key == "poison" {
			if d.Status != queue.StatusDead || !strings.HasPrefix(d.Error, "quarantined: 3 runs did not finish") || d.Attempts != 3 {
				t.Errorf("poison delivery: %s attempts %d %q", d.Status, d.Attempts, d.Error)
			}
			continue
		}
		v, ok, err := store.KVGet(bg, "record", id)
		runs, _ := strconv.Atoi(string(v))
		if err != nil || !ok || runs < 1 || d.Status != queue.StatusDone {
			t.Errorf("%s (%s) not processed: %s, %d runs, %v", key, id, d.Status, runs, err)
			continue
		}
		extra += runs - 1
	}
	if crashes != 3 {
		t.Errorf("process died %d times, want 3 (quarantine after 3 attempts)", crashes)
	}
	if len(c.acked) != n+1 {
		t.Errorf("%d deliveries acked, want %d", len(c.acked), n+1)
	}
	if killed != requeued {
		t.Errorf("runs cut short: %d per the delivery log, %d per the restart logs", killed, requeued)
	}
	// The poison's own 3 runs are among those cut short; the others were
	// in flight beside it.
	if extra > requeued-3 {
		t.Errorf("%d extra runs, more than the %d other runs cut short by the crashes", extra, requeued-3)
	}
	t.Logf("%d deliveries, crashes after %v acks, poison quarantined after %d crashes; others: all processed, %d runs cut short beside the poison, %d run twice",
		len(c.acked), ackedAtCrash, crashes, requeued-3, extra)
}
