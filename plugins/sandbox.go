package plugins

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// maxArrayIndex bounds the array part of Lua tables. gopher-lua pads the
// array part up to any integer key below lua.MaxArrayIndex (64 Mi), so
// t[67108863] = true allocates gigabytes in one instruction that the
// context check cannot interrupt. Larger keys go to the hash part.
const maxArrayIndex = 1 << 20

func init() {
	// Process-wide: every gopher-lua state in hookgate is a plugin state.
	if lua.MaxArrayIndex > maxArrayIndex {
		lua.MaxArrayIndex = maxArrayIndex
	}
}

// removedGlobals are base-library functions scripts do not get: they reach
// files, load code, expose the real globals, stop the world or write to
// stdout.
var removedGlobals = []string{
	"dofile", "loadfile", "load", "loadstring", "require", "module",
	"getfenv", "setfenv", "collectgarbage", "print", "_printregs",
	"newproxy", "_GOPHER_LUA_VERSION", "_G",
}

// state is one pooled Lua state with its sandbox.
type state struct {
	L *lua.LState
	// envMeta is the metatable of each run's globals table: reads fall
	// through to the shared, read-only sandbox globals.
	envMeta *lua.LTable
	// eventMeta resolves the fields of event tables lazily.
	eventMeta *lua.LTable
	// null is json.null.
	null *lua.LUserData
	// protected are the read-only library proxies: rawset refuses them.
	protected map[*lua.LTable]bool
	// invoke, noop and keepError implement pcall (see there).
	invoke, noop, keepError *lua.LFunction
}

// newState builds a sandboxed state: base (minus removedGlobals), table,
// string and math; capped string functions; the log, json, kv modules,
// retry, and the caller's modules, each behind a read-only proxy.
func (s *Set) newState() (st *state, err error) {
	o := &s.opts
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    o.CallStackSize,
		RegistrySize:     o.RegistrySize,
		RegistryMaxSize:  o.RegistryMaxSize,
		RegistryGrowStep: o.RegistrySize,
	})
	defer func() {
		if r := recover(); r != nil {
			L.Close()
			st, err = nil, fmt.Errorf("plugins: building a state: %v", r)
		}
	}()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	st = &state{L: L, protected: map[*lua.LTable]bool{}}
	g := L.G.Global
	for _, name := range removedGlobals {
		g.RawSetString(name, lua.LNil)
	}
	g.RawSetString("setmetatable", L.NewFunction(st.setMetatable))
	g.RawSetString("rawset", L.NewFunction(st.rawSet))
	g.RawSetString("pcall", L.NewFunction(st.luaPCall))
	g.RawSetString("xpcall", L.NewFunction(st.luaXPCall))
	unpack := g.RawGetString("unpack").(*lua.LFunction).GFunction
	g.RawSetString("unpack", L.NewFunction(baseUnpack(unpack, o.RegistryMaxSize)))

	strMod := g.RawGetString(lua.StringLibName).(*lua.LTable)
	tabMod := g.RawGetString(lua.TabLibName).(*lua.LTable)
	capStringLib(L, strMod, tabMod, o.MaxStringBytes, o.RegistryMaxSize)
	// Strings' metatable: methods from the (real) string table, and
	// getmetatable("") returns false, so scripts cannot reach it.
	strMeta := L.CreateTable(0, 2)
	strMeta.RawSetString("__index", strMod)
	strMeta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(lua.LString(""), strMeta)

	st.null = L.NewUserData()
	nullMeta := L.CreateTable(0, 2)
	nullMeta.RawSetString("__metatable", lua.LFalse)
	nullMeta.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("null"))
		return 1
	}))
	st.null.Metatable = nullMeta

	st.eventMeta = newEventMeta(L)
	modules := map[string]*lua.LTable{
		lua.StringLibName: strMod,
		lua.TabLibName:    tabMod,
		lua.MathLibName:   g.RawGetString(lua.MathLibName).(*lua.LTable),
		"log":             logModule(L, st.null, st.expand),
		"json":            jsonModule(L, st.null, o.MaxStringBytes, st.expand),
		"kv":              kvModule(L, o.KV),
	}
	for _, m := range o.Modules {
		t := m.Open(L)
		if t == nil {
			return nil, fmt.Errorf("plugins: module %s: Open returned nil", m.Name)
		}
		guardPanics(L, m.Name, t)
		modules[m.Name] = t
	}
	for name, mod := range modules {
		g.RawSetString(name, st.readOnly(L, name, mod))
	}
	g.RawSetString("retry", L.NewFunction(luaRetry))

	st.noop = L.NewFunction(func(*lua.LState) int { return 0 })
	st.keepError = L.NewFunction(func(*lua.LState) int { return 1 })
	st.invoke = L.NewFunction(func(L *lua.LState) int {
		// The outer PCall was given an error handler, which makes
		// gopher-lua skip closing upvalues when an error is raised until
		// an inner pcall returns: this empty pcall resets that.
		L.Push(st.noop)
		if err := L.PCall(0, 0, nil); err != nil {
			L.RaiseError("%v", err)
		}
		L.Call(L.GetTop()-1, lua.MultRet)
		return L.GetTop()
	})
	st.envMeta = L.CreateTable(0, 2)
	st.envMeta.RawSetString("__index", g)
	st.envMeta.RawSetString("__metatable", lua.LFalse)
	return st, nil
}

