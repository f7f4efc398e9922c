package plugins

import (
	lua "github.com/yuin/gopher-lua"
)

// jsonModule builds the json table:
//
//	json.encode(v) -> string   tables with keys 1..n are arrays, others
//	                           objects (keys sorted); {} is an object;
//	                           json.null is null
//	json.decode(s) -> value    objects and arrays become tables (arrays
//	                           1-based), null becomes nil
//	json.null                  the value that encodes as null
//
// Both raise an error on bad input, on nesting deeper than 128 and on
// strings (input or output) over max bytes; encode walks its value within
// that budget and the run's deadline (shared tables count at every visit).
func jsonModule(L *lua.LState, null *lua.LUserData, max int, expand func(*lua.LTable) error) *lua.LTable {
	t := L.CreateTable(0, 3)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		v := L.CheckAny(1)
		checkCtx(L, "json.encode")
		b, err := encodeJSON(v, jsonBudget(L.Context(), "json.encode", max), null, expand)
		if err != nil {
			L.RaiseError("%v", err)
		}
		L.Push(lua.LString(b))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		if len(s) > max {
			L.RaiseError("json.decode: input too large (max %d bytes)", max)
		}
		checkCtx(L, "json.decode")
		v, err := decodeJSON(L.Context(), L, []byte(s))
		if err != nil {
			L.RaiseError("json.decode: %v", err)
		}
		L.Push(v)
		return 1
	}))
	t.RawSetString("null", null)
	return t
}
