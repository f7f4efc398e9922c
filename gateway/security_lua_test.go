package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// luaDataCases are plugins that hand Lua data to Go in amounts no plugin
// needs (issue 18, break 4). Each must fail its own run quickly with an
// error naming what was too large and the limit, and store a bounded
// delivery log.
var luaDataCases = []struct {
	name string
	body string // handle's body
	errs []string
}{
	// A table holding one subtable 24 times, six levels deep: 145 tables,
	// 24^6 leaves once expanded. It ran 8.9 s past a 3 s timeout and
	// died out of memory.
	{"dag_log", `local t = { leaf = "x" }
  for level = 1, 6 do local n = {} for i = 1, 24 do n[i] = t end t = n end
  log.info("dag", { x = t })`,
		[]string{"dag_log.lua:4: log.info: fields: too large (max 65536 values)"}},
	// 64 KiB values under new keys until the deadline: 337 MB in one run.
	{"kv_fill", `local v = ("v"):rep(65536)
  for i = 1, 1e6 do kv.set("k" .. i, v) end`,
		[]string{"kv_fill.lua:3: kv.set: over the plugin's quota: 1048615 bytes (max 1048576)"}},
	// A 4 MiB error message was stored whole.
	{"big_error", `local s = ("x"):rep(1048576) s = s .. s .. s .. s
  error(s)`,
		[]string{"big_error.lua:3: xxxx", "…(truncated)"}},
	{"big_result", `return ("r"):rep(500000)`,
		[]string{"big_result.lua: handle's result: too large (max 65536 bytes)"}},
	// Dry run: nothing rate-limits the calls, every body is recorded.
	{"call_flood", `local b = ("z"):rep(20000)
  for i = 1, 1e5 do gitlab.comment(b) end`,
		[]string{"call_flood.lua:3: gitlab: POST /projects/5/merge_requests/1/notes: more than 1000 API calls in one run"}},
}

