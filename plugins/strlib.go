package plugins

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// capStringLib replaces the string and table functions that can build a
// huge string in one Go call (which the VM's context check cannot stop)
// with versions capped at max bytes, and the pattern functions with the
// context-aware matcher. Methods on strings (("x"):rep(n)) go through the
// same table, so they are capped too; string.byte refuses up front more
// results than the stack can hold.
func capStringLib(L *lua.LState, strMod, tabMod *lua.LTable, max, maxResults int) {
	format := strMod.RawGetString("format").(*lua.LFunction).GFunction
	byteFn := strMod.RawGetString("byte").(*lua.LFunction).GFunction
	set := func(t *lua.LTable, name string, fn lua.LGFunction) { t.RawSetString(name, L.NewFunction(fn)) }
	set(strMod, "byte", strByte(byteFn, maxResults))
	set(strMod, "rep", strRep(max))
	set(strMod, "format", strFormat(format, max))
	set(strMod, "find", strFind)
	set(strMod, "match", strMatch)
	gmatch := L.NewFunction(strGmatch)
	strMod.RawSetString("gmatch", gmatch)
	strMod.RawSetString("gfind", gmatch)
	set(strMod, "gsub", strGsub(max))
	set(tabMod, "concat", tableConcat(max))
}

// strByte wraps string.byte(s[, i[, j]]), refusing up front a range of more
// results than the Lua stack can ever hold: gopher-lua would push them one
// by one, growing the registry step by step (seconds under the race
// detector) before failing with the same overflow.
func strByte(orig lua.LGFunction, maxResults int) lua.LGFunction {
	return func(L *lua.LState) int {
		n := len(L.CheckString(1))
		i := L.OptInt(2, 1)
		j := L.OptInt(3, i)
		if i < 0 {
			i += n + 1
		}
		if j < 0 {
			j += n + 1
		}
		i, j = max(i, 1), min(j, n)
		refuseResults(L, "string.byte", i, j, maxResults)
		return orig(L)
	}
}

// baseUnpack wraps unpack(t[, i[, j]]) the same way: a range of more
// results than the stack can hold is refused before any is pushed.
func baseUnpack(orig lua.LGFunction, maxResults int) lua.LGFunction {
	return func(L *lua.LState) int {
		t := L.CheckTable(1)
		refuseResults(L, "unpack", L.OptInt(2, 1), L.OptInt(3, t.Len()), maxResults)
		return orig(L)
	}
}

// refuseResults raises fn's error when the results i..j would be more
// than maxResults (the stack's size).
func refuseResults(L *lua.LState, fn string, i, j, maxResults int) {
	if n := int64(j) - int64(i) + 1; n > int64(maxResults) {
		L.RaiseError("%s: %d results overflow the stack (at most %d)", fn, n, maxResults)
	}
}

// strRep is string.rep(s, n[, sep]) refusing results over max bytes.
func strRep(max int) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		n := float64(L.CheckNumber(2))
		sep := L.OptString(3, "")
		if n < 1 || len(s)+len(sep) == 0 {
			L.Push(lua.LString(""))
			return 1
		}
		if n*float64(len(s)+len(sep))-float64(len(sep)) > float64(max) {
			L.RaiseError("string.rep: result too large (max %d bytes)", max)
		}
		checkCtx(L, "string.rep")
		count := int(n)
		if sep == "" {
			L.Push(lua.LString(strings.Repeat(s, count)))
			return 1
		}
		var b strings.Builder
		b.Grow(count*(len(s)+len(sep)) - len(sep))
		for i := 0; i < count; i++ {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(s)
		}
		L.Push(lua.LString(b.String()))
		return 1
	}
}

// strFormat wraps gopher-lua's string.format, which hands the arguments to
// Go's fmt. Widths and precisions are at most two digits (as in C Lua);
// Go's argument indexes (%[1]s) and star widths, which Lua does not have,
// are refused, so each directive takes exactly one argument. The result is
// bounded before formatting: a string argument counts once for %s and %v
// and five times for the verbs that expand it (%q, %x, "% x", "%# x"),
// anything else a fixed amount; over max bytes it is an error.
func strFormat(orig lua.LGFunction, max int) lua.LGFunction {
	return func(L *lua.LState) int {
		f := L.CheckString(1)
		size, arg := len(f), 2
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				continue
			}
			i++
			if i < len(f) && f[i] == '%' {
				continue
			}
			sharp := false
			for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
				sharp = sharp || f[i] == '#'
				i++
			}
			if digitRun(f, &i) > 2 {
				L.RaiseError("invalid format (width or precision too long)")
			}
			if i < len(f) && f[i] == '.' {
				i++
				if digitRun(f, &i) > 2 {
					L.RaiseError("invalid format (width or precision too long)")
				}
			}
			if i < len(f) && (f[i] == '[' || f[i] == '*') {
				L.RaiseError("invalid format (argument indexes and * widths are not supported)")
			}
			const fixed = 512 // widths and precisions up to 99, a float up to 1e308
			s, isString := L.Get(arg).(lua.LString)
			switch {
			case !isString || i >= len(f):
				size += fixed
			case (f[i] == 's' || f[i] == 'v') && !sharp:
				size += fixed + len(s)
			default:
				size += fixed + 5*len(s)
			}
			arg++
			if size > max {
				L.RaiseError("string.format: result too large (max %d bytes)", max)
			}
		}
		n := orig(L)
		if s, ok := L.Get(-1).(lua.LString); ok && len(s) > max {
			L.RaiseError("string.format: result too large (max %d bytes)", max)
		}
		return n
	}
}

// digitRun skips the digits at f[*i:] and returns how many there were.
func digitRun(f string, i *int) int {
	n := 0
	for *i < len(f) && f[*i] >= '0' && f[*i] <= '9' {
		*i++
		n++
	}
	return n
}

// tableConcat is table.concat(t[, sep[, i[, j]]]) refusing results over
// max bytes.
func tableConcat(max int) lua.LGFunction {
	return func(L *lua.LState) int {
		t := L.CheckTable(1)
		sep := L.OptString(2, "")
		i := L.OptInt(3, 1)
		j := L.OptInt(4, t.Len())
		if i > j {
			L.Push(lua.LString(""))
			return 1
		}
		var b strings.Builder
		for k := i; ; k++ {
			if (k-i)%ctxCheckEvery == ctxCheckEvery-1 {
				checkCtx(L, "table.concat")
			}
			v := t.RawGet(lua.LNumber(k))
			switch v.Type() {
			case lua.LTString, lua.LTNumber:
			default:
				L.RaiseError("invalid value (a %s) at index %d in table for concat", v.Type(), k)
			}
			s := lua.LVAsString(v)
			if b.Len()+len(s)+len(sep) > max {
				L.RaiseError("table.concat: result too large (max %d bytes)", max)
			}
			b.WriteString(s)
			if k == j {
				break
			}
			b.WriteString(sep)
		}
		L.Push(lua.LString(b.String()))
		return 1
	}
}
