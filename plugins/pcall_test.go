package plugins

import (
	"context"
	"testing"
	"time"
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

// TestTailCallErrors: gopher-lua's traceback has a line per tail call made
// in a frame; errors after millions of tail calls must still fail fast.
func TestTailCallErrors(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"caught": `local function t(n) if n == 0 then error("deep", 0) end return t(n - 1) end
function handle() local ok, e = pcall(t, 2e6) return e end`,
		"uncaught": `local function t(n) if n == 0 then error("deep", 0) end return t(n - 1) end
function handle() return t(2e6) end`,
		"xpcall": `local function t(n) if n == 0 then error("deep", 0) end return t(n - 1) end
function handle() local ok, e = xpcall(function() return t(2e6) end, function(e) error("again", 0) end) return e end`,
	}, Options{})
	for name, want := range map[string]string{"caught": `"deep"`, "uncaught": "", "xpcall": `"again"`} {
		start := time.Now()
		r := s.Run(context.Background(), name, nil, nil)
		if name == "uncaught" {
			if r.Status != StatusError || errText(r.Err) != "deep" {
				t.Errorf("%s: %s %v", name, r.Status, r.Err)
			}
		} else if r.Status != StatusOK || string(r.Value) != want {
			t.Errorf("%s: %s %s %v", name, r.Status, r.Value, r.Err)
		}
		// 2e6 tail calls run in well under a second; a traceback of 2e6
		// lines would take seconds.
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s took %v", name, took)
		}
	}
}
