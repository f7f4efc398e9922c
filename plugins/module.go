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
//
// Load checks every plugin against the tables Open builds: a script
// reading or calling a field the table does not have (gitlab.add_label) is
// refused with "file:line:col: gitlab.add_label is not a function of the
// gitlab module; did you mean gitlab.add_labels?", so `hookgate check`
// reports it before any event does.
type Module struct {
	Name string
	Open func(L *lua.LState) *lua.LTable
	// CheckArg, when set, is asked when plugins load (so by `hookgate
	// check`) about every argument of a call Name.fn(...) that is written
	// as a string literal; arg counts from 1. An error is reported at the
	// literal as "Name.fn: <error>". It is a head start, not the check:
	// fn must still refuse bad values at run time, where most arguments
	// are not literals.
	CheckArg func(fn string, arg int, value string) error
}
