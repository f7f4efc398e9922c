package plugins

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/envelope/command"
)

// eventFields are the event table's fields, the envelope's contract names.
var eventFields = []string{
	"id", "kind", "event", "action", "instance", "project", "user",
	"ref", "branch", "tag", "sha", "note", "noteable_type", "note_id",
	"system", "merge_request", "issue", "labels", "commands", "command",
	"payload",
}

// eventToLua builds the event table handed to handle(event, params).
//
// With meta (the state's event metatable) the table starts empty: reading a
// field resolves it from the run's envelope through __index, written out
// field by field (no reflection). Nested tables and the decoded payload are
// built on first read and cached for the run, so a script pays only for
// what it reads. Fields a script assigns are ordinary table entries. With
// meta nil every field is set at once (for comparison in benchmarks).
func eventToLua(L *lua.LState, env *envelope.Envelope, meta *lua.LTable) (*lua.LTable, error) {
	if meta != nil {
		t := L.CreateTable(0, 0)
		t.Metatable = meta
		return t, nil
	}
	t := L.CreateTable(0, len(eventFields))
	var cache eventCache
	for _, k := range eventFields {
		v, err := eventField(L, env, &cache, k)
		if err != nil {
			return nil, err
		}
		t.RawSetString(k, v)
	}
	return t, nil
}

// eventCache keeps the nested tables of one run's event table, so every
// read of event.merge_request returns the same table.
type eventCache struct {
	project, user, mergeRequest, issue, labels, commands, command, payload lua.LValue
}

// eventField returns field key of the event (nil for unknown keys).
func eventField(L *lua.LState, env *envelope.Envelope, c *eventCache, key string) (lua.LValue, error) {
	switch key {
	case "id":
		return lua.LString(env.ID), nil
	case "kind":
		return lua.LString(env.Kind), nil
	case "event":
		return lua.LString(env.Event), nil
	case "action":
		return lua.LString(env.Action), nil
	case "instance":
		return lua.LString(env.Instance), nil
	case "ref":
		return lua.LString(env.Ref), nil
	case "branch":
		return lua.LString(env.Branch), nil
	case "tag":
		return lua.LString(env.Tag), nil
	case "sha":
		return lua.LString(env.SHA), nil
	case "note":
		return lua.LString(env.Note), nil
	case "noteable_type":
		return lua.LString(env.NoteableType), nil
	case "note_id":
		return lua.LNumber(env.NoteID), nil
	case "system":
		return lua.LBool(env.System), nil
	case "project":
		return cached(&c.project, func() lua.LValue {
			p := L.CreateTable(0, 3)
			p.RawSetString("id", lua.LNumber(env.Project.ID))
			p.RawSetString("path", lua.LString(env.Project.Path))
			p.RawSetString("url", lua.LString(env.Project.URL))
			return p
		}), nil
	case "user":
		return cached(&c.user, func() lua.LValue {
			u := L.CreateTable(0, 3)
			u.RawSetString("id", lua.LNumber(env.User.ID))
			u.RawSetString("username", lua.LString(env.User.Username))
			u.RawSetString("name", lua.LString(env.User.Name))
			return u
		}), nil
	case "merge_request":
		return cached(&c.mergeRequest, func() lua.LValue {
			mr := &env.MergeRequest
			m := L.CreateTable(0, 8)
			m.RawSetString("iid", lua.LNumber(mr.IID))
			m.RawSetString("title", lua.LString(mr.Title))
			m.RawSetString("state", lua.LString(mr.State))
			m.RawSetString("source_branch", lua.LString(mr.SourceBranch))
			m.RawSetString("target_branch", lua.LString(mr.TargetBranch))
			m.RawSetString("labels", stringsToLua(L, mr.Labels))
			m.RawSetString("draft", lua.LBool(mr.Draft))
			m.RawSetString("source_project_id", lua.LNumber(mr.SourceProjectID))
			return m
		}), nil
	case "issue":
		return cached(&c.issue, func() lua.LValue {
			is := &env.Issue
			i := L.CreateTable(0, 4)
			i.RawSetString("iid", lua.LNumber(is.IID))
			i.RawSetString("title", lua.LString(is.Title))
			i.RawSetString("state", lua.LString(is.State))
			i.RawSetString("labels", stringsToLua(L, is.Labels))
			return i
		}), nil
	case "labels":
		return cached(&c.labels, func() lua.LValue { return stringsToLua(L, env.Labels) }), nil
	case "commands":
		return cached(&c.commands, func() lua.LValue {
			cmds := L.CreateTable(len(env.Commands), 0)
			for k := range env.Commands {
				cmds.Append(commandToLua(L, &env.Commands[k]))
			}
			return cmds
		}), nil
	case "command":
		return cached(&c.command, func() lua.LValue { return commandToLua(L, &env.Command) }), nil
	case "payload":
		if c.payload != nil {
			return c.payload, nil
		}
		if len(env.Payload) == 0 {
			c.payload = L.CreateTable(0, 0)
			return c.payload, nil
		}
		v, err := decodeJSON(L.Context(), L, env.Payload)
		if err != nil {
			return lua.LNil, err // the caller names event.payload
		}
		c.payload = v
		return v, nil
	}
	return lua.LNil, nil
}

func cached(slot *lua.LValue, build func() lua.LValue) lua.LValue {
	if *slot == nil {
		*slot = build()
	}
	return *slot
}

func commandToLua(L *lua.LState, c *command.Command) *lua.LTable {
	t := L.CreateTable(0, 3)
	t.RawSetString("name", lua.LString(c.Name))
	t.RawSetString("args", stringsToLua(L, c.Args))
	t.RawSetString("line", lua.LString(c.Line))
	return t
}

// newEventMeta is the per-state metatable of event tables: its __index
// resolves fields from the envelope of the run in progress. It is
// protected (getmetatable returns false).
func newEventMeta(L *lua.LState) *lua.LTable {
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__metatable", lua.LFalse)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		k, ok := L.Get(2).(lua.LString)
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		r := runFrom(L.Context())
		if r == nil {
			L.RaiseError("event.%s: not available outside a run", k)
		}
		v, err := eventField(L, r.env, &r.event, string(k))
		if err != nil {
			L.RaiseError("event.%s: %v", k, err)
		}
		L.Push(v)
		return 1
	}))
	return mt
}

// materializeEvent writes every field the script has not set into an
// event table, so walks over it (json.encode, log fields, results) see the
// whole event.
func materializeEvent(L *lua.LState, t *lua.LTable) error {
	r := runFrom(L.Context())
	if r == nil {
		return fmt.Errorf("event: not available outside a run")
	}
	for _, k := range eventFields {
		if t.RawGetString(k) != lua.LNil {
			continue
		}
		v, err := eventField(L, r.env, &r.event, k)
		if err != nil {
			return fmt.Errorf("event.%s: %w", k, err)
		}
		t.RawSetString(k, v)
	}
	return nil
}
