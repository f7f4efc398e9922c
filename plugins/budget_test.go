package plugins

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// dagLua builds t, a table whose six levels each hold one table 24 times:
// 145 tables in Lua, 24^6 = 191 million leaves once expanded. Before
// conversions had budgets, log.info("x", {x = t}) ran 9 s past a 3 s
// timeout and died out of memory.
const dagLua = `local t = { leaf = "x" }
for level = 1, 6 do
  local n = {}
  for i = 1, 24 do n[i] = t end
  t = n
end
`

// measure runs f and returns how long it took and how many bytes the
// process allocated meanwhile (no test in this package runs in parallel).
func measure(f func()) (time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return took, after.TotalAlloc - before.TotalAlloc
}

// TestConversionBudgets: every path that converts Lua data into Go stops
// a shared structure at its budget, fast and with little memory, and says
// which limit it met; the state serves the next run.
func TestConversionBudgets(t *testing.T) {
	cases := map[string]struct{ src, err string }{
		"log_fields":    {`log.info("x", { x = t })`, "log_fields.lua:8: log.info: fields: too large (max 65536 values)"},
		"log_list":      {`log.warn("x", t)`, "log_list.lua:8: log.warn: fields: too large (max 65536 values)"},
		"json_encode":   {`return json.encode(t)`, "json_encode.lua:8: json.encode: too large (max 1048576 bytes)"},
		"result":        {`return t`, "result.lua: handle's result: too large (max 65536 bytes)"},
		"result_string": {`return ("x"):rep(100000)`, "result_string.lua: handle's result: too large (max 65536 bytes)"},
		"error_table":   {`error(t)`, "error value: too large (max 8192 bytes)"},
		"error_big":     {`error({ why = ("x"):rep(100000) })`, "error value: too large (max 8192 bytes)"},
	}
	files := map[string]string{"healthy": `function handle() return { ok = true } end`}
	for name, c := range cases {
		files[name] = dagLua + "function handle()\n  " + c.src + "\nend\n"
	}
	s := mustLoad(t, files, Options{Timeout: 10 * time.Second, PoolSize: 1})
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var r Result
			took, alloc := measure(func() { r = s.Run(context.Background(), name, nil, nil) })
			if r.Status != StatusError || errText(r.Err) != c.err {
				t.Errorf("got %s %q, want error %q", r.Status, errText(r.Err), c.err)
			}
			// Unbudgeted, log_fields took 9 s past the timeout and
			// gigabytes; within budget it is milliseconds and a few MB.
			if took > raceBound(2*time.Second, 8*time.Second) || alloc > 64<<20 {
				t.Errorf("took %v and allocated %d MiB", took, alloc>>20)
			}
			if r := s.Run(context.Background(), "healthy", nil, nil); r.Status != StatusOK {
				t.Errorf("next run: %s %v", r.Status, r.Err)
			}
		})
	}
}

// TestLogVolumeDrops: shared strings count at every use in log fields
// too; a line that does not fit in what is left of the run's log is
// dropped and counted before it is walked or cut, so logging in a loop
// costs little once the log is full, and never fails the run.
func TestLogVolumeDrops(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"wide": `function handle()
  local s, f = ("x"):rep(8192), {}
  for i = 1, 64 do f["k" .. i] = s end
  log.info("512 KiB of fields", f)
  log.info("small", { n = 1 })
end`,
		"loop": `function handle()
  local s = ("y"):rep(1e6)
  for i = 1, 1e5 do log.info(s, { s = s, i = i }) end
end`,
	}, Options{Timeout: 10 * time.Second})
	r := s.Run(context.Background(), "wide", nil, nil)
	if r.Status != StatusOK || len(r.Logs) != 2 || r.Logs[0].Message != "small" || r.Logs[1].Message != "log: 1 more lines dropped (limit 1000 per run)" {
		t.Errorf("wide line: %s %v %+v", r.Status, r.Err, r.Logs)
	}
	// Outside a run (a file's top level, at load) there is no log to
	// keep: a wide line is dropped all the same.
	mustLoad(t, map[string]string{"top": `local s, f = ("x"):rep(8192), {}
for i = 1, 64 do f["k" .. i] = s end
log.info("top level", f)
function handle() end`}, Options{})
	took, alloc := measure(func() { r = s.Run(context.Background(), "loop", nil, nil) })
	kept := 0
	for _, l := range r.Logs {
		if l.Level == "warn" {
			break
		}
		kept += len(l.Message) + len(l.Fields["s"].(string))
	}
	// 15 lines of 16 KiB fit in 256 KiB. Converting and cutting each of
	// the 99,985 others took 1.7 GB and 2 s.
	if r.Status != StatusOK || len(r.Logs) != 16 || kept > MaxLogBytes || alloc > 512<<20 || took > raceBound(2*time.Second, 10*time.Second) {
		t.Errorf("loop: %s, %d lines, %d bytes kept; took %v, allocated %d MiB", r.Status, len(r.Logs), kept, took, alloc>>20)
	}
}

