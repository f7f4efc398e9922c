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
	out := map[string][]string{}
	// _G is removed from the shared globals but set in each run's own
	// globals table (see instantiate): scripts do see it.
	globals := []string{"_G"}
	var walkErr error
	st.L.G.Global.ForEach(func(k, v lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok || v == lua.LNil {
			return
		}
		globals = append(globals, string(name))
		t, ok := v.(*lua.LTable)
		if !ok {
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
		out[string(name)] = tableKeys(t)
	})
	if walkErr != nil {
		return nil, walkErr
	}
	sort.Strings(globals)
	out[""] = globals
	return out, nil
}

// tableKeys returns the string keys of t, sorted.
func tableKeys(t *lua.LTable) []string {
	var keys []string
	t.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			keys = append(keys, string(s))
		}
	})
	sort.Strings(keys)
	return keys
}
