package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestRunContract pins what each way of ending handle turns into.
func TestRunContract(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"value":      `function handle(e, p) return { mr = e.merge_request.iid, chroots = p.chroots, empty = {} } end`,
		"scalar":     `function handle() return "done" end`,
		"nothing":    `function handle() end`,
		"errstr":     "function handle()\n  error(\"no access for \" .. 'root')\nend",
		"errlevel0":  `function handle() error("plain", 0) end`,
		"errtable":   `function handle() error({ code = 42, reason = "denied" }) end`,
		"errnil":     `function handle() error(nil) end`,
		"errnoarg":   `function handle() error() end`,
		"retry":      `function handle() retry("pipeline busy", 30) end`,
		"retry0":     `function handle() retry("again") end`,
		"badresult":  `function handle() return { f = function() end } end`,
		"runtimeerr": "function handle(e)\n  local x = nil\n  return x.y\nend",
	}, Options{})
	env := noteEnvelope(t)
	params := map[string]any{"chroots": []any{"fedora-rawhide-x86_64"}}
	cases := []struct {
		plugin     string
		status     string
		value      string
		err        string
		retryAfter time.Duration
	}{
		{"value", StatusOK, `{"chroots":["fedora-rawhide-x86_64"],"empty":{},"mr":1}`, "", 0},
		{"scalar", StatusOK, `"done"`, "", 0},
		{"nothing", StatusOK, ``, "", 0},
		{"errstr", StatusError, ``, "errstr.lua:2: no access for root", 0},
		{"errlevel0", StatusError, ``, "plain", 0},
		{"errtable", StatusError, ``, `{"code":42,"reason":"denied"}`, 0},
		{"errnil", StatusError, ``, "error(nil)", 0},
		{"errnoarg", StatusError, ``, "errnoarg.lua:1: bad argument #1 to error (value expected)", 0},
		{"retry", StatusRetry, ``, "retry.lua:1: retry: pipeline busy (after 30s)", 30 * time.Second},
		{"retry0", StatusRetry, ``, "retry0.lua:1: retry: again", 0},
		{"badresult", StatusError, ``, "badresult.lua: handle's result: f: cannot encode a function", 0},
		{"runtimeerr", StatusError, ``, "runtimeerr.lua:3: attempt to index a non-table object(nil) with key 'y'", 0},
	}
	for _, c := range cases {
		t.Run(c.plugin, func(t *testing.T) {
			r := s.Run(context.Background(), c.plugin, env, params)
			if r.Status != c.status || string(r.Value) != c.value || errText(r.Err) != c.err || r.RetryAfter != c.retryAfter {
				t.Fatalf("got status %q value %s err %q after %v\nwant status %q value %s err %q after %v",
					r.Status, r.Value, errText(r.Err), r.RetryAfter, c.status, c.value, c.err, c.retryAfter)
			}
			if _, isRetry := IsRetry(r.Err); isRetry != (c.status == StatusRetry) {
				t.Errorf("IsRetry(%v) = %v", r.Err, isRetry)
			}
			if r.Duration <= 0 {
				t.Errorf("duration not measured")
			}
		})
	}
	if r := s.Run(context.Background(), "missing", env, nil); r.Status != StatusError || !strings.Contains(errText(r.Err), `no plugin "missing"`) {
		t.Errorf("unknown plugin: %+v", r)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestRaiseFromBinding: Go bindings fail runs with Raise; a RetryError
// raised there makes the run retryable and keeps its delay.
func TestRaiseFromBinding(t *testing.T) {
	fake := Module{Name: "fake", Open: func(L *lua.LState) *lua.LTable {
		t := L.NewTable()
		t.RawSetString("busy", L.NewFunction(func(L *lua.LState) int {
			Raise(L, fmt.Errorf("gitlab: %w", Retry("429 too many requests", 7*time.Second)))
			return 0
		}))
		t.RawSetString("denied", L.NewFunction(func(L *lua.LState) int {
			Raise(L, errors.New("gitlab: 403 forbidden"))
			return 0
		}))
		t.RawSetString("panics", L.NewFunction(func(L *lua.LState) int {
			var m map[string]int
			m["x"] = 1
			return 0
		}))
		return t
	}}
	s := mustLoad(t, map[string]string{
		"busy":    "function handle()\n  fake.busy()\nend",
		"denied":  `function handle() fake.denied() end`,
		"caught":  `function handle() local ok, err = pcall(fake.denied) return tostring(err) end`,
		"panics":  `function handle() fake.panics() end`,
		"healthy": `function handle() return 1 end`,
	}, Options{Modules: []Module{fake}})
	ctx := context.Background()
	r := s.Run(ctx, "busy", nil, nil)
	if r.Status != StatusRetry || r.RetryAfter != 7*time.Second || errText(r.Err) != "busy.lua:2: gitlab: retry: 429 too many requests (after 7s)" {
		t.Errorf("busy: %s %v %q", r.Status, r.RetryAfter, errText(r.Err))
	}
	r = s.Run(ctx, "denied", nil, nil)
	if r.Status != StatusError || errText(r.Err) != "denied.lua:1: gitlab: 403 forbidden" {
		t.Errorf("denied: %s %q", r.Status, errText(r.Err))
	}
	r = s.Run(ctx, "caught", nil, nil)
	if r.Status != StatusOK || string(r.Value) != `"caught.lua:1: gitlab: 403 forbidden"` {
		t.Errorf("caught: %s %s %v", r.Status, r.Value, r.Err)
	}
	r = s.Run(ctx, "panics", nil, nil)
	if r.Status != StatusError || !strings.Contains(errText(r.Err), "assignment to entry in nil map") {
		t.Errorf("panics: %s %q", r.Status, errText(r.Err))
	}
	if r := s.Run(ctx, "healthy", nil, nil); r.Status != StatusOK {
		t.Errorf("after a panicking binding: %+v", r)
	}
}

// TestTimeout: a script that never ends is stopped at the deadline, the run
// is retryable, and the set keeps serving.
func TestTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	s := mustLoad(t, map[string]string{
		"loop":      `function handle() while true do end end`,
		"pcallloop": `function handle() while true do pcall(function() while true do end end) end end`,
		"tailcall":  `local function f() return f() end function handle() return f() end`,
		"pcalltail": `local function f() return f() end function handle() local ok, e = pcall(f) return e end`,
		"backtrack": `function handle() return string.find(string.rep("a", 20000), ".-.-.-.-.-b") end`,
		"healthy":   `function handle() return "ok" end`,
	}, Options{Timeout: timeout})
	for _, name := range []string{"loop", "pcallloop", "tailcall", "pcalltail", "backtrack"} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r := s.Run(context.Background(), name, nil, nil)
			took := time.Since(start)
			if r.Status != StatusRetry || errText(r.Err) != "retry: plugin timed out after 100ms" {
				t.Errorf("got %s %q", r.Status, errText(r.Err))
			}
			// Stopped by the deadline, not after running on (the slack is
			// for a loaded machine).
			if took > timeout+5*time.Second {
				t.Errorf("stopped after %v, deadline %v", took, timeout)
			}
			if r := s.Run(context.Background(), "healthy", nil, nil); r.Status != StatusOK {
				t.Errorf("set not serving after a timeout: %+v", r)
			}
		})
	}
}

