package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"

	"github.com/hookgate/hookgate/diag"
)

// Load compiles every dir/*.lua once and checks it: the file must parse,
// its top level must run (in the sandbox, within the timeout) and define a
// global function handle(event, params), and its optional plugin table
// must be well formed. A plugin is named after its file (build.lua is
// "build").
//
// Before running a file, Load checks statically that it reads and calls
// only fields the module tables have (lint.go).
//
// Load returns the plugins that passed together with an error joining the
// *diag.Errors of the files that did not (see diag.Errors); a caller that
// needs all or nothing treats any error as failure. Exists still knows the
// files that failed. A bad Options (module names) or an
// unreadable dir returns a nil Set.
func Load(dir string, opts Options) (*Set, error) {
	opts = opts.withDefaults()
	if err := checkModules(opts.Modules); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	s := &Set{dir: dir, opts: opts, plugins: map[string]*plugin{}, files: map[string]bool{}}
	if s.lint, err = s.lintModules(); err != nil {
		return nil, err
	}
	var errs []*diag.Error
	for _, ent := range entries { // sorted by name
		name, ok := strings.CutSuffix(ent.Name(), ".lua")
		if !ok || name == "" || ent.IsDir() {
			continue
		}
		s.files[name] = true
		file := filepath.Join(dir, ent.Name())
		p := &plugin{name: name, file: file, pool: make(chan *state, opts.PoolSize)}
		if perrs := s.load(p); len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		s.plugins[name] = p
	}
	s.names = sortedNames(s.plugins)
	return s, diag.Join(errs)
}

// load compiles and checks one file, keeping the state it was checked in.
// A file whose static check (lint) fails is not run.
func (s *Set) load(p *plugin) []*diag.Error {
	src, err := os.ReadFile(p.file)
	if err != nil {
		return []*diag.Error{{File: p.file, Msg: err.Error()}}
	}
	proto, chunk, derr := compile(p.file, p.name+".lua", src)
	if derr != nil {
		return []*diag.Error{derr}
	}
	if errs := lint(p.file, src, chunk, s.lint); len(errs) > 0 {
		return errs
	}
	p.proto = proto
	st, err := s.newState()
	if err != nil {
		return []*diag.Error{{File: p.file, Msg: err.Error()}}
	}
	p.created.Add(1)
	info, derr := s.check(p, st)
	if derr != nil {
		st.close()
		return []*diag.Error{derr}
	}
	p.info = info
	s.put(p, st)
	return nil
}

// lintModules describes the set's read-only tables for lint, from one
// state built with the set's options.
func (s *Set) lintModules() (map[string]*lintModule, error) {
	st, err := s.newState()
	if err != nil {
		return nil, err
	}
	defer st.close()
	tables, err := st.readOnlyTables()
	if err != nil {
		return nil, err
	}
	return newLintModules(tables, s.opts.Modules), nil
}

// compile parses and compiles a file to a function prototype, and returns
// its syntax tree too. chunk is the name runtime errors carry
// ("build.lua:3: ...").
func compile(file, chunk string, src []byte) (*lua.FunctionProto, []ast.Stmt, *diag.Error) {
	stmts, err := parse.Parse(bytes.NewReader(src), chunk)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			e := &diag.Error{File: file, Line: pe.Pos.Line, Col: pe.Pos.Column, Msg: pe.Message}
			if pe.Pos.Line == parse.EOF || pe.Pos.Line <= 0 {
				e.Line, e.Col = bytes.Count(bytes.TrimRight(src, " \t\r\n"), []byte("\n"))+1, 1
				e.Msg += " at end of file"
			} else if pe.Token != "" {
				e.Msg += fmt.Sprintf(" near '%s'", pe.Token)
				e.Col = tokenStart(src, e.Line, e.Col, pe.Token)
			}
			if e.Col <= 0 {
				e.Col = 1
			}
			return nil, nil, e
		}
		return nil, nil, &diag.Error{File: file, Line: 1, Col: 1, Msg: strings.TrimSpace(err.Error())}
	}
	proto, err := lua.Compile(stmts, chunk)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, nil, &diag.Error{File: file, Line: max(ce.Line, 1), Col: 1, Msg: ce.Message}
		}
		return nil, nil, &diag.Error{File: file, Line: 1, Col: 1, Msg: err.Error()}
	}
	return proto, stmts, nil
}

// tokenStart returns the column where token starts when it ends at column
// col of line (gopher-lua places a syntax error at its token's last
// character), else col.
func tokenStart(src []byte, line, col int, token string) int {
	lines := bytes.Split(src, []byte("\n"))
	if line < 1 || line > len(lines) {
		return col
	}
	text := lines[line-1]
	if start := col - len(token); start >= 0 && col <= len(text) && string(text[start:col]) == token {
		return start + 1
	}
	return col
}

// check runs the file's top level in st and reads what it defined.
func (s *Set) check(p *plugin, st *state) (Info, *diag.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	L := st.L
	L.SetContext(ctx)
	defer L.RemoveContext()
	env, err := st.instantiate(p)
	if err != nil {
		if ctx.Err() != nil {
			return Info{}, &diag.Error{File: p.file, Line: 1, Col: 1,
				Msg: fmt.Sprintf("top level did not finish within %s", s.opts.Timeout)}
		}
		line, msg := splitWhere(errorText(err), p.name+".lua")
		return Info{}, &diag.Error{File: p.file, Line: max(line, 1), Col: 1, Msg: msg}
	}
	if _, ok := env.RawGetString("handle").(*lua.LFunction); !ok {
		return Info{}, &diag.Error{File: p.file, Line: 1, Col: 1, Msg: "plugin does not define function handle(event, params)"}
	}
	info, msg := readInfo(env.RawGetString("plugin"))
	if msg != "" {
		return Info{}, &diag.Error{File: p.file, Line: 1, Col: 1, Msg: msg}
	}
	info.Name = p.name
	return info, nil
}

// readInfo reads the optional plugin table.
func readInfo(v lua.LValue) (Info, string) {
	var info Info
	if v == lua.LNil {
		return info, ""
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		return info, "plugin must be a table"
	}
	switch d := t.RawGetString("description").(type) {
	case *lua.LNilType:
	case lua.LString:
		info.Description = string(d)
	default:
		return info, "plugin.description must be a string"
	}
	switch cmds := t.RawGetString("commands").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		for i := 1; i <= cmds.Len(); i++ {
			c, ok := cmds.RawGetInt(i).(*lua.LTable)
			if !ok {
				return info, fmt.Sprintf("plugin.commands[%d] must be a table", i)
			}
			name, ok1 := c.RawGetString("name").(lua.LString)
			help, ok2 := c.RawGetString("help").(lua.LString)
			if !ok1 || name == "" || (!ok2 && c.RawGetString("help") != lua.LNil) {
				return info, fmt.Sprintf("plugin.commands[%d] needs name (a string) and help (a string)", i)
			}
			info.Commands = append(info.Commands, CommandHelp{Name: string(name), Help: string(help)})
		}
	default:
		return info, "plugin.commands must be a list of {name = ..., help = ...}"
	}
	return info, ""
}

// splitWhere splits "chunk:LINE: msg" into LINE and msg.
func splitWhere(msg, chunk string) (int, string) {
	rest, ok := strings.CutPrefix(msg, chunk+":")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, msg
	}
	line, err := strconv.Atoi(num)
	if err != nil {
		return 0, msg
	}
	return line, strings.TrimSpace(text)
}
