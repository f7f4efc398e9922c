package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// callGo calls a Go binding on st's state in protected mode with a 1s
// deadline, as a script would, and returns its results. A Go panic inside
// the binding (not a Lua error it raised) fails the test.
func callGo(t *testing.T, st *state, fn lua.LGFunction, args ...lua.LValue) ([]lua.LValue, error) {
	L := st.L
	L.SetTop(0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	L.Push(L.NewFunction(fn))
	for _, a := range args {
		L.Push(a)
	}
	err := L.PCall(len(args), lua.MultRet, nil)
	var api *lua.ApiError
	if errors.As(err, &api) && api.Type == lua.ApiErrorPanic {
		t.Fatalf("binding panicked: %v", api.Object)
	}
	out := make([]lua.LValue, L.GetTop())
	for i := range out {
		out[i] = L.Get(i + 1)
	}
	L.SetTop(0)
	return out, err
}

// FuzzJSONDecode checks json.decode against encoding/json: it accepts what
// encoding/json accepts (up to the nesting cap) and gives the same values,
// refuses the rest, and what it decodes json.encode writes back to a
// document that decodes to the same values.
func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `null`, `"\ud83d\ude00 \u00e9"`, `{"a":[1,2.5e10,-0,true,null,"x"]}`, `[[[[]]]]`, `{"a":1,"a":2}`, "\"\xff\"", `1e400`, `{"":{"":{}}}`} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st := fuzzState(t)
		lv, err := decodeJSON(context.Background(), st.L, data)
		var want any
		werr := json.Unmarshal(data, &want)
		if err != nil {
			if werr == nil && !strings.Contains(err.Error(), "nesting deeper") {
				t.Fatalf("refused what encoding/json takes: %v", err)
			}
			return
		}
		if werr != nil {
			t.Fatalf("accepted what encoding/json refuses (%v)", werr)
		}
		got, err := ToGo(lv)
		if err != nil {
			t.Fatalf("ToGo: %v", err)
		}
		gotUTF8, collided := luaBytes(got)
		if collided {
			// Two keys differing only in invalid UTF-8 ("\x8c0", "\x900"):
			// json.decode keeps both (Lua strings are bytes), encoding/json
			// makes both U+FFFD and keeps the last, and json.encode writes
			// both as U+FFFD. Neither comparison below has one answer.
			return
		}
		if g, w := normalize(gotUTF8), normalize(luaShape(want)); !reflect.DeepEqual(g, w) {
			t.Fatalf("decoded differently\n got %#v\nwant %#v", g, w)
		}
		out, err := encodeJSON(lv, jsonBudget(nil, "fuzz", 0), st.null, nil)
		if err != nil {
			t.Fatalf("json.encode of a decoded value: %v", err)
		}
		again, err := decodeJSON(context.Background(), st.L, out)
		if err != nil {
			t.Fatalf("decoding %q: %v", out, err)
		}
		back, _ := ToGo(again)
		// json.encode writes invalid UTF-8 as U+FFFD.
		if !reflect.DeepEqual(normalize(back), normalize(gotUTF8)) {
			t.Fatalf("round trip changed the value\n got %#v\nwant %#v", normalize(back), normalize(got))
		}
	})
}

// luaShape is what a value decoded by encoding/json looks like once in
// Lua: a null array item leaves a hole (trailing ones vanish), and an array
// with holes is a table with number keys, which ToGo gives back as a map.
func luaShape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = luaShape(x)
		}
		return out
	case []any:
		for len(v) > 0 && v[len(v)-1] == nil {
			v = v[:len(v)-1]
		}
		holes := false
		out := make([]any, len(v))
		for i, x := range v {
			holes = holes || x == nil
			out[i] = luaShape(x)
		}
		if !holes {
			return out
		}
		m := map[string]any{}
		for i, x := range out {
			if x != nil {
				m[strconv.Itoa(i+1)] = x
			}
		}
		return m
	}
	return v
}

// luaBytes replaces each invalid UTF-8 byte of every string in v by
// U+FFFD, as encoding/json does (json.decode keeps a string's bytes).
// collided reports an object with two keys that the replacement makes one.
func luaBytes(v any) (out any, collided bool) {
	switch v := v.(type) {
	case string:
		return string([]rune(v)), false
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			r := string([]rune(k))
			_, dup := m[r]
			y, c := luaBytes(x)
			m[r], collided = y, collided || dup || c
		}
		return m, collided
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			y, c := luaBytes(x)
			a[i], collided = y, collided || c
		}
		return a, collided
	}
	return v, false
}

// fuzzStateOnce is one sandboxed state per fuzz process, reused across
// inputs (the fuzz function runs one input at a time per process).
var fuzzStateOnce *state

func fuzzState(t *testing.T) *state {
	if fuzzStateOnce == nil {
		s := &Set{opts: Options{MaxStringBytes: 1 << 16}.withDefaults()}
		st, err := s.newState()
		if err != nil {
			t.Fatal(err)
		}
		fuzzStateOnce = st
	}
	return fuzzStateOnce
}

// patternCheckSrc returns whether gsub(s, p, "%0") == s, gsub's count,
// gmatch's count (nil for an anchored pattern, which gmatch takes
// literally), and whether find found a match.
const patternCheckSrc = `
local s, p = ...
local r, n = string.gsub(s, p, "%0")
local m = nil
if p:sub(1, 1) ~= "^" then
  m = 0
  for _ in string.gmatch(s, p) do m = m + 1 end
end
return r == s, n, m, string.find(s, p) ~= nil
`

