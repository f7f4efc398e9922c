package plugins

import (
	"context"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestPcall pins pcall and xpcall, which the sandbox reimplements.
func TestPcall(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `
function handle()
  local out = {}
  -- a closure made in a failed call keeps its upvalue
  local ok, err = pcall(function() local x = 41; f = function() return x + 1 end; error("e", 0) end)
  out.pcall = { ok, err, f() }
  out.pcall_ok = { pcall(function(a, b) return a + b, "two" end, 1, 2) }
  out.pcall_notfn = { pcall(42) }
  out.xpcall = { xpcall(function() error({ c = 1 }) end, function(e) return e.c + 1 end) }
  out.xpcall_ok = { xpcall(function() return "fine" end, function(e) return e end) }
  out.xpcall_bad_handler = { xpcall(function() error("a", 0) end, function(e) error("in handler", 0) end) }
  out.nested = { pcall(pcall, error, "inner") }
  return out
end`}, Options{})
	r := s.Run(context.Background(), "p", nil, nil)
	want := `{"nested":[true,false,"p.lua:12: inner"],"pcall":[false,"e",42],"pcall_notfn":[false,"attempt to call a number value"],"pcall_ok":[true,3,"two"],"xpcall":[false,2],"xpcall_bad_handler":[false,"in handler"],"xpcall_ok":[true,"fine"]}`
	if r.Status != StatusOK || string(r.Value) != want {
		t.Fatalf("got %s %s %v\nwant %s", r.Status, r.Value, r.Err, want)
	}
}

// TestTailCallErrors: errors after many tail calls, caught or not, are
// reported normally and fast. (gopher-lua's traceback has a line per tail
// call made in a frame; TestTimeout's tail-call cases show the sandbox
// skips it.)
func TestTailCallErrors(t *testing.T) {
	const calls = "5e5"
	tail := `local function t(n) if n == 0 then error("deep", 0) end return t(n - 1) end
local function fine(n) if n == 0 then return "done" end return fine(n - 1) end
`
	s := mustLoad(t, map[string]string{
		"baseline": tail + `function handle() return fine(` + calls + `) end`,
		"caught":   tail + `function handle() local ok, e = pcall(t, ` + calls + `) return e end`,
		"uncaught": tail + `function handle() return t(` + calls + `) end`,
		"xpcall":   tail + `function handle() local ok, e = xpcall(function() return t(` + calls + `) end, function(e) error("again", 0) end) return e end`,
	}, Options{Timeout: time.Minute})
	timed := func(name string) (Result, time.Duration) {
		start := time.Now()
		r := s.Run(context.Background(), name, nil, nil)
		return r, time.Since(start)
	}
	_, base := timed("baseline")
	for name, want := range map[string]string{"caught": `"deep"`, "uncaught": "", "xpcall": `"again"`} {
		r, took := timed(name)
		if name == "uncaught" {
			if r.Status != StatusError || errText(r.Err) != "deep" {
				t.Errorf("%s: %s %v", name, r.Status, r.Err)
			}
		} else if r.Status != StatusOK || string(r.Value) != want {
			t.Errorf("%s: %s %s %v", name, r.Status, r.Value, r.Err)
		}
		if took > 3*base+time.Second {
			t.Errorf("%s took %v; the tail calls alone take %v", name, took, base)
		}
	}
}

// TestPcallSkipsTraceback: the sandbox's protected calls never build
// gopher-lua's traceback (one line per tail call: a script looping on tail
// calls until its deadline would spend seconds and hundreds of megabytes
// failing).
func TestPcallSkipsTraceback(t *testing.T) {
	st := testState(t)
	L := st.L
	fn := L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("boom")
		return 0
	})
	L.Push(fn)
	err := st.pcall(0, 0)
	api, ok := err.(*lua.ApiError)
	if !ok || api.StackTrace != "" || strings.TrimSpace(api.Object.String()) != "boom" {
		t.Fatalf("got %#v", err)
	}
	// The stock PCall would have built one (what this guards against).
	L.Push(fn)
	if err := L.PCall(0, 0, nil); err.(*lua.ApiError).StackTrace == "" {
		t.Fatalf("stock PCall builds no traceback any more: the workaround may be dropped")
	}
	if L.GetTop() != 0 {
		t.Errorf("stack not balanced: %d", L.GetTop())
	}
}
