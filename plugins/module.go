package plugins

import lua "github.com/yuin/gopher-lua"

// Module is a Lua module given to every script as a global table (for
// example "gitlab" or "log").
//
// Open builds the module's table in L. It is called once for each pooled
// state, not once per run: functions that need per-run data (the event, the
// API scope, the log being recorded) must read it from L.Context(), which the
// runtime sets to the run's context before every run. Functions must honour
// that context's deadline and raise failures with Raise. Table arguments
// are read through a Budget (ArgBudget(L.Context(), "name.fn: arguments")
// and its ToGo, or Add for what a function reads itself), so that shared
// tables and strings cannot expand past it.
type Module struct {
	Name string
	Open func(L *lua.LState) *lua.LTable
}
