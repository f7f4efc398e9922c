package gitlab

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/plugins"
)

// Module is the "gitlab" Lua module. Every function reads the run's Scope
// from L.Context() (see WithScope) and raises
// "gitlab: no GitLab scope for this run" without one. API failures are
// raised with plugins.Raise, so the runtime tells retryable failures from
// final ones; bad arguments are ordinary Lua errors. No function takes a
// project: an options table with a field the function does not know (such
// as project) is refused with "gitlab: unknown field <name>". When plugins
// load, a react emoji written as a string literal is checked against
// GitLab's names (CheckArg), so `hookgate check` reports
// gitlab.react("rokcet").
var Module = plugins.Module{Name: "gitlab", Open: open, CheckArg: checkArg}

// errNoScope is raised when a function runs without a Scope in its context.
var errNoScope = errors.New("gitlab: no GitLab scope for this run")

func open(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	L.SetFuncs(t, map[string]lua.LGFunction{
		"comment":           luaComment,
		"set_commit_status": luaSetCommitStatus,
		"add_labels":        luaAddLabels,
		"remove_labels":     luaRemoveLabels,
		"react":             luaReact,
		"access_level":      luaAccessLevel,
		"file":              luaFile,
		"merge_request":     luaMergeRequest,
		"create_pipeline":   luaCreatePipeline,
	})
	return t
}

// scope returns the run's scope or raises.
func scope(L *lua.LState) *Scope {
	s, ok := ScopeFrom(L.Context())
	if !ok {
		plugins.Raise(L, errNoScope)
	}
	return s
}

// gitlab.comment(body) -> note id
func luaComment(L *lua.LState) int {
	body := L.CheckString(1)
	noExtra(L, 1, "comment")
	count(L, argBudget(L, "comment"), body)
	s := scope(L)
	id, err := s.Comment(L.Context(), body)
	if err != nil {
		plugins.Raise(L, err)
	}
	L.Push(lua.LNumber(id))
	return 1
}

var statusFields = []string{"sha", "state", "name", "description", "target_url", "ref"}

// gitlab.set_commit_status{sha=, state=, name=, description=, target_url=, ref=}
func luaSetCommitStatus(L *lua.LState) int {
	f := fields(L, argBudget(L, "set_commit_status"), 1, "set_commit_status", statusFields)
	noExtra(L, 1, "set_commit_status")
	o := StatusOptions{
		SHA: f["sha"], State: f["state"], Name: f["name"],
		Description: f["description"], TargetURL: f["target_url"], Ref: f["ref"],
	}
	if !ValidStatusState(o.State) {
		L.ArgError(1, fmt.Sprintf("state must be pending, running, success, failed, canceled or skipped, not %q", o.State))
	}
	if err := scope(L).SetCommitStatus(L.Context(), o); err != nil {
		plugins.Raise(L, err)
	}
	return 0
}

// gitlab.add_labels{"a", "b"} (or add_labels("a", "b"))
func luaAddLabels(L *lua.LState) int {
	labels := labelArgs(L, "add_labels")
	if err := scope(L).AddLabels(L.Context(), labels); err != nil {
		plugins.Raise(L, err)
	}
	return 0
}

// gitlab.remove_labels{"a", "b"} (or remove_labels("a", "b"))
func luaRemoveLabels(L *lua.LState) int {
	labels := labelArgs(L, "remove_labels")
	if err := scope(L).RemoveLabels(L.Context(), labels); err != nil {
		plugins.Raise(L, err)
	}
	return 0
}

// gitlab.react(emoji)
func luaReact(L *lua.LState) int {
	emoji := L.CheckString(1)
	noExtra(L, 1, "react")
	count(L, argBudget(L, "react"), emoji)
	if err := scope(L).React(L.Context(), emoji); err != nil {
		plugins.Raise(L, err)
	}
	return 0
}

// gitlab.access_level(user_id) -> 0, 10, 20, 30, 40 or 50
func luaAccessLevel(L *lua.LState) int {
	n := L.CheckNumber(1)
	noExtra(L, 1, "access_level")
	id := int64(n)
	if lua.LNumber(id) != n || id <= 0 {
		L.ArgError(1, "user id must be a positive integer")
	}
	lvl, err := scope(L).AccessLevel(L.Context(), id)
	if err != nil {
		plugins.Raise(L, err)
	}
	L.Push(lua.LNumber(lvl))
	return 1
}

// gitlab.file(path[, ref]) -> string or nil
func luaFile(L *lua.LState) int {
	path := L.CheckString(1)
	ref := ""
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		ref = L.CheckString(2)
	}
	noExtra(L, 2, "file")
	b := argBudget(L, "file")
	count(L, b, path)
	count(L, b, ref)
	content, found, err := scope(L).FileContent(L.Context(), path, ref)
	if err != nil {
		plugins.Raise(L, err)
	}
	if !found {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(content))
	return 1
}

// gitlab.merge_request() -> table
func luaMergeRequest(L *lua.LState) int {
	noExtra(L, 0, "merge_request")
	m, err := scope(L).MergeRequest(L.Context())
	if err != nil {
		plugins.Raise(L, err)
	}
	L.Push(plugins.ToLua(L, m))
	return 1
}

