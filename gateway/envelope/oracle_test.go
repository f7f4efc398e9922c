package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// oracleSeeds adds the shared fixtures, client-go's payloads and bodies
// that exercise the tree's corners: escaped and duplicate keys, lone
// surrogates, numbers fastfloat reads differently from strconv, arrays read
// by index, deep nesting.
func oracleSeeds(f *testing.F) {
	for _, fx := range loadFixtures(f, "") {
		body, err := os.ReadFile(fx.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fx.event, body)
	}
	for _, s := range []string{
		"", " ", "{", "[]", "[1,", `"x"`, "{}", `{"a":"\u00"}`,
		`{"object_\u006bind":"push","object_kind":"note","ref":"refs/heads/x"}`,
		`{"object_kind":"note","object_\u006bind":"push","event_name":"x","object_\u006bind":"tag_push"}`,
		`{"object_kind":"note","object_attributes":{"note":"/a \ud800 \udc00 \ud800\u0041 \udc00\ud800 \ud83d\ude00 \u00e9\n"}}`,
		`{"object_kind":"push","project":{"id":1.1e2},"user_id":1e3,"user":{"id":-0}}`,
		`{"object_kind":"merge_request","object_attributes":{"draft":0.0,"iid":"12 ","labels":[{"title":"a"},"b",3,null]},"labels":[]}`,
		`{"object_kind":"repository_update","changes":[{"ref":"refs/tags/v1","after":"abc"}]}`,
		`{"object_kind":"build","ref":"v1","tag":"true","sha":123456789012345678901234}`,
		`{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`,
		`{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`,
	} {
		f.Add("Note Hook", []byte(s))
	}
}

// FuzzNormalizeOracle checks that Normalize gives, for any input, what the
// former code (validate, fastjson, fill on fastjson's tree; in
// oracle_*_test.go) gave: the same envelope, or the same SyntaxError reason
// and offset.
func FuzzNormalizeOracle(f *testing.F) {
	oracleSeeds(f)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		got, err := Normalize(header, body, "")
		want, wantErr := oldNormalize(header, body, "")
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("error %v, the former code gave %v", err, wantErr)
		}
		if err != nil {
			var se, wantSE *SyntaxError
			if !errors.As(err, &se) || !errors.As(wantErr, &wantSE) || *se != *wantSE {
				t.Fatalf("error %#v, the former code gave %#v", err, wantErr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Fatalf("envelope differs from the former code's:\n got %s\nwant %s", g, w)
		}
	})
}

// FuzzTreeOracle checks the tree of any body the parser accepts against
// fastjson's: every value's type, string bytes, number text and int64 and
// float64 readings, and the member each key lookup finds, including after a
// lookup that misses (which makes fastjson compare unescaped keys from then
// on).
func FuzzTreeOracle(f *testing.F) {
	oracleSeeds(f)
	f.Fuzz(func(t *testing.T, _ string, body []byte) {
		var p parser
		if _, reason := p.parse(body); reason != "" {
			return
		}
		var fp fastjson.Parser
		fv, err := fp.ParseBytes(body)
		if err != nil {
			t.Fatalf("fastjson refuses what the parser accepts: %v", err)
		}
		compareTree(t, p.root(), fv, "$", len(body))
	})
}

// compareTree compares v with fastjson's fv, recursively. At an object, it
// looks up each key of the object in order, and a missing key before the
// (seed mod n+1)-th of them.
func compareTree(t *testing.T, v value, fv *fastjson.Value, path string, seed int) {
	t.Helper()
	wantKind := map[fastjson.Type]kind{
		fastjson.TypeObject: kindObject, fastjson.TypeArray: kindArray,
		fastjson.TypeString: kindString, fastjson.TypeNumber: kindNumber,
		fastjson.TypeTrue: kindTrue, fastjson.TypeFalse: kindFalse, fastjson.TypeNull: kindNull,
	}[fv.Type()]
	if v.kind() != wantKind {
		t.Fatalf("%s: kind %d, fastjson %s", path, v.kind(), fv.Type())
	}
	switch v.kind() {
	case kindString:
		want, _ := fv.StringBytes()
		if got := v.stringBytes(); !bytes.Equal(got, want) {
			t.Fatalf("%s: string %q, fastjson %q", path, got, want)
		}
	case kindNumber:
		if got, want := v.text(), fv.MarshalTo(nil); !bytes.Equal(got, want) {
			t.Fatalf("%s: number text %q, fastjson %q", path, got, want)
		}
		n, ok := v.int64()
		wantN, err := fv.Int64()
		if ok != (err == nil) || n != wantN {
			t.Fatalf("%s: int64 %d %v, fastjson %d %v", path, n, ok, wantN, err)
		}
		x, err := v.float64()
		wantX, wantErr := fv.Float64()
		if (err == nil) != (wantErr == nil) || math.Float64bits(x) != math.Float64bits(wantX) && !(math.IsNaN(x) && math.IsNaN(wantX)) {
			t.Fatalf("%s: float64 %v %v, fastjson %v %v", path, x, err, wantX, wantErr)
		}
	case kindArray:
		items, _ := fv.Array()
		if v.len() != len(items) {
			t.Fatalf("%s: %d items, fastjson %d", path, v.len(), len(items))
		}
		i := 0
		for it := range v.items() {
			compareTree(t, it, items[i], path+"["+strconv.Itoa(i)+"]", seed)
			if got := v.get(strconv.Itoa(i)); got != it || v.index(i) != it {
				t.Fatalf("%s: item %d by index is not the item", path, i)
			}
			i++
		}
		if v.get("-1").exists() || v.get(strconv.Itoa(i)).exists() || v.get("x").exists() {
			t.Fatalf("%s: an item out of range exists", path)
		}
	case kindObject:
		var keys []string
		end := v.p.nodes[v.i].next
		for i := v.i + 1; i < int(end); i = int(v.p.nodes[i].next) {
			n := v.p.nodes[i]
			keys = append(keys, string(unescape(nil, v.p.body[n.keyStart:n.keyEnd])))
		}
		miss := seed % (len(keys) + 1)
		for i, k := range keys {
			if i == miss {
				if v.get("\x00missing").exists() || fv.Get("\x00missing") != nil {
					t.Fatalf("%s: a missing key exists", path)
				}
			}
			got, want := v.get(k), fv.Get(k)
			if want == nil {
				t.Fatalf("%s: fastjson does not find key %q", path, k)
			}
			compareTree(t, got, want, path+"."+strconv.Quote(k), seed/7)
		}
	}
}

