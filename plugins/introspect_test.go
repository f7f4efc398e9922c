package plugins

import (
	"reflect"
	"slices"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func TestSetGlobals(t *testing.T) {
	extra := Module{Name: "company", Open: func(L *lua.LState) *lua.LTable {
		m := L.NewTable()
		m.RawSetString("ticket", L.NewFunction(func(*lua.LState) int { return 0 }))
		m.RawSetString("version", lua.LString("1"))
		return m
	}}
	s := mustLoad(t, map[string]string{"p": "function handle() end"}, Options{Modules: []Module{extra}})
	g, err := s.Globals()
	if err != nil {
		t.Fatal(err)
	}
	wantGlobals := append([]string{"_G", "company"}, builtinGlobals...)
	slices.Sort(wantGlobals)
	cases := []struct {
		key  string
		want []string
	}{
		{"", wantGlobals},
		{"company", []string{"ticket", "version"}},
		{"log", []string{"debug", "error", "info", "warn"}},
		{"json", []string{"decode", "encode", "null"}},
		{"kv", []string{"delete", "get", "set"}},
	}
	for _, c := range cases {
		if got := g[c.key]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("Globals()[%q] = %v, want %v", c.key, got, c.want)
		}
	}
	// Libraries are listed through their read-only proxies.
	if !slices.Contains(g["string"], "format") || !slices.Contains(g["table"], "concat") || !slices.Contains(g["math"], "floor") {
		t.Errorf("library fields missing: string %v table %v math %v", g["string"], g["table"], g["math"])
	}
	for _, name := range []string{"handle", "plugin", "os", "io", "print", "require"} {
		if slices.Contains(g[""], name) {
			t.Errorf("Globals lists %s", name)
		}
	}
	if _, ok := g["retry"]; ok {
		t.Error("retry is a function, not a table: it has no field list")
	}
}
