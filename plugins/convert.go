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
// Functions, userdata, threads and cycles are errors. Bindings use it to read
// table arguments.
func ToGo(v lua.LValue) (any, error) {
	return toGo(v, maxJSONDepth, nil)
}

// toGo is ToGo with a depth budget; expand, if set, is called on each table
// first (event tables build their lazy fields).
func toGo(v lua.LValue, depth int, expand func(*lua.LTable) error) (any, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(v), nil
	case lua.LString:
		return string(v), nil
	case lua.LNumber:
		f := float64(v)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		return f, nil
	case *lua.LTable:
		if depth <= 0 {
			return nil, fmt.Errorf("nesting too deep (or a table that contains itself)")
		}
		if expand != nil {
			if err := expand(v); err != nil {
				return nil, err
			}
		}
		if n, ok := arrayLen(v); ok {
			out := make([]any, n)
			for i := range out {
				x, err := toGo(v.RawGetInt(i+1), depth-1, expand)
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
			return out, nil
		}
		return toGoMap(v, depth, expand)
	default:
		return nil, fmt.Errorf("cannot convert a %s", v.Type())
	}
}

// toGoMap converts a table to a map, its keys turned to strings.
func toGoMap(t *lua.LTable, depth int, expand func(*lua.LTable) error) (map[string]any, error) {
	keys, err := objectKeys(t)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		x, err := toGo(t.RawGet(k.key), depth-1, expand)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.name, err)
		}
		out[k.name] = x
	}
	return out, nil
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
