package plugins

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/internal/fixtures"
	lua "github.com/yuin/gopher-lua"
)

func testState(t testing.TB) *state {
	t.Helper()
	s := &Set{opts: Options{}.withDefaults()}
	st, err := s.newState()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	return st
}

// normalize makes encoding/json's output comparable with ToGo's: numbers
// as float64, null members dropped (they decode to nil, i.e. absent).
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if x != nil {
				out[k] = normalize(x)
			}
		}
		return out
	case []any:
		if len(v) == 0 {
			return map[string]any{} // Lua has one empty table for [] and {}
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return v
}

// TestDecodeJSONMatchesEncodingJSON decodes real GitLab payloads with the
// hand-written decoder and compares with encoding/json.
func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range fixtures.All(t) {
		files = append(files, f.File)
	}
	st := testState(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal(data, &want); err != nil {
			continue // not JSON (some testdata files are not)
		}
		lv, err := decodeJSON(context.Background(), st.L, data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		got, err := ToGo(lv)
		if err != nil {
			t.Errorf("%s: ToGo: %v", f, err)
			continue
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Errorf("%s: decoded differently\n got %v\nwant %v", filepath.Base(f), normalize(got), normalize(want))
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	st := testState(t)
	ok := []struct{ in, want string }{
		{`"caf\u00e9 \ud83d\ude00 \/ \"q\" \\ \b\f\n\r\t"`, "\"caf\u00e9 \U0001F600 / \\\"q\\\" \\\\ \\b\\f\\n\\r\\t\""},
		{`"\ud83d x"`, "\"\ufffd x\""},
		{`"\ude00"`, "\"\ufffd\""},
		{`"\ud83d\u0041"`, "\"\ufffdA\""},
		{` [1, -0, 1e3, 1.5, -2.5E-1, 12345678901234567, 123456789012345] `, "[1,0,1000,1.5,-0.25,12345678901234568,123456789012345]"},
		{`{"a":[],"b":{},"c":null,"d":[null,2],"e":true,"f":false}`, `{"a":{},"b":{},"d":{"2":2},"e":true,"f":false}`},
		{`{"dup":1,"dup":2}`, `{"dup":2}`},
	}
	for _, c := range ok {
		lv, err := decodeJSON(nil, st.L, []byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		b, err := encodeJSON(lv, jsonBudget(nil, "json", 0), nil, nil)
		if err != nil || string(b) != c.want {
			t.Errorf("%s: got %s %v, want %s", c.in, b, err, c.want)
		}
	}
	bad := map[string]string{
		`{"a":}`:                     "invalid character '}' looking for a value at offset 5",
		`[1,]`:                       "invalid character ']' looking for a value",
		`{"a" 1}`:                    "expected ':' after object key",
		`{a:1}`:                      "expected string for object key",
		`"\x"`:                       `invalid escape \x`,
		`"\u12"`:                     `\u escape`,
		`tru`:                        "invalid literal",
		`01`:                         "invalid number at offset 0",
		`1.`:                         "invalid number",
		`-`:                          "invalid number",
		`"abc`:                       "unexpected end of input",
		"\"a\tb\"":                   "invalid control character",
		`{} x`:                       "after top-level value",
		``:                           "unexpected end of input",
		`[1 2]`:                      "expected ',' or ']'",
		strings.Repeat("[", 129):     "nesting deeper than 128",
		strings.Repeat(`{"a":`, 200): "nesting deeper than 128",
	}
	for in, want := range bad {
		if _, err := decodeJSON(nil, st.L, []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := "[" + strings.Repeat("1,", 10000) + "1]"
	if _, err := decodeJSON(ctx, st.L, []byte(big)); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled decode: %v", err)
	}
}

func TestEncodeJSON(t *testing.T) {
	st := testState(t)
	L := st.L
	tbl := func(kv ...any) *lua.LTable {
		t := L.NewTable()
		for i := 0; i < len(kv); i += 2 {
			t.RawSet(ToLua(L, kv[i]), ToLua(L, kv[i+1]))
		}
		return t
	}
	list := L.NewTable()
	list.Append(lua.LNumber(1))
	list.Append(lua.LString("two"))
	list.Append(lua.LTrue)
	cyclic := L.NewTable()
	cyclic.RawSetString("self", cyclic)
	holes := L.NewTable()
	holes.RawSetInt(1, lua.LNumber(1))
	holes.RawSetInt(3, lua.LNumber(3))
	cases := []struct {
		v    lua.LValue
		want string
		err  string
	}{
		{lua.LNil, "null", ""},
		{st.null, "null", ""},
		{lua.LNumber(42), "42", ""},
		{lua.LNumber(-1.5), "-1.5", ""},
		{lua.LNumber(1e300), "1e+300", ""},
		{lua.LNumber(math.NaN()), "", "cannot encode NaN"},
		{lua.LNumber(math.Inf(1)), "", "cannot encode +Inf"},
		{lua.LString("a\"b\\c\n\x01<>&\u2028é\xff"), `"a\"b\\c\n\u0001<>&\u2028é\ufffd"`, ""},
		{list, `[1,"two",true]`, ""},
		{L.NewTable(), `{}`, ""},
		{tbl("b", 1, "a", list, 10, "ten"), `{"10":"ten","a":[1,"two",true],"b":1}`, ""},
		{holes, `{"1":1,"3":3}`, ""},
		{tbl("f", L.NewFunction(func(*lua.LState) int { return 0 })), "", "cannot encode a function"},
		{tbl(true, 1), "", "cannot encode a table key of type boolean"},
		{cyclic, "", "cannot encode a table that contains itself"},
		{tbl("x", tbl("null", st.null)), `{"x":{"null":null}}`, ""},
	}
	for _, c := range cases {
		b, err := encodeJSON(c.v, jsonBudget(nil, "json", 0), st.null, nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: got %s %v, want error %q", c.v, b, err, c.err)
			}
			continue
		}
		if err != nil || string(b) != c.want {
			t.Errorf("%v: got %s %v, want %s", c.v, b, err, c.want)
		}
		if !json.Valid(b) {
			t.Errorf("%v: invalid JSON %s", c.v, b)
		}
	}
	if _, err := encodeJSON(lua.LString(strings.Repeat("x", 100)), jsonBudget(nil, "json", 50), nil, nil); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("size cap: %v", err)
	}
	deep := L.NewTable()
	cur := deep
	for i := 0; i < 200; i++ {
		next := L.NewTable()
		cur.RawSetString("a", next)
		cur = next
	}
	if _, err := encodeJSON(deep, jsonBudget(nil, "json", 0), nil, nil); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("depth cap: %v", err)
	}
}
