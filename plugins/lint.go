package plugins

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/internal/suggest"
)

// The modules a script gets (gitlab, log, json, kv, the libraries and the
// embedder's) are read-only tables: a field they do not have is nil on
// every run, so gitlab.add_label(...) can only fail, and only when that
// line runs ("attempt to call a non-function object"). lint finds such
// accesses in the parsed chunk, before anything runs, and asks each module
// about the string literals passed to its functions (Module.CheckArg).
//
// It knows only what a module is: the global of that name, not a local or
// parameter that shadows it, in a file that never assigns the global
// itself. A read used only as a condition (if gitlab.x then, gitlab.x or
// y, gitlab.x == nil, type(gitlab.x)) is a feature test and not reported.

// lintModule is what lint knows of one module table.
type lintModule struct {
	fields   map[string]bool // field name -> is a function
	names    []string        // field names, sorted
	checkArg func(fn string, arg int, value string) error
}

// newLintModules describes the read-only tables of a state: fields from
// the tables themselves (the one source), CheckArg from the modules.
func newLintModules(tables map[string]map[string]bool, mods []Module) map[string]*lintModule {
	out := make(map[string]*lintModule, len(tables))
	for name, fields := range tables {
		m := &lintModule{fields: fields}
		for f := range fields {
			m.names = append(m.names, f)
		}
		sort.Strings(m.names)
		out[name] = m
	}
	for _, mod := range mods {
		if m, ok := out[mod.Name]; ok {
			m.checkArg = mod.CheckArg
		}
	}
	return out
}

// lint returns the problems of chunk (the parsed src of file).
func lint(file string, src []byte, chunk []ast.Stmt, mods map[string]*lintModule) []*diag.Error {
	l := &linter{file: file, lines: strings.Split(string(src), "\n"), mods: mods, used: map[[2]int]bool{}}
	if l.shadowAll(chunk) {
		return nil
	}
	l.block(chunk)
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return l.errs
}

type linter struct {
	file  string
	lines []string
	mods  map[string]*lintModule
	// scopes are the locals in scope, innermost last.
	scopes []map[string]bool
	// assigned are module names the script assigns as globals somewhere:
	// not modules there.
	assigned map[string]bool
	used     map[[2]int]bool // line, column of accesses already placed
	errs     []*diag.Error
}

// module returns the module that the name refers to here, if any.
func (l *linter) module(name string) *lintModule {
	for i := len(l.scopes) - 1; i >= 0; i-- {
		if l.scopes[i][name] {
			return nil
		}
	}
	if l.assigned[name] {
		return nil
	}
	return l.mods[name]
}

// shadowAll finds the globals the script assigns ("gitlab = ...",
// "_G.gitlab = ...", "function gitlab() end") and reports true when it
// writes globals by computed names (_G[k] = v, rawset(_G, ...)): then no
// name is known to be a module.
func (l *linter) shadowAll(chunk []ast.Stmt) bool {
	l.assigned = map[string]bool{}
	all := false
	target := func(e ast.Expr) {
		switch e := e.(type) {
		case *ast.IdentExpr:
			l.assigned[e.Value] = true
		case *ast.AttrGetExpr:
			if o, ok := e.Object.(*ast.IdentExpr); ok && o.Value == "_G" {
				if k, ok := e.Key.(*ast.StringExpr); ok {
					l.assigned[k.Value] = true
				} else {
					all = true
				}
			}
		}
	}
	var stmts func([]ast.Stmt)
	var exprs func(...ast.Expr)
	exprs = func(es ...ast.Expr) {
		for _, e := range es {
			walkExpr(e, func(e ast.Expr) {
				switch e := e.(type) {
				case *ast.FuncCallExpr:
					if f, ok := e.Func.(*ast.IdentExpr); ok && f.Value == "rawset" && len(e.Args) > 0 {
						if t, ok := e.Args[0].(*ast.IdentExpr); ok && t.Value == "_G" {
							all = true
						}
					}
				case *ast.FunctionExpr:
					stmts(e.Stmts)
				}
			})
		}
	}
	stmts = func(list []ast.Stmt) {
		for _, st := range list {
			switch st := st.(type) {
			case *ast.AssignStmt:
				for _, e := range st.Lhs {
					target(e)
				}
				exprs(st.Lhs...)
				exprs(st.Rhs...)
			case *ast.FuncDefStmt:
				if st.Name.Func != nil {
					target(st.Name.Func)
				}
				stmts(st.Func.Stmts)
			case *ast.LocalAssignStmt:
				exprs(st.Exprs...)
			case *ast.FuncCallStmt:
				exprs(st.Expr)
			case *ast.DoBlockStmt:
				stmts(st.Stmts)
			case *ast.WhileStmt:
				exprs(st.Condition)
				stmts(st.Stmts)
			case *ast.RepeatStmt:
				exprs(st.Condition)
				stmts(st.Stmts)
			case *ast.IfStmt:
				exprs(st.Condition)
				stmts(st.Then)
				stmts(st.Else)
			case *ast.NumberForStmt:
				exprs(st.Init, st.Limit, st.Step)
				stmts(st.Stmts)
			case *ast.GenericForStmt:
				exprs(st.Exprs...)
				stmts(st.Stmts)
			case *ast.ReturnStmt:
				exprs(st.Exprs...)
			}
		}
	}
	stmts(chunk)
	return all
}