// TestLuaDataCannotExhaustTheGateway posts deliveries whose plugins try to
// exhaust memory or the delivery log through Lua data converted to Go: a
// shared-table log line, a kv store filled to the disk, a 4 MiB error, a
// huge result, a flood of dry-run calls, lines logged in a loop. Each run
// fails (or, for the log, is cut) well within the plugin timeout, the
// heap grows by less than 64 MiB meanwhile (measured), what the delivery
// log keeps is bounded, and the gateway keeps serving.
func TestLuaDataCannotExhaustTheGateway(t *testing.T) {
	const timeout = 5 * time.Second
	files := map[string]string{
		"plugins/normal.lua":    `function handle(event) return { note = event.note } end`,
		"plugins/log_flood.lua": "function handle()\n  local s = (\"y\"):rep(1e6)\n  for i = 1, 5000 do log.info(s, { s = s, i = i }) end\n  return \"logged\"\nend\n",
	}
	rules := "[[rule]]\nname = \"normal\"\non = [\"note\"]\nwhen = 'note == \"normal\"'\nplugin = \"normal\"\n" +
		"[[rule]]\nname = \"log_flood\"\non = [\"note\"]\nwhen = 'note == \"log_flood\"'\nplugin = \"log_flood\"\n"
	for _, c := range luaDataCases {
		files["plugins/"+c.name+".lua"] = "function handle(event, params)\n  " + c.body + "\nend\n"
		rules += fmt.Sprintf("[[rule]]\nname = %q\non = [\"note\"]\nwhen = 'note == %q'\nplugin = %q\n", c.name, c.name, c.name)
	}
	files["rules/lua.toml"] = rules
	f := newFakeGitLab(t) // no routes: the dry run must send nothing
	g := startGateway(t, gitlabConfig(f.URL, "", `dry_run = true
[rules]
paths = ["rules/*.toml"]
[plugins]
dir = "plugins"
timeout = "5s"
kv_max_bytes = "1MiB"
[workers]
count = 4
`), files)

	// The heap, sampled while the deliveries are processed.
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	names := []string{"log_flood"}
	for _, c := range luaDataCases {
		names = append(names, c.name)
	}
	ids := map[string]string{}
	for _, name := range names {
		r := g.post(t, withNote(t, name), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
		if r.Status != 202 {
			t.Fatalf("%s: post: %d %v", name, r.Status, r.Body)
		}
		ids[name] = r.Body["id"].(string)
	}
	deliveries := map[string]queue.Delivery{}
	sizes := map[string]int{}
	for _, name := range names {
		var raw []byte
		waitFor(t, timeout+10*time.Second, func() bool {
			raw = g.rawDelivery(t, ids[name])
			d := decodeDelivery(t, raw)
			deliveries[name] = d
			return d.Status.Final()
		})
		sizes[name] = len(raw)
	}
	took := time.Since(start)
	close(stop)
	sampler.Wait()
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("all runs final in %v; heap in use grew by at most %d MiB; %d MiB allocated meanwhile",
		took.Round(time.Millisecond), growth>>20, (end.TotalAlloc-base.TotalAlloc)>>20)
	if growth > 64<<20 {
		t.Errorf("the heap grew by %d MiB while the runs went on, want < 64 MiB", growth>>20)
	}
	// All of them, on 4 workers, end before one run's timeout would:
	// they fail at their limits, not at the deadline.
	if took > timeout+5*time.Second {
		t.Errorf("the deliveries took %v to finish", took)
	}

	for _, c := range luaDataCases {
		t.Run(c.name, func(t *testing.T) {
			d := deliveries[c.name]
			o := outcomeOf(t, d, c.name)
			if d.Status != queue.StatusFailed || o.Status != "error" {
				t.Fatalf("delivery %s, outcome %s: %.300s", d.Status, o.Status, o.Error)
			}
			for _, want := range c.errs {
				if !strings.Contains(o.Error, want) {
					t.Errorf("error %.300q does not contain %q", o.Error, want)
				}
			}
			if len(o.Error) > 8<<10 {
				t.Errorf("stored error of %d bytes", len(o.Error))
			}
			// Stopped by its limit (an error), not by the deadline (a
			// retry).
			if o.Duration >= timeout {
				t.Errorf("the run took %v of its %v", o.Duration, timeout)
			}
			// Everything the delivery log keeps of the run: its error,
			// logs, calls (bodies cut to 256 KiB in all) and result.
			if sizes[c.name] > 1<<20 {
				t.Errorf("the stored delivery is %d KiB", sizes[c.name]>>10)
			}
			t.Logf("%s: %v, %d KiB stored: %.120s", c.name, o.Duration.Round(time.Millisecond), sizes[c.name]>>10, o.Error)
		})
	}
	t.Run("log_flood", func(t *testing.T) {
		d := deliveries["log_flood"]
		o := outcomeOf(t, d, "log_flood")
		if o.Status != "ok" || len(o.Logs) == 0 || len(o.Logs) > 1001 {
			t.Fatalf("outcome %s with %d lines: %s", o.Status, len(o.Logs), o.Error)
		}
		last := o.Logs[len(o.Logs)-1]
		if last.Level != "warn" || !strings.HasPrefix(last.Message, "log: ") || !strings.Contains(last.Message, "more lines dropped") {
			t.Errorf("last line %+v", last)
		}
		if sizes["log_flood"] > 1<<20 {
			t.Errorf("the stored delivery is %d KiB", sizes["log_flood"]>>10)
		}
		t.Logf("log_flood: %d lines kept, %v, %d KiB stored", len(o.Logs), o.Duration.Round(time.Millisecond), sizes["log_flood"]>>10)
	})
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("the dry run sent %s", dump(reqs))
	}

	// Still serving, and the next event runs normally.
	resp, err := http.Get(g.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	d, _ := g.deliver(t, withNote(t, "normal"), "evt-lua-1")
	if o := outcomeOf(t, d, "normal"); d.Status != queue.StatusDone || string(o.Result) != `{"note":"normal"}` {
		t.Fatalf("normal event after the others: %s %+v", d.Status, o)
	}
}

// rawDelivery is the delivery as the admin API serves it.
func (g *testGateway) rawDelivery(t *testing.T, id string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", g.URL+"/api/v1/deliveries/"+id, nil)
	req.Header.Set("Authorization", "Bearer admin-tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

func decodeDelivery(t *testing.T, raw []byte) queue.Delivery {
	t.Helper()
	var d queue.Delivery
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("delivery %.200s: %v", raw, err)
	}
	return d
}