// TestCallerCancel: a cancelled caller context (the gateway stopping) ends
// the run as retryable, not as the plugin's failure.
func TestCallerCancel(t *testing.T) {
	s := mustLoad(t, map[string]string{"loop": `function handle() while true do end end`}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() { done <- s.Run(ctx, "loop", nil, nil) }()
	time.Sleep(20 * time.Millisecond) // let it start; the result does not depend on it
	cancel()
	select {
	case r := <-done:
		if r.Status != StatusRetry || errText(r.Err) != "retry: run stopped: context canceled" {
			t.Errorf("got %s %q", r.Status, errText(r.Err))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop when its context was cancelled")
	}
}

// TestSandbox: each escape attempt ends in a clear error, quickly, and the
// set keeps serving.
func TestSandbox(t *testing.T) {
	cases := map[string]struct{ src, err string }{
		"os_execute":      {`os.execute("id")`, "with key 'execute'"},
		"io_open":         {`io.open("/etc/passwd")`, "with key 'open'"},
		"require":         {`require("os")`, "attempt to call a non-function object"},
		"load":            {`load("return 1")`, "attempt to call a non-function object"},
		"loadstring":      {`loadstring("return 1")`, "attempt to call a non-function object"},
		"dofile":          {`dofile("/etc/passwd")`, "attempt to call a non-function object"},
		"loadfile":        {`loadfile("/etc/passwd")`, "attempt to call a non-function object"},
		"getfenv":         {`return getfenv(tostring).os`, "attempt to call a non-function object"},
		"setfenv":         {`setfenv(1, {})`, "attempt to call a non-function object"},
		"collectgarbage":  {`collectgarbage()`, "attempt to call a non-function object"},
		"print":           {`print("hi")`, "attempt to call a non-function object"},
		"newproxy":        {`newproxy(true)`, "attempt to call a non-function object"},
		"module":          {`module("x")`, "attempt to call a non-function object"},
		"debug":           {`debug.getinfo(1)`, "with key 'getinfo'"},
		"package":         {`return package.loaded`, "with key 'loaded'"},
		"coroutine":       {`coroutine.create(function() end)`, "with key 'create'"},
		"channel":         {`channel.make()`, "with key 'make'"},
		"rep":             {`return string.rep("x", 1e9)`, "string.rep: result too large (max 1048576 bytes)"},
		"rep_method":      {`return ("x"):rep(1e9)`, "string.rep: result too large (max 1048576 bytes)"},
		"rep_huge":        {`return ("xy"):rep(1e300)`, "string.rep: result too large"},
		"format_width":    {`return string.format("%099999999d", 1)`, "invalid format (width or precision too long)"},
		"format_size":     {`local s = ("x"):rep(1e6) return string.format("%s%s", s, s)`, "string.format: result too large"},
		"concat":          {`local t = {} for i = 1, 3 do t[i] = ("x"):rep(1e6) end return table.concat(t)`, "table.concat: result too large"},
		"gsub_size":       {`return (("x"):rep(1e5):gsub(".", "yyyyyyyyyyyyyyyyyyyy"))`, "string.gsub: result too large"},
		"recursion":       {`local function f() return 1 + f() end return f()`, "stack overflow"},
		"unpack":          {`return unpack({}, 1, 1e8)`, "unpack: 100000000 results overflow the stack"}, // refused before pushing any
		"string_meta":     {`getmetatable("").__index.upper = nil`, "attempt to index a non-table object(boolean)"},
		"setmeta_string":  {`setmetatable("", {})`, "bad argument #1"},
		"setmeta_number":  {`setmetatable(1, {__index = function() return 1 end})`, "bad argument #1"},
		"readonly_string": {`string.upper = nil`, "attempt to modify read-only table string"},
		"readonly_log":    {`log.info = nil`, "attempt to modify read-only table log"},
		"rawset_string":   {`rawset(string, "upper", 1)`, "rawset: attempt to modify a read-only table"},
		"setmeta_proxy":   {`setmetatable(string, nil)`, "cannot change a protected metatable"},
		"env_meta":        {`setmetatable(_G, nil)`, "cannot change a protected metatable"},
		"event_meta":      {`return getmetatable(e)`, ""},
		"dump":            {`return string.dump(handle)`, "does not support the string.dump"},
	}
	files := map[string]string{"healthy": `function handle() return "ok" end`}
	for name, c := range cases {
		files[name] = "function handle(e)\n  " + c.src + "\nend"
	}
	// Each case is refused up front, in milliseconds (0.2 s at most under
	// -race on an idle 2-core machine): the bound catches one that works
	// its way to the cap first, with room for a loaded machine. The
	// timeout is past the bound, so such a case still ends.
	quick := raceBound(2*time.Second, 4*time.Second)
	s := mustLoad(t, files, Options{Timeout: 4 * quick})
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r := s.Run(context.Background(), name, nil, nil)
			if c.err == "" {
				if r.Status != StatusOK || string(r.Value) != "false" {
					t.Errorf("got %s %s %v", r.Status, r.Value, r.Err)
				}
			} else if r.Status != StatusError || !strings.Contains(errText(r.Err), c.err) {
				t.Errorf("got %s %q, want error containing %q", r.Status, errText(r.Err), c.err)
			}
			if took := time.Since(start); took > quick {
				t.Errorf("took %v", took)
			}
			if r := s.Run(context.Background(), "healthy", nil, nil); r.Status != StatusOK {
				t.Errorf("set not serving after %s: %+v", name, r)
			}
		})
	}
}