// patternCheck compiles patternCheckSrc once per state.
func patternCheck(t *testing.T, L *lua.LState) *lua.LFunction {
	if fn, ok := patternChecks[L]; ok {
		return fn
	}
	fn, err := L.LoadString(patternCheckSrc)
	if err != nil {
		t.Fatal(err)
	}
	patternChecks[L] = fn
	return fn
}

var patternChecks = map[*lua.LState]*lua.LFunction{}

// patternErrors are the errors the matcher raises on bad patterns.
var patternErrors = []string{"malformed pattern", "pattern too complex", "invalid capture", "invalid pattern capture",
	"unfinished capture", "too many captures", "missing", "pattern matching stopped", "string.gsub: result too large"}

// FuzzPattern checks the sandbox's pattern matcher on any subject and
// pattern: it never panics, fails only with its own errors, find's
// positions lie within the subject, and gsub with "%0" (each match replaced
// by itself) gives the subject back, with as many replacements as gmatch
// finds matches, none exactly when find finds none.
func FuzzPattern(f *testing.F) {
	for _, c := range [][2]string{
		{"hello world", "o w"}, {"key=value", "(%w+)=(%w+)"}, {"  trim  ", "^%s*(.-)%s*$"},
		{"f(a(b)c)d", "%b()"}, {"THE (quick) fox", "%f[%a]%a+"}, {"abcabc", "(a)(b)c%1%2"},
		{"x]y", "[]]"}, {"a-b", "[a-]+"}, {"aaab", "a-b"}, {"", "a*"}, {"abc", "()"}, {"/packit build", "^/(%S+)%s*(.*)$"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ".-.-.-.-b"}, {"[", "[%"}, {"a", "%"}, {"a", "(()"},
	} {
		f.Add(c[0], c[1], 1)
	}
	f.Fuzz(func(t *testing.T, src, pat string, init int) {
		if len(src) > 4096 || len(pat) > 256 {
			return
		}
		st := fuzzState(t)
		S, P := lua.LString(src), lua.LString(pat)
		known := func(err error) {
			t.Helper()
			for _, e := range patternErrors {
				if strings.Contains(err.Error(), e) {
					return
				}
			}
			t.Fatalf("unexpected error: %v", err)
		}
		res, err := callGo(t, st, strFind, S, P, lua.LNumber(init))
		if err != nil {
			known(err)
			return
		}
		if res[0] != lua.LNil {
			i, j := int(res[0].(lua.LNumber)), int(res[1].(lua.LNumber))
			if i < 1 || j < i-1 || j > len(src) {
				t.Fatalf("find at %d,%d in %d bytes", i, j, len(src))
			}
		}
		if _, err := callGo(t, st, strMatch, S, P, lua.LNumber(init)); err != nil {
			known(err)
		}
		// The relations between find, gmatch and gsub, checked by a script
		// with the sandbox's own functions.
		L := st.L
		L.SetTop(0)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		L.SetContext(ctx)
		defer L.RemoveContext()
		L.Push(patternCheck(t, L))
		L.Push(S)
		L.Push(P)
		if err := L.PCall(2, 4, nil); err != nil {
			var api *lua.ApiError
			if errors.As(err, &api) && api.Type == lua.ApiErrorPanic {
				t.Fatalf("panicked: %v", api.Object)
			}
			known(err)
			return
		}
		same, gsubN, gmatchN, found := L.Get(1), L.Get(2), L.Get(3), L.Get(4)
		L.SetTop(0)
		if same != lua.LTrue {
			t.Fatalf("gsub(s, p, \"%%0\") changed the subject")
		}
		if gmatchN != lua.LNil && gsubN != gmatchN {
			t.Fatalf("gsub made %v replacements, gmatch found %v matches", gsubN, gmatchN)
		}
		if (found == lua.LFalse) != (gsubN == lua.LNumber(0)) {
			t.Fatalf("find found %v, gsub made %v replacements", found, gsubN)
		}
	})
}

// FuzzFormat checks the capped string.format on any format and arguments:
// it never panics and never returns more than the cap (64 KiB here).
func FuzzFormat(f *testing.F) {
	for _, c := range []string{"%5.2f|%-3d|%s|%q|%x|%%", "%99s", "%q", "% x", "%# x", "%[1]s%[1]s", "%*d", "%.99f", "%#v", "%c%c", "%", "%-+ #099.99e", "%s%s%s%s"} {
		f.Add(c, "abc\x00\xff", 3.25)
	}
	f.Fuzz(func(t *testing.T, format, arg string, num float64) {
		st := fuzzState(t)
		res, err := callGo(t, st, fuzzFormatFn(st), lua.LString(format), lua.LString(arg), lua.LNumber(num), lua.LString(arg))
		if err != nil {
			return // a refusal (too large, invalid format, bad argument)
		}
		if s, ok := res[0].(lua.LString); !ok || len(s) > 1<<16 {
			t.Fatalf("string.format(%q, ...) gave %d bytes (%T)", format, len(lua.LVAsString(res[0])), res[0])
		}
	})
}

// fuzzFormatFn is the sandbox's string.format on st.
func fuzzFormatFn(st *state) lua.LGFunction {
	strMod := st.L.G.Global.RawGetString(lua.StringLibName).(*lua.LTable)
	return strMod.Metatable.(*lua.LTable).RawGetString("__index").(*lua.LTable).RawGetString("format").(*lua.LFunction).GFunction
}
