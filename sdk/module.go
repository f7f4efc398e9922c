package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/plugins"
)

// Func is a Go function that scripts call as module.name(...).
//
// ctx is the plugin run's context: it carries the run's deadline (the
// plugin timeout) and is cancelled when the gateway stops, so pass it to
// every call that can block (HTTP requests, database queries).
// plugins.RunInfoFrom(ctx) tells which plugin and event the call is for, and
// plugins.Log(ctx, ...) adds a line to the run's log.
//
// args are the Lua arguments converted like plugins.ToGo: nil, bool,
// string, int64 (integral numbers), float64, []any (lists),
// map[string]any (other tables). They are bounded together by
// plugins.ArgBudget (65,536 values, 8 MiB, 128 levels, the run's
// deadline); past it the call fails before f is called, with
// "module.name: arguments: too large (max 65536 values)". The result is converted to Lua through
// encoding/json (so structs with json tags work; nil is nil). A returned
// error fails the run; an error wrapping a *plugins.RetryError
// (plugins.Retry(reason, after)) makes it retried with backoff instead.
// The message is prefixed with "module.name: ".
type Func func(ctx context.Context, args []any) (any, error)

// NewModule builds a Lua module named name whose functions are funcs. It
// is given to plugins with gateway.WithModules (or plugintest.WithModules
// in tests). A Go panic in a function fails the run with an error naming
// it; the gateway keeps serving.
//
//	tickets := sdk.NewModule("company", map[string]sdk.Func{
//		"ticket": func(ctx context.Context, args []any) (any, error) { ... },
//	})
//	g, err := gateway.New(cfg, log, gateway.WithModules(tickets))
func NewModule(name string, funcs map[string]Func) plugins.Module {
	names := make([]string, 0, len(funcs))
	for fn := range funcs {
		names = append(names, fn)
	}
	sort.Strings(names)
	return plugins.Module{Name: name, Open: func(L *lua.LState) *lua.LTable {
		t := L.CreateTable(0, len(names))
		for _, fn := range names {
			t.RawSetString(fn, L.NewFunction(wrap(name+"."+fn, funcs[fn])))
		}
		return t
	}}
}

// wrap turns f into a Lua function.
func wrap(qualified string, f Func) lua.LGFunction {
	return func(L *lua.LState) int {
		ctx := L.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		if err := ctx.Err(); err != nil {
			L.RaiseError("%s: %v", qualified, err)
		}
		// One budget for all the arguments: a table shared by several
		// of them, or by itself many times over, counts at every use.
		budget := plugins.ArgBudget(ctx, qualified+": arguments")
		args := make([]any, L.GetTop())
		for i := range args {
			v, err := budget.ToGo(L.Get(i + 1))
			switch {
			case plugins.IsLimit(err):
				L.RaiseError("%v", err)
			case err != nil:
				L.ArgError(i+1, err.Error())
			}
			args[i] = v
		}
		res, err := f(ctx, args)
		if err != nil {
			plugins.Raise(L, fmt.Errorf("%s: %w", qualified, err))
		}
		if res == nil {
			L.Push(lua.LNil)
			return 1
		}
		b, err := json.Marshal(res)
		if err != nil {
			L.RaiseError("%s: result is not JSON: %v", qualified, err)
		}
		L.Push(plugins.ToLua(L, json.RawMessage(b)))
		return 1
	}
}