// TestHugeArrayIndex: gopher-lua would pad the array part up to the key
// (gigabytes); keys past maxArrayIndex go to the hash part instead.
func TestHugeArrayIndex(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `function handle()
  local t = {}
  t[67108863] = true
  t[1048577] = 2
  return { t[67108863], t[1048577] }
end`}, Options{})
	start := time.Now()
	r := s.Run(context.Background(), "p", nil, nil)
	if r.Status != StatusOK || string(r.Value) != "[true,2]" {
		t.Fatalf("got %s %s %v", r.Status, r.Value, r.Err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v", took)
	}
}

// TestNoLeakBetweenRuns: globals and top-level locals a run changes are not
// seen by the next run on the same pooled state.
func TestNoLeakBetweenRuns(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `
local calls = 0
function handle(e, p)
  calls = calls + 1
  local seen = { x = x, calls = calls, handle_was = type(_G.replaced) }
  x = "set by a run"
  _G.replaced = function() end
  e.note = "changed"
  p.added = true
  return seen
end`}, Options{PoolSize: 1})
	env := noteEnvelope(t)
	params := map[string]any{"a": 1}
	for i := 0; i < 3; i++ {
		r := s.Run(context.Background(), "p", env, params)
		if r.Status != StatusOK || string(r.Value) != `{"calls":1,"handle_was":"nil"}` {
			t.Fatalf("run %d: %s %s %v", i, r.Status, r.Value, r.Err)
		}
	}
	if env.Note != "/packit build" || len(params) != 1 {
		t.Errorf("a run changed the caller's envelope or params")
	}
	if got := s.plugins["p"].created.Load(); got != 1 {
		t.Errorf("%d states created, want 1 (reused)", got)
	}
}