// walkExpr calls fn on e and every expression inside it, not descending
// into function bodies (fn gets the FunctionExpr).
func walkExpr(e ast.Expr, fn func(ast.Expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch e := e.(type) {
	case *ast.AttrGetExpr:
		walkExpr(e.Object, fn)
		walkExpr(e.Key, fn)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			walkExpr(f.Key, fn)
			walkExpr(f.Value, fn)
		}
	case *ast.FuncCallExpr:
		walkExpr(e.Func, fn)
		walkExpr(e.Receiver, fn)
		for _, a := range e.Args {
			walkExpr(a, fn)
		}
	case *ast.LogicalOpExpr:
		walkExpr(e.Lhs, fn)
		walkExpr(e.Rhs, fn)
	case *ast.RelationalOpExpr:
		walkExpr(e.Lhs, fn)
		walkExpr(e.Rhs, fn)
	case *ast.StringConcatOpExpr:
		walkExpr(e.Lhs, fn)
		walkExpr(e.Rhs, fn)
	case *ast.ArithmeticOpExpr:
		walkExpr(e.Lhs, fn)
		walkExpr(e.Rhs, fn)
	case *ast.UnaryMinusOpExpr:
		walkExpr(e.Expr, fn)
	case *ast.UnaryNotOpExpr:
		walkExpr(e.Expr, fn)
	case *ast.UnaryLenOpExpr:
		walkExpr(e.Expr, fn)
	}
}

func (l *linter) push(names ...string) {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	l.scopes = append(l.scopes, s)
}

func (l *linter) pop() { l.scopes = l.scopes[:len(l.scopes)-1] }

func (l *linter) declare(names ...string) {
	for _, n := range names {
		l.scopes[len(l.scopes)-1][n] = true
	}
}

// block walks a list of statements in a new scope.
func (l *linter) block(list []ast.Stmt, locals ...string) {
	l.push(locals...)
	defer l.pop()
	for _, st := range list {
		l.stmt(st)
	}
}