// TestConversionWithinBudget: what a plugin sanely converts passes, shared
// tables included, and converts as before.
func TestConversionWithinBudget(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `function handle()
  local shared = { a = 1, b = { "x", "y" } }
  log.info("fields", { one = shared, two = shared, list = { shared, shared }, null = json.null })
  return { enc = json.encode({ shared, shared }), again = shared, too = shared }
end`}, Options{})
	r := s.Run(context.Background(), "p", nil, nil)
	want := `{"again":{"a":1,"b":["x","y"]},"enc":"[{\"a\":1,\"b\":[\"x\",\"y\"]},{\"a\":1,\"b\":[\"x\",\"y\"]}]","too":{"a":1,"b":["x","y"]}}`
	if r.Status != StatusOK || string(r.Value) != want {
		t.Fatalf("got %s %s %v", r.Status, r.Value, r.Err)
	}
	f := r.Logs[0].Fields
	if len(f) != 4 || f["null"] != nil || f["list"].([]any)[1].(map[string]any)["b"].([]any)[0] != "x" {
		t.Errorf("fields %#v", f)
	}
}

// TestBudgetStopsAtDeadline: a conversion looks at its context while it
// walks, so one started just before the deadline does not run past it.
func TestBudgetStopsAtDeadline(t *testing.T) {
	st := testState(t)
	L := st.L
	leaf := L.NewTable()
	for i := 1; i <= 100; i++ {
		leaf.Append(lua.LNumber(i))
	}
	top := L.NewTable()
	for i := 1; i <= 100; i++ {
		top.Append(leaf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := &Budget{What: "test", Ctx: ctx}
	if _, err := b.ToGo(top); !errors.Is(err, context.Canceled) {
		t.Errorf("ToGo after the deadline: %v", err)
	}
	if _, err := encodeJSON(top, jsonBudget(ctx, "test", 0), nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("encodeJSON after the deadline: %v", err)
	}
	// Without the deadline, the same walk counts every visit.
	b = &Budget{What: "test"}
	if _, err := b.ToGo(top); err != nil {
		t.Fatal(err)
	}
	if v, by := b.Used(); v != 1+100+100*100 || by != 100*100*8 {
		t.Errorf("used %d values, %d bytes", v, by)
	}
}

// TestErrorTextCapped: an error's text is cut to MaxErrorBytes, marked,
// and still tells a retry from a failure.
func TestErrorTextCapped(t *testing.T) {
	big := `local s = ("x"):rep(1048576) s = s .. s .. s .. s `
	s := mustLoad(t, map[string]string{
		"err":   `function handle() ` + big + `error(s, 0) end`,
		"pos":   `function handle() ` + big + `error(s) end`,
		"retry": `function handle() ` + big + `retry(s, 5) end`,
		"small": `function handle() error("small") end`,
	}, Options{})
	for name, status := range map[string]string{"err": StatusError, "pos": StatusError, "retry": StatusRetry} {
		r := s.Run(context.Background(), name, nil, nil)
		msg := errText(r.Err)
		if r.Status != status || len(msg) > MaxErrorBytes || !strings.HasSuffix(msg, "…(truncated)") {
			t.Errorf("%s: %s, %d bytes: %.40q...%q", name, r.Status, len(msg), msg, msg[max(len(msg)-20, 0):])
		}
		if _, ok := IsRetry(r.Err); ok != (status == StatusRetry) {
			t.Errorf("%s: IsRetry = %v", name, ok)
		}
	}
	if r := s.Run(context.Background(), "retry", nil, nil); r.RetryAfter != 5*time.Second {
		t.Errorf("retry after %v", r.RetryAfter)
	}
	if r := s.Run(context.Background(), "small", nil, nil); errText(r.Err) != "small.lua:1: small" {
		t.Errorf("small error: %q", errText(r.Err))
	}
}