// gitlab.create_pipeline{ref=, variables={K="v"}} -> {id=, web_url=, status=, ref=, sha=}
func luaCreatePipeline(L *lua.LState) int {
	var ref string
	vars := map[string]string{}
	b := argBudget(L, "create_pipeline")
	if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
		t := L.CheckTable(1)
		t.ForEach(func(k, v lua.LValue) {
			key, ok := k.(lua.LString)
			switch {
			case !ok:
				L.ArgError(1, "create_pipeline takes fields ref and variables")
			case key == "ref":
				s, ok := v.(lua.LString)
				if !ok {
					L.ArgError(1, "ref must be a string")
				}
				ref = string(s)
				count(L, b, ref)
			case key == "variables":
				vt, ok := v.(*lua.LTable)
				if !ok {
					L.ArgError(1, "variables must be a table of name = value")
				}
				vt.ForEach(func(vk, vv lua.LValue) {
					name, ok := vk.(lua.LString)
					if !ok {
						L.ArgError(1, "variable names must be strings")
					}
					switch vv.(type) {
					case lua.LString, lua.LNumber, lua.LBool:
						count(L, b, string(name))
						vars[string(name)] = vv.String()
						count(L, b, vars[string(name)])
					default:
						L.ArgError(1, fmt.Sprintf("variable %s must be a string, number or boolean", name))
					}
				})
			default:
				unknownField(L, string(key), "create_pipeline", []string{"ref", "variables"})
			}
		})
	}
	noExtra(L, 1, "create_pipeline")
	p, err := scope(L).CreatePipeline(L.Context(), ref, vars)
	if err != nil {
		plugins.Raise(L, err)
	}
	t := L.CreateTable(0, 5)
	t.RawSetString("id", lua.LNumber(p.ID))
	t.RawSetString("web_url", lua.LString(p.WebURL))
	t.RawSetString("status", lua.LString(p.Status))
	t.RawSetString("ref", lua.LString(p.Ref))
	t.RawSetString("sha", lua.LString(p.SHA))
	L.Push(t)
	return 1
}

// argBudget is the budget of one call's arguments (plugins.ArgBudget):
// every string a function reads counts at every use, so a list repeating
// one long string cannot become a request body of gigabytes.
func argBudget(L *lua.LState, fn string) *plugins.Budget {
	return plugins.ArgBudget(L.Context(), "gitlab."+fn+": arguments")
}

// count charges one string argument to b, raising past the budget.
func count(L *lua.LState, b *plugins.Budget, s string) {
	if err := b.Add(1, len(s)); err != nil {
		L.RaiseError("%v", err)
	}
}

// fields reads an options table whose values are strings, refusing keys
// not in allowed.
func fields(L *lua.LState, b *plugins.Budget, n int, fn string, allowed []string) map[string]string {
	t := L.CheckTable(n)
	out := make(map[string]string, len(allowed))
	t.ForEach(func(k, v lua.LValue) {
		key, ok := k.(lua.LString)
		if !ok {
			L.ArgError(n, fn+" takes named fields ("+strings.Join(allowed, ", ")+")")
		}
		if !slices.Contains(allowed, string(key)) {
			unknownField(L, string(key), fn, allowed)
		}
		switch v := v.(type) {
		case lua.LString:
			out[string(key)] = string(v)
		case lua.LNumber:
			out[string(key)] = v.String()
		default:
			L.ArgError(n, fmt.Sprintf("field %s must be a string", key))
		}
		count(L, b, out[string(key)])
	})
	return out
}

// unknownField raises "gitlab: unknown field <name> (...)".
func unknownField(L *lua.LState, name, fn string, allowed []string) {
	if name == "project" || name == "project_id" || name == "id" {
		L.RaiseError("gitlab: unknown field %s (%s acts on the event's own project only)", name, fn)
	}
	if len(allowed) == 0 {
		L.RaiseError("gitlab: unknown field %s (%s takes no options table)", name, fn)
	}
	L.RaiseError("gitlab: unknown field %s (%s takes %s)", name, fn, strings.Join(allowed, ", "))
}

// noExtra refuses arguments past the n a function takes; a table among them
// is named for its first field, so {project=...} reads as an unknown field.
func noExtra(L *lua.LState, n int, fn string) {
	if L.GetTop() <= n {
		return
	}
	for i := n + 1; i <= L.GetTop(); i++ {
		if t, ok := L.Get(i).(*lua.LTable); ok {
			if k, _ := t.Next(lua.LNil); k != lua.LNil {
				if key, ok := k.(lua.LString); ok {
					unknownField(L, string(key), fn, nil)
				}
			}
		}
	}
	L.ArgError(n+1, fmt.Sprintf("%s takes %d argument(s)", fn, n))
}

// labelArgs reads {"a", "b"} or "a", "b".
func labelArgs(L *lua.LState, fn string) []string {
	b := argBudget(L, fn)
	if t, ok := L.Get(1).(*lua.LTable); ok {
		noExtra(L, 1, fn)
		var labels []string
		t.ForEach(func(k, v lua.LValue) {
			if key, ok := k.(lua.LString); ok {
				unknownField(L, string(key), fn, []string{"a list of label names"})
			}
			if _, ok := k.(lua.LNumber); !ok {
				L.ArgError(1, "labels must be a list of strings")
			}
			s, ok := v.(lua.LString)
			if !ok {
				L.ArgError(1, "labels must be strings")
			}
			count(L, b, string(s))
			labels = append(labels, string(s))
		})
		return labels
	}
	top := L.GetTop()
	if top == 0 {
		L.ArgError(1, "labels expected")
	}
	labels := make([]string, 0, top)
	for i := 1; i <= top; i++ {
		labels = append(labels, L.CheckString(i))
		count(L, b, labels[i-1])
	}
	return labels
}