func (l *linter) stmt(st ast.Stmt) {
	switch st := st.(type) {
	case *ast.AssignStmt:
		for _, e := range st.Lhs {
			if a, ok := e.(*ast.AttrGetExpr); ok { // a target: only its parts are read
				l.expr(a.Object, false)
				l.expr(a.Key, false)
			}
		}
		l.exprs(st.Rhs)
	case *ast.LocalAssignStmt:
		if len(st.Names) == 1 && len(st.Exprs) == 1 {
			if _, ok := st.Exprs[0].(*ast.FunctionExpr); ok { // local function f: f is visible inside
				l.declare(st.Names...)
			}
		}
		l.exprs(st.Exprs)
		l.declare(st.Names...)
	case *ast.FuncCallStmt:
		l.expr(st.Expr, false)
	case *ast.DoBlockStmt:
		l.block(st.Stmts)
	case *ast.WhileStmt:
		l.expr(st.Condition, true)
		l.block(st.Stmts)
	case *ast.RepeatStmt:
		l.push()
		for _, s := range st.Stmts {
			l.stmt(s)
		}
		l.expr(st.Condition, true) // sees the body's locals
		l.pop()
	case *ast.IfStmt:
		l.expr(st.Condition, true)
		l.block(st.Then)
		l.block(st.Else)
	case *ast.NumberForStmt:
		l.exprs([]ast.Expr{st.Init, st.Limit, st.Step})
		l.block(st.Stmts, st.Name)
	case *ast.GenericForStmt:
		l.exprs(st.Exprs)
		l.block(st.Stmts, st.Names...)
	case *ast.FuncDefStmt:
		if a, ok := st.Name.Func.(*ast.AttrGetExpr); ok {
			l.expr(a.Object, false)
		}
		params := st.Func.ParList.Names
		if st.Name.Method != "" {
			params = append([]string{"self"}, params...)
		}
		l.block(st.Func.Stmts, params...)
	case *ast.ReturnStmt:
		l.exprs(st.Exprs)
	}
}

func (l *linter) exprs(list []ast.Expr) {
	for _, e := range list {
		l.expr(e, false)
	}
}

// expr walks e; test is true where e's value is only tested (a condition,
// an operand of and, or, not, == and ~=, the argument of type).
func (l *linter) expr(e ast.Expr, test bool) {
	switch e := e.(type) {
	case nil:
	case *ast.AttrGetExpr:
		l.access(e, test, false)
		l.expr(e.Object, false)
		l.expr(e.Key, false)
	case *ast.FuncCallExpr:
		l.call(e)
	case *ast.FunctionExpr:
		l.block(e.Stmts, e.ParList.Names...)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			l.expr(f.Key, false)
			l.expr(f.Value, false)
		}
	case *ast.LogicalOpExpr:
		l.expr(e.Lhs, true)
		l.expr(e.Rhs, true)
	case *ast.RelationalOpExpr:
		eq := e.Operator == "==" || e.Operator == "~="
		l.expr(e.Lhs, eq)
		l.expr(e.Rhs, eq)
	case *ast.UnaryNotOpExpr:
		l.expr(e.Expr, true)
	case *ast.StringConcatOpExpr:
		l.expr(e.Lhs, false)
		l.expr(e.Rhs, false)
	case *ast.ArithmeticOpExpr:
		l.expr(e.Lhs, false)
		l.expr(e.Rhs, false)
	case *ast.UnaryMinusOpExpr:
		l.expr(e.Expr, false)
	case *ast.UnaryLenOpExpr:
		l.expr(e.Expr, false)
	}
}

// call checks module.fn(...) and module:fn(...) and their string literal
// arguments, then walks the parts.
func (l *linter) call(e *ast.FuncCallExpr) {
	var mod *lintModule
	var modName, fn string
	switch {
	case e.Receiver != nil:
		l.expr(e.Receiver, false)
		if id, ok := e.Receiver.(*ast.IdentExpr); ok {
			if m := l.module(id.Value); m != nil {
				mod, modName, fn = m, id.Value, e.Method
				l.check(m, id.Value, e.Method, ":", true, false, id.Line(), e.Line())
			}
		}
	default:
		if a, ok := e.Func.(*ast.AttrGetExpr); ok {
			if id, k, m := l.moduleAccess(a); m != nil {
				mod, modName, fn = m, id, k
			}
			l.access(a, false, true)
			l.expr(a.Object, false)
			l.expr(a.Key, false)
		} else {
			l.expr(e.Func, false)
		}
	}
	isType := false
	if id, ok := e.Func.(*ast.IdentExpr); ok && id.Value == "type" && l.module("type") == nil {
		isType = true
	}
	for i, a := range e.Args {
		l.expr(a, isType)
		s, ok := a.(*ast.StringExpr)
		if !ok || mod == nil || mod.checkArg == nil || !mod.fields[fn] {
			continue
		}
		if err := mod.checkArg(fn, i+1, s.Value); err != nil {
			line, col := l.literalPos(s)
			l.errs = append(l.errs, &diag.Error{File: l.file, Line: line, Col: col,
				Msg: fmt.Sprintf("%s.%s: %v", modName, fn, err)})
		}
	}
}