// TestUnescape pins how strings are unescaped: as fastjson's StringBytes,
// which differs from encoding/json for lone UTF-16 surrogates (the "json"
// column).
func TestUnescape(t *testing.T) {
	tests := []struct{ raw, want, json string }{
		{`plain`, "plain", "plain"},
		{`a\"b\\c\/d\b\f\n\r\te`, "a\"b\\c/d\b\f\n\r\te", "a\"b\\c/d\b\f\n\r\te"},
		{`\u00e9\u4e2d\u0000`, "é中\x00", "é中\x00"},
		{`\ud83d\ude00`, "😀", "😀"},
		// A lone surrogate at the end, or before text: kept as written.
		{`x\ud800`, `x\ud800`, "x\uFFFD"},
		{`\udc00y`, `\udc00y`, "\uFFFDy"},
		// A surrogate then another \u escape: one U+FFFD for both when they
		// are no valid pair.
		{`\ud800\u0041`, "\uFFFD", "\uFFFDA"},
		{`\udc00\ud800`, "\uFFFD", "\uFFFD\uFFFD"},
		{`\ud800\ud800\udc00`, "\uFFFD\\udc00", "\uFFFD𐀀"},
		{`\ud800\\u0041`, `\ud800\u0041`, "\uFFFD\\u0041"},
		{"\xff", "\xff", "\uFFFD"},
	}
	for _, tc := range tests {
		if got := string(unescape(nil, []byte(tc.raw))); got != tc.want {
			t.Errorf("unescape(%s) = %q, want %q", tc.raw, got, tc.want)
		}
		var fp fastjson.Parser
		fv, err := fp.Parse(`"` + tc.raw + `"`)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := fv.StringBytes(); string(b) != tc.want {
			t.Errorf("fastjson unescapes %s to %q, the test wants %q", tc.raw, b, tc.want)
		}
		var s string
		if err := json.Unmarshal([]byte(`"`+tc.raw+`"`), &s); err != nil || s != tc.json {
			t.Errorf("encoding/json unescapes %s to %q (%v), the test says %q", tc.raw, s, err, tc.json)
		}
	}
}

// TestMemberEscapedKeys pins fastjson's lookup order for keys that
// unescape alike: the raw match first, until a lookup misses.
func TestMemberEscapedKeys(t *testing.T) {
	var p parser
	body := []byte(`{"k\u0069nd":"escaped","kind":"raw"}`)
	if _, reason := p.parse(body); reason != "" {
		t.Fatal(reason)
	}
	root := p.root()
	if got := str(root.get("kind")); got != "raw" {
		t.Errorf("before a miss: %q, want the raw key's", got)
	}
	if root.get("other").exists() {
		t.Error("a missing key exists")
	}
	if got := str(root.get("kind")); got != "escaped" {
		t.Errorf("after a miss: %q, want the first unescaped key's", got)
	}
}

// TestNumberReadings pins num on numbers fastfloat reads differently from
// strconv: 1.1e2 is 110.00000000000001, not a whole number, so 0 (strconv
// and encoding/json read 110).
func TestNumberReadings(t *testing.T) {
	var p parser
	body := []byte(`{"a":1.1e2,"b":1e3,"c":-0,"d":12345678901234567890,"e":"7","f":-9223372036854775808,"g":0.5e1}`)
	if _, reason := p.parse(body); reason != "" {
		t.Fatal(reason)
	}
	root := p.root()
	for key, want := range map[string]int64{"a": 0, "b": 1000, "c": 0, "d": 0, "e": 7, "f": math.MinInt64, "g": 5} {
		if got := num(root.get(key)); got != want {
			t.Errorf("num(%s) = %d, want %d", key, got, want)
		}
	}
	if got := str(root.get("a")); got != "1.1e2" {
		t.Errorf("str of a number = %q, want its text", got)
	}
}