// TestGlobals pins the exact globals a script sees and the contents of the
// libraries it gets: a change here is a change of the sandbox.
func TestGlobals(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `function handle() end`}, Options{
		Modules: []Module{{Name: "gitlab", Open: func(L *lua.LState) *lua.LTable { return L.NewTable() }}},
	})
	st, err := s.newState()
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	keys := func(t *lua.LTable) string {
		var ks []string
		t.ForEach(func(k, _ lua.LValue) { ks = append(ks, k.String()) })
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	want := strings.Join(append(append([]string{}, builtinGlobals...), "gitlab"), " ")
	ws := strings.Fields(want)
	sort.Strings(ws)
	if got := keys(st.L.G.Global); got != strings.Join(ws, " ") {
		t.Errorf("globals:\n got %s\nwant %s", got, strings.Join(ws, " "))
	}
	if got := strings.Join(builtinGlobals, " "); got != "_VERSION assert error getmetatable ipairs json kv log math next pairs pcall rawequal rawget rawset retry select setmetatable string table tonumber tostring type unpack xpcall" {
		t.Errorf("builtinGlobals changed: %s", got)
	}
	lib := func(name string) string {
		proxy := st.L.G.Global.RawGetString(name).(*lua.LTable)
		return keys(proxy.Metatable.(*lua.LTable).RawGetString("__index").(*lua.LTable))
	}
	libs := map[string]string{
		"string": "__index byte char dump find format gfind gmatch gsub len lower match rep reverse sub upper",
		"table":  "concat getn insert maxn remove sort",
		"math":   "abs acos asin atan atan2 ceil cos cosh deg exp floor fmod frexp huge ldexp log log10 max min mod modf pi pow rad random randomseed sin sinh sqrt tan tanh",
		"log":    "debug error info warn",
		"json":   "decode encode null",
		"kv":     "delete get set",
	}
	for name, want := range libs {
		if got := lib(name); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	// What a script sees besides: its own _G, nothing else.
	r := mustLoad(t, map[string]string{"p": `function handle()
  local own = {}
  for k in pairs(_G) do own[#own + 1] = k end
  table.sort(own)
  return own
end`}, Options{}).Run(context.Background(), "p", nil, nil)
	if string(r.Value) != `["_G","handle"]` {
		t.Errorf("script's own globals: %s %v", r.Value, r.Err)
	}
}

// TestPoolReuse: runs reuse pooled states; a failed run's state is
// discarded, not pooled.
func TestPoolReuse(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"p": `function handle(e, p) if p.fail then error("asked to") end return 1 end`,
	}, Options{PoolSize: 2})
	p := s.plugins["p"]
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if r := s.Run(ctx, "p", nil, nil); r.Status != StatusOK {
			t.Fatal(r.Err)
		}
	}
	if got := p.created.Load(); got != 1 {
		t.Errorf("created %d states for 10 sequential runs, want 1", got)
	}
	if r := s.Run(ctx, "p", nil, map[string]any{"fail": true}); r.Status != StatusError {
		t.Fatalf("got %+v", r)
	}
	if got := len(p.pool); got != 0 {
		t.Errorf("failed run's state went back to the pool (%d idle)", got)
	}
	s.Run(ctx, "p", nil, nil)
	if got := p.created.Load(); got != 2 {
		t.Errorf("created %d states, want 2", got)
	}
	s.Close()
	if got := len(p.pool); got != 0 {
		t.Errorf("Close left %d idle states", got)
	}
	if r := s.Run(ctx, "p", nil, nil); r.Status != StatusOK || len(p.pool) != 0 {
		t.Errorf("run after Close: %+v, %d pooled", r, len(p.pool))
	}
}

// TestConcurrentRuns: runs on several goroutines each see their own event
// and params (run with -race).
func TestConcurrentRuns(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `
function handle(e, p)
  g = p.n
  local s = 0
  for i = 1, 200 do s = s + i end
  log.info("run", { n = p.n })
  return { n = g, id = e.id, sum = s }
end`}, Options{PoolSize: 4})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := noteEnvelope(t)
			for i := 0; i < 50; i++ {
				n := w*1000 + i
				env.ID = fmt.Sprint("d", n)
				r := s.Run(context.Background(), "p", env, map[string]any{"n": n})
				var got struct {
					N   int    `json:"n"`
					ID  string `json:"id"`
					Sum int    `json:"sum"`
				}
				if err := json.Unmarshal(r.Value, &got); err != nil || got.N != n || got.ID != env.ID || got.Sum != 20100 || len(r.Logs) != 1 {
					errs <- fmt.Errorf("run %d: %s %s %v %v", n, r.Status, r.Value, r.Err, r.Logs)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.plugins["p"].created.Load(); got > 9 {
		t.Errorf("%d states for 8 goroutines", got)
	}
}
