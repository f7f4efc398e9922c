package plugins

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// ToGo converts a Lua value to plain Go values: nil, bool, string, int64
// (integral numbers below 2^53), float64, []any (tables with keys exactly
// 1..n), map[string]any (other tables; number keys become strings).
// Functions, userdata, threads and cycles are errors. It applies the
// budget of a call's arguments (ArgBudget) without a deadline; bindings
// that have a run's context use ArgBudget(L.Context(), ...).ToGo.
func ToGo(v lua.LValue) (any, error) {
	return ArgBudget(nil, "ToGo").ToGo(v)
}

// ToGo converts v like the package's ToGo, counting what it visits and
// produces against b; it fails with a *LimitError past the budget. Every
// visit of a shared table or string counts.
func (b *Budget) ToGo(v lua.LValue) (any, error) {
	return toGo(v, b, nil, nil, 0)
}

// toGo is the conversion to Go values: null (json.null, if set) becomes
// nil, expand is called on each table first (event tables build their
// lazy fields), strings longer than cut (if > 0) are cut and marked.
func toGo(v lua.LValue, b *Budget, null lua.LValue, expand func(*lua.LTable) error, cut int) (any, error) {
	g := &goBuilder{cut: cut}
	w := walker{b: b, out: g, null: null, expand: expand}
	if err := w.value(v); err != nil {
		return nil, b.fail(err)
	}
	return g.root, nil
}

// goBuilder is the emitter that builds Go values. Its bytes are those of
// strings (as kept) and keys, and 8 per other scalar.
type goBuilder struct {
	cut   int
	stack []goFrame
	root  any
}

// goFrame is a list or map being filled; key is the member to fill next.
type goFrame struct {
	list []any
	obj  map[string]any
	key  string
}

func (g *goBuilder) verb() string { return "convert" }

func (g *goBuilder) put(v any) {
	if len(g.stack) == 0 {
		g.root = v
		return
	}
	f := &g.stack[len(g.stack)-1]
	if f.obj != nil {
		f.obj[f.key] = v
	} else {
		f.list = append(f.list, v)
	}
}

func (g *goBuilder) null() int          { g.put(nil); return 8 }
func (g *goBuilder) boolean(v bool) int { g.put(v); return 8 }

func (g *goBuilder) number(f float64) (int, error) {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		g.put(int64(f))
	} else {
		g.put(f)
	}
	return 8, nil
}

func (g *goBuilder) strSize(s string) int {
	if g.cut > 0 && len(s) > g.cut {
		return g.cut
	}
	return len(s)
}

func (g *goBuilder) str(s string) int {
	if g.cut > 0 {
		s = Truncate(s, g.cut)
	}
	g.put(s)
	return len(s)
}

func (g *goBuilder) beginArray(n int) int {
	g.stack = append(g.stack, goFrame{list: make([]any, 0, n)})
	return 0
}

func (g *goBuilder) beginObject(n int) int {
	g.stack = append(g.stack, goFrame{obj: make(map[string]any, n)})
	return 0
}

func (g *goBuilder) keySize(name string) int { return len(name) }

func (g *goBuilder) key(name string) int {
	g.stack[len(g.stack)-1].key = name
	return len(name)
}

func (g *goBuilder) end() int {
	f := g.stack[len(g.stack)-1]
	g.stack = g.stack[:len(g.stack)-1]
	if f.obj != nil {
		g.put(f.obj)
	} else {
		g.put(f.list)
	}
	return 0
}

// ToLua converts plain Go values (what encoding/json and TOML decoding
// produce: maps with string keys, slices, strings, numbers, bools, times)
// to Lua values. Slices become 1-based arrays; nil becomes nil; a
// time.Time becomes its RFC 3339 text; other values their fmt text.
func ToLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case lua.LValue:
		return v
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case uint64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case float32:
		return lua.LNumber(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return lua.LString(v)
		}
		return lua.LNumber(f)
	case json.RawMessage:
		lv, err := decodeJSON(nil, L, v)
		if err != nil {
			return lua.LString(v)
		}
		return lv
	case time.Time:
		return lua.LString(v.Format(time.RFC3339Nano))
	case []string:
		return stringsToLua(L, v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, x := range v {
			if lv := ToLua(L, x); lv != lua.LNil {
				t.RawSetInt(i+1, lv)
			}
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for _, k := range sortedKeys(v) {
			if lv := ToLua(L, v[k]); lv != lua.LNil {
				t.RawSetString(k, lv)
			}
		}
		return t
	}
	return reflectToLua(L, reflect.ValueOf(v))
}

// reflectToLua handles the less common shapes ([]map[string]any from TOML
// arrays of tables, typed slices and maps, numbers of other kinds).
func reflectToLua(L *lua.LState, rv reflect.Value) lua.LValue {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return lua.LNil
		}
		return ToLua(L, rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		t := L.CreateTable(rv.Len(), 0)
		for i := 0; i < rv.Len(); i++ {
			if lv := ToLua(L, rv.Index(i).Interface()); lv != lua.LNil {
				t.RawSetInt(i+1, lv)
			}
		}
		return t
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		t := L.CreateTable(0, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			if lv := ToLua(L, iter.Value().Interface()); lv != lua.LNil {
				t.RawSetString(iter.Key().String(), lv)
			}
		}
		return t
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return lua.LNumber(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return lua.LNumber(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return lua.LNumber(rv.Float())
	case reflect.String:
		return lua.LString(rv.String())
	case reflect.Bool:
		return lua.LBool(rv.Bool())
	}
	return lua.LString(fmt.Sprint(rv.Interface()))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func stringsToLua(L *lua.LState, ss []string) *lua.LTable {
	t := L.CreateTable(len(ss), 0)
	for _, s := range ss {
		t.Append(lua.LString(s))
	}
	return t
}

// luaToString is tostring() without metamethods: strings and numbers as
// Lua prints them, anything else as its type and address.
func luaToString(v lua.LValue) string {
	if s, ok := v.(lua.LString); ok {
		return string(s)
	}
	return v.String()
}