// moduleAccess returns the module, its name and the field of module.field.
func (l *linter) moduleAccess(a *ast.AttrGetExpr) (string, string, *lintModule) {
	id, ok := a.Object.(*ast.IdentExpr)
	if !ok {
		return "", "", nil
	}
	k, ok := a.Key.(*ast.StringExpr)
	if !ok {
		return "", "", nil
	}
	m := l.module(id.Value)
	if m == nil {
		return "", "", nil
	}
	return id.Value, k.Value, m
}

// access reports module.field when the module has no such field (or, when
// called, when it is not a function), unless only tested.
func (l *linter) access(a *ast.AttrGetExpr, test, called bool) {
	name, field, m := l.moduleAccess(a)
	if m == nil {
		return
	}
	l.check(m, name, field, ".", called, test && !called, a.Object.Line(), a.Key.Line())
}

// check reports name<sep>field on lines from..to, unless only tested.
func (l *linter) check(m *lintModule, name, field, sep string, called, tested bool, from, to int) {
	isFunc, ok := m.fields[field]
	if ok && (isFunc || !called) {
		return
	}
	// Placed even when not reported, so that a later access of the same
	// text on the line gets its own column.
	line, col := l.accessPos(name, field, from, to)
	if tested {
		return
	}
	what := "a field"
	if called {
		what = "a function"
	}
	msg := fmt.Sprintf("%s%s%s is not %s of the %s module", name, sep, field, what, name)
	switch {
	case ok: // a value, called
		msg = fmt.Sprintf("%s.%s is not a function (it is a value of the %s module)", name, field, name)
	default:
		if s := suggest.Closest(field, m.names); s != "" {
			msg += fmt.Sprintf("; did you mean %s%s%s?", name, sep, s)
		} else {
			msg += "; it has " + strings.Join(m.names, ", ")
		}
	}
	l.errs = append(l.errs, &diag.Error{File: l.file, Line: line, Col: col, Msg: msg})
}

// accessPos finds name.field (or name:field) on lines from..to, the first
// occurrence not already placed; it falls back to the start of line from.
func (l *linter) accessPos(name, field string, from, to int) (int, int) {
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\s*[.:]\s*` + regexp.QuoteMeta(field) + `\b`)
	for line := max(from, 1); line <= max(to, from) && line <= len(l.lines); line++ {
		for _, m := range re.FindAllStringIndex(l.lines[line-1], -1) {
			at := [2]int{line, m[0] + 1}
			if !l.used[at] {
				l.used[at] = true
				return at[0], at[1]
			}
		}
	}
	return max(from, 1), 1
}

// literalPos finds the string literal s on its line: the column of its
// opening quote, else 1.
func (l *linter) literalPos(s *ast.StringExpr) (int, int) {
	line := max(s.Line(), 1)
	if line > len(l.lines) {
		return line, 1
	}
	text := l.lines[line-1]
	for _, q := range []string{`"`, `'`} {
		lit := q + s.Value + q
		for i := 0; ; {
			j := strings.Index(text[i:], lit)
			if j < 0 {
				break
			}
			at := [2]int{line, i + j + 1}
			if !l.used[at] {
				l.used[at] = true
				return at[0], at[1]
			}
			i += j + 1
		}
	}
	return line, 1
}

// tableFields returns the fields of t and whether each is a function.
func tableFields(t *lua.LTable) map[string]bool {
	out := map[string]bool{}
	t.ForEach(func(k, v lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			_, isFunc := v.(*lua.LFunction)
			out[string(s)] = isFunc
		}
	})
	return out
}
