package plugins

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPatterns pins the Lua 5.1 semantics of the sandbox's own find,
// match, gmatch and gsub.
func TestPatterns(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`string.find("hello world", "o w")`, "5,7"},
		{`string.find("hello", "l+")`, "3,4"},
		{`string.find("hello", "xyz")`, "nil"},
		{`string.find("hello", "")`, "1,0"},
		{`string.find("hello", "", 10)`, "6,5"},
		{`string.find("a.b", ".", 1, true)`, "2,2"},
		{`string.find("a.b", "%.")`, "2,2"},
		{`string.find("abc", "b", -1)`, "nil"},
		{`string.find("abc", "b", -2)`, "2,2"},
		{`string.find("key=value", "(%w+)=(%w+)")`, "1,9,key,value"},
		{`("abc"):find("b")`, "2,2"},
		{`string.match("key=value", "(%w+)=(%w+)")`, "key,value"},
		{`string.match("hello", "()ll()")`, "3,5"},
		{`string.match("  trim me  ", "^%s*(.-)%s*$")`, "trim me"},
		{`string.match("2024-01-02", "(%d+)-(%d+)-(%d+)")`, "2024,01,02"},
		{`string.match("hello", "^h")`, "h"},
		{`string.match("hello", "^e")`, "nil"},
		{`string.match("hello", "o$")`, "o"},
		{`string.match("hello$", "o%$")`, "o$"},
		{`string.match("a$b", "$b")`, "$b"},
		{`string.match("THE (quick) fox", "%((%a+)%)")`, "quick"},
		{`string.match("f(a(b)c)d", "%b()")`, "(a(b)c)"},
		{`string.match("THE (quick) fox", "%f[%a]%a+")`, "THE"},
		{`string.match("hello world", "%f[%w]%w+", 6)`, "world"},
		{`string.match("abcabc", "(a)(b)c%1%2")`, "a,b"},
		{`string.match("[test]", "[%[]")`, "["},
		{`string.match("a-b", "[a-]+")`, "a-"},
		{`string.match("x]y", "[]]")`, "]"},
		{`string.match("x=1, y=2", "[^,]+")`, "x=1"},
		{`string.match("Ab9_", "[%u%d_]+")`, "A"},
		{`string.match("z9", "[a-z][0-9]")`, "z9"},
		{`string.match("aaa", "a-b")`, "nil"},
		{`string.match("aaab", "a-b")`, "aaab"},
		{`string.match("aaa", "a*")`, "aaa"},
		{`string.match("", "a*")`, ""},
		{`string.match("abc", "a?b")`, "ab"},
		{`string.match("bc", "a?b")`, "b"},
		{`string.match("%d", "%%d")`, "%d"},
		{`string.match(" \t\n", "^%s+$")`, " \t\n"},
		{`string.match("a1!", "%W")`, "!"},
		{`string.match("0xBEEF", "0x(%x+)")`, "BEEF"},
		{`string.match("tab\there", "%c")`, "\t"},
		{`string.match("a.b", "%p")`, "."},
		{`string.match("abc", "%S+")`, "abc"},
		{`string.match("abc", "(b)(c)", 2)`, "b,c"},
		{`string.gsub("hello world", "o", "0")`, "hell0 w0rld,2"},
		{`string.gsub("hello world", "(%w+)", "<%1>")`, "<hello> <world>,2"},
		{`string.gsub("hello", "", "-")`, "-h-e-l-l-o-,6"},
		{`string.gsub("abc", "%w", "%0%0")`, "aabbcc,3"},
		{`string.gsub("hello world", "%w+", {hello = "HI"})`, "HI world,2"},
		{`string.gsub("hello world", "%w+", function(w) return w:upper() end)`, "HELLO WORLD,2"},
		{`string.gsub("hello world", "%w+", function(w) if w == "world" then return false end return 1 end)`, "1 world,2"},
		{`string.gsub("hello world", "o", "0", 1)`, "hell0 world,1"},
		{`string.gsub("  x  ", "^%s+", "")`, "x  ,1"},
		{`string.gsub("abc", ".", {a = 1})`, "1bc,3"},
		{`string.gsub("a,b", ",", "%%")`, "a%b,1"},
		{`string.gsub("abc", "b", 7)`, "a7c,1"},
		{`string.gsub("abc", "(b)()", "%2")`, "a3c,1"},
		{`(function() local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t + 1] = k .. v end return table.concat(t, ";") end)()`, "a1;b2"},
		{`(function() local n = 0 for w in ("abc"):gmatch("") do n = n + 1 end return n end)()`, "4"},
		{`(function() local t = {} for w in string.gfind("one two", "%a+") do t[#t + 1] = w end return table.concat(t, ",") end)()`, "one,two"},
	}
	files := map[string]string{}
	for i, c := range cases {
		files[fmt.Sprint("c", i)] = `
local function show(...)
  local t = {}
  for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
  return table.concat(t, ",")
end
function handle() return show(` + c.expr + `) end`
	}
	s := mustLoad(t, files, Options{})
	for i, c := range cases {
		r := s.Run(context.Background(), fmt.Sprint("c", i), nil, nil)
		want := `"` + strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`).Replace(c.want) + `"`
		if r.Status != StatusOK || string(r.Value) != want {
			t.Errorf("%s\n got %s %s %v\nwant %s", c.expr, r.Status, r.Value, r.Err, want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	cases := []struct{ expr, err string }{
		{`string.find("x", "[a")`, "malformed pattern (missing ']')"},
		{`string.find("x", "x%")`, "malformed pattern (ends with '%')"},
		{`string.match("x", "(x")`, "unfinished capture"},
		{`string.match("x", "x)")`, "invalid pattern capture"},
		{`string.match("x", "%1")`, "invalid capture index"},
		{`string.gsub("x", "x", "%2")`, "invalid capture index"},
		{`string.gsub("x", "x", true)`, "string/function/table expected"},
		{`string.gsub("x", "x", {x = true})`, "invalid replacement value (a boolean)"},
		{`string.match("x", "%b")`, "missing arguments to '%b'"},
		{`string.match("x", "%fx")`, "missing '[' after '%f' in pattern"},
		{`string.find(string.rep("a", 300), string.rep("a?", 300))`, "pattern too complex"},
		{`string.find("a", string.rep("(", 40) .. "a" .. string.rep(")", 40))`, "too many captures"},
	}
	files := map[string]string{}
	for i, c := range cases {
		files[fmt.Sprint("e", i)] = "function handle() return " + c.expr + " end"
	}
	s := mustLoad(t, files, Options{})
	for i, c := range cases {
		r := s.Run(context.Background(), fmt.Sprint("e", i), nil, nil)
		if r.Status != StatusError || !strings.Contains(errText(r.Err), c.err) {
			t.Errorf("%s: got %s %q, want %q", c.expr, r.Status, errText(r.Err), c.err)
		}
	}
}

// TestGsubLinear: gopher-lua's gsub copies the whole string per
// replacement (a million matches would take minutes); ours is one pass.
func TestGsubLinear(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `function handle()
  local s, n = string.gsub(string.rep("x", 1e6), "x", "y")
  return { #s, n, s:sub(1, 3) }
end`}, Options{Timeout: time.Minute})
	start := time.Now()
	r := s.Run(context.Background(), "p", nil, nil)
	if r.Status != StatusOK || string(r.Value) != `[1000000,1000000,"yyy"]` {
		t.Fatalf("got %s %s %v", r.Status, r.Value, r.Err)
	}
	// One pass takes 0.1 s (0.5 s under -race); a copy per match, minutes.
	// The bound leaves room for a loaded machine.
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %v", took)
	}
}
