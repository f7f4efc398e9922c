package plugins

import (
	"fmt"
	"sort"

	lua "github.com/yuin/gopher-lua"
)

// Globals describes the sandbox the set's scripts run in, for tools that
// must stay in sync with it (the SDK's editor stubs, docs): key "" lists
// every global a script sees, sorted; each global that is a table (the
// libraries string, table and math, the modules log, json, kv and the
// Options.Modules) has its own key listing that table's fields, sorted.
// Globals a script defines itself (handle, plugin) are not included.
//
// It builds one fresh state with the set's options and closes it; the
// set's pools are not touched.
func (s *Set) Globals() (map[string][]string, error) {
	st, err := s.newState()
	if err != nil {
		return nil, err
	}
	defer st.close()
	tables, err := st.readOnlyTables()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	// _G is removed from the shared globals but set in each run's own
	// globals table (see instantiate): scripts do see it.
	globals := []string{"_G"}
	st.L.G.Global.ForEach(func(k, v lua.LValue) {
		if name, ok := k.(lua.LString); ok && v != lua.LNil {
			globals = append(globals, string(name))
		}
	})
	for name, fields := range tables {
		keys := make([]string, 0, len(fields))
		for f := range fields {
			keys = append(keys, f)
		}
		sort.Strings(keys)
		out[name] = keys
	}
	sort.Strings(globals)
	out[""] = globals
	return out, nil
}

// readOnlyTables returns, for each global of st that is a read-only table
// (the libraries string, table and math, the modules log, json, kv and the
// Options.Modules), its fields and whether each is a function: what
// Globals lists and what lint checks scripts against.
func (st *state) readOnlyTables() (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	var walkErr error
	st.L.G.Global.ForEach(func(k, v lua.LValue) {
		name, ok := k.(lua.LString)
		t, isTable := v.(*lua.LTable)
		if !ok || !isTable {
			return
		}
		if st.protected[t] {
			// A read-only proxy: the fields live in its __index table.
			mt, _ := t.Metatable.(*lua.LTable)
			if mt == nil {
				walkErr = fmt.Errorf("plugins: global %s: proxy without metatable", name)
				return
			}
			if t, ok = mt.RawGetString("__index").(*lua.LTable); !ok {
				walkErr = fmt.Errorf("plugins: global %s: proxy without __index table", name)
				return
			}
		}
		out[string(name)] = tableFields(t)
	})
	return out, walkErr
}