// expand builds the lazy fields of an event table before something walks
// it (json.encode, log fields, a run's result); other tables are left as
// they are.
func (st *state) expand(t *lua.LTable) error {
	if t.Metatable != st.eventMeta {
		return nil
	}
	return materializeEvent(st.L, t)
}

// readOnly returns an empty proxy whose reads go to t and whose writes
// fail, so one run cannot change a library for the runs after it.
func (st *state) readOnly(L *lua.LState, name string, t *lua.LTable) *lua.LTable {
	proxy := L.CreateTable(0, 0)
	mt := L.CreateTable(0, 3)
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("attempt to modify read-only table %s", name)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	proxy.Metatable = mt
	st.protected[proxy] = true
	return proxy
}

// setMetatable is Lua 5.1's setmetatable: tables only (gopher-lua's also
// sets the shared metatable of strings, numbers, ...), and never on a
// protected table.
func (st *state) setMetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	mt := L.Get(2)
	if mt != lua.LNil && mt.Type() != lua.LTTable {
		L.ArgError(2, "nil or table expected")
	}
	if cur, ok := t.Metatable.(*lua.LTable); ok && cur.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	t.Metatable = mt
	L.SetTop(1)
	return 1
}

// rawSet is rawset refusing the read-only proxies.
func (st *state) rawSet(L *lua.LState) int {
	t := L.CheckTable(1)
	if st.protected[t] {
		L.RaiseError("rawset: attempt to modify a read-only table")
	}
	L.RawSet(t, L.CheckAny(2), L.CheckAny(3))
	L.SetTop(1)
	return 1
}

// luaRetry is retry(reason[, seconds]): it ends the run as a transient
// failure, to be retried with backoff, no sooner than seconds from now.
func luaRetry(L *lua.LState) int {
	reason := L.OptString(1, "retry requested")
	secs := float64(L.OptNumber(2, 0))
	if secs < 0 || secs > 7*24*3600 {
		L.ArgError(2, "seconds must be between 0 and 604800")
	}
	Raise(L, Retry(reason, secondsToDuration(secs)))
	return 0
}

func (st *state) close() { st.L.Close() }

// pcall calls the function below the nargs arguments on the stack in
// protected mode. Unlike a plain L.PCall it passes an error handler (one
// that keeps the error as it is), because without one gopher-lua builds a
// traceback with a line per tail call ever made in a frame: a script
// looping on tail calls until its deadline would take seconds and
// hundreds of megabytes to fail.
func (st *state) pcall(nargs, nret int) error {
	L := st.L
	L.Insert(st.invoke, L.GetTop()-nargs)
	return L.PCall(nargs+1, nret, st.keepError)
}

// luaPCall is pcall(f, ...) through st.pcall (see there).
func (st *state) luaPCall(L *lua.LState) int {
	v := L.CheckAny(1)
	if v.Type() != lua.LTFunction && L.GetMetaField(v, "__call").Type() != lua.LTFunction {
		L.Push(lua.LFalse)
		L.Push(lua.LString("attempt to call a " + v.Type().String() + " value"))
		return 2
	}
	if err := st.pcall(L.GetTop()-1, lua.MultRet); err != nil {
		L.Push(lua.LFalse)
		L.Push(errorObject(err))
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// luaXPCall is xpcall(f, handler) through st.pcall. The handler is itself
// called protected: if it fails, its own error is the result.
func (st *state) luaXPCall(L *lua.LState) int {
	fn := L.CheckFunction(1)
	h := L.CheckFunction(2)
	L.SetTop(0)
	handler := L.NewFunction(func(L *lua.LState) int {
		obj := L.Get(1)
		L.SetTop(0)
		L.Push(st.invoke)
		L.Push(h)
		L.Push(obj)
		if err := L.PCall(2, 1, st.keepError); err != nil {
			L.Push(errorObject(err))
		}
		return 1
	})
	L.Push(st.invoke)
	L.Push(fn)
	if err := L.PCall(1, lua.MultRet, handler); err != nil {
		L.Push(lua.LFalse)
		L.Push(errorObject(err))
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// errorObject is the Lua value an error carries.
func errorObject(err error) lua.LValue {
	if api, ok := err.(*lua.ApiError); ok {
		return api.Object
	}
	return lua.LString(err.Error())
}

// guardPanics wraps the Go functions of a caller's module table so that a
// Go panic in one fails the run with a clear error instead of an
// anonymous one.
func guardPanics(L *lua.LState, module string, t *lua.LTable) {
	t.ForEach(func(k, v lua.LValue) {
		fn, ok := v.(*lua.LFunction)
		if !ok || !fn.IsG {
			return
		}
		name, inner := module+"."+k.String(), fn.GFunction
		t.RawSet(k, L.NewFunction(func(L *lua.LState) (n int) {
			defer func() {
				if r := recover(); r != nil {
					if _, isLua := r.(*lua.ApiError); isLua {
						panic(r)
					}
					Raise(L, &panicError{fn: name, value: r})
				}
			}()
			return inner(L)
		}))
	})
}

// panicError is a Go panic in a binding, turned into a run failure.
type panicError struct {
	fn    string
	value any
}

func (e *panicError) Error() string {
	return fmt.Sprintf("internal error in %s: %v", e.fn, e.value)
}
