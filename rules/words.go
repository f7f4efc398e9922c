package rules

import (
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/hookgate/hookgate/internal/suggest"
)

// expr's checker speaks of Go types ("type envelope.MergeRequest has no
// field target_brnach"); a rule author knows the names docs/rules.md uses
// (merge_request.target_branch). inAuthorWords translates a compile error
// into those names, with a "did you mean" from the environment itself, so
// the words cannot drift from what a condition can read.

var (
	noFieldRe     = regexp.MustCompile(`^type (\S+) has no field (\S+)$`)
	unknownNameRe = regexp.MustCompile(`^unknown name (\S+)$`)
)

// inAuthorWords returns the message of err, a compileCondition error for
// the condition src, in the rule author's words.
func inAuthorWords(src string, err error) string {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return envWords().replacer.Replace(err.Error())
	}
	w := envWords()
	msg := strings.TrimSpace(fe.Message)
	if m := noFieldRe.FindStringSubmatch(msg); m != nil {
		if s, ok := w.noField(src, fe.From, m[1], m[2]); ok {
			return s
		}
	}
	if m := unknownNameRe.FindStringSubmatch(msg); m != nil {
		return w.unknownName(src, fe.From, m[1])
	}
	return w.replacer.Replace(msg)
}

// words is what a condition can name.
type words struct {
	top   []string         // fields, then functions, in declaration order
	funcs map[string]bool  // which of top are functions
	types map[string]table // the environment's struct types, by Go name ("envelope.MergeRequest")
	// replacer turns Go type names left in other messages into the
	// author's ("envelope.User" into "user", "int64" into "int").
	replacer *strings.Replacer
}

// table is a struct type of the environment as the author knows it: by the
// field that holds it ("merge_request") and its fields.
type table struct {
	name   string
	fields []string
}

var envWords = sync.OnceValue(func() *words {
	w := &words{funcs: map[string]bool{}, types: map[string]table{}}
	var fields []string
	for _, f := range exprFields(reflect.TypeFor[evalEnv]()) {
		if f.typ.Kind() == reflect.Func {
			w.funcs[f.name] = true
		} else {
			fields = append(fields, f.name)
		}
	}
	var funcs []string
	for _, f := range exprFields(reflect.TypeFor[evalEnv]()) {
		if w.funcs[f.name] {
			funcs = append(funcs, f.name)
		}
	}
	funcs = append(funcs, "glob") // exprOptions' expr.Function
	w.funcs["glob"] = true
	for _, name := range builtin.Names {
		if !w.funcs[name] {
			funcs = append(funcs, name)
			w.funcs[name] = true
		}
	}
	w.top = append(fields, funcs...)
	w.nameTypes(reflect.TypeFor[evalEnv]())

	pairs := []string{"float64", "float", "int64", "int", "map[string]interface {}", "map", "[]interface {}", "list", "[]string", "list of strings"}
	for goName, t := range w.types {
		pairs = append(pairs, "[]"+goName, "list of "+t.name, goName, t.name)
	}
	// Longer names first, so "[]command.Command" wins over "command.Command".
	type pair struct{ from, to string }
	var ps []pair
	for i := 0; i < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int { return len(b.from) - len(a.from) })
	var flat []string
	for _, p := range ps {
		flat = append(flat, p.from, p.to)
	}
	w.replacer = strings.NewReplacer(flat...)
	return w
})

// nameTypes names the struct types reachable from t after the fields that
// hold them; a type held directly wins over one held in a list (command,
// not commands).
func (w *words) nameTypes(t reflect.Type) {
	var lists []exprField
	for _, f := range exprFields(t) {
		switch ft := deref(f.typ); {
		case ft.Kind() == reflect.Struct:
			if _, seen := w.types[ft.String()]; !seen {
				w.types[ft.String()] = table{name: f.name, fields: fieldNames(ft)}
				w.nameTypes(ft)
			}
		case ft.Kind() == reflect.Slice && deref(ft.Elem()).Kind() == reflect.Struct:
			lists = append(lists, f)
		}
	}
	for _, f := range lists {
		et := deref(deref(f.typ).Elem())
		if _, seen := w.types[et.String()]; !seen {
			w.types[et.String()] = table{name: f.name, fields: fieldNames(et)}
			w.nameTypes(et)
		}
	}
}

// noField explains "type T has no field F" at rune offset from of src.
func (w *words) noField(src string, from int, goType, field string) (string, bool) {
	base, pointer := memberBase(src, from, field)
	t, isTable := w.types[goType]
	if !isTable {
		// A field of a string, a number, a list: it has none.
		what := "the value"
		if base != "" {
			what = base
		}
		return what + " is " + article(w.replacer.Replace(goType)) + ": it has no field " + field, true
	}
	written := func(f string) string {
		switch {
		case pointer:
			return "." + f
		case base != "":
			return base + "." + f
		default:
			return t.name + "." + f
		}
	}
	msg := written(field) + " is not a field"
	if pointer {
		msg += " of " + t.name
	}
	if s := suggest.Closest(field, t.fields); s != "" {
		return msg + "; did you mean " + written(s) + "?", true
	}
	return msg + "; " + t.name + " has " + strings.Join(t.fields, ", "), true
}

// unknownName explains "unknown name X" at rune offset from of src.
func (w *words) unknownName(src string, from int, name string) string {
	what := "a field"
	if isCallee(src, from, name) {
		what = "a function"
	}
	if s := suggest.Closest(name, w.top); s != "" {
		return name + " is not " + what + "; did you mean " + s + "?"
	}
	return name + " is not " + what + " of a condition (docs/rules.md lists them)"
}

// memberBase finds the member access .field at rune offset from of src and
// returns its object as written (merge_request, project), or pointer true
// for the element of a closure (.name in any(commands, .name == "x")). An
// object that is not a plain path gives "".
func memberBase(src string, from int, field string) (base string, pointer bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return "", false
	}
	var found *ast.MemberNode
	ast.Find(tree.Node, func(n ast.Node) bool {
		m, ok := n.(*ast.MemberNode)
		if !ok {
			return false
		}
		if p, ok := m.Property.(*ast.StringNode); ok && p.Value == field {
			if found == nil || p.Location().From == from || m.Location().From == from {
				found = m
			}
		}
		return false
	})
	if found == nil {
		return "", false
	}
	if _, ok := found.Node.(*ast.PointerNode); ok {
		return "", true
	}
	return pathOf(found.Node), false
}

// pathOf returns a chain of names (a.b.c, $env.a) as written without
// $env, or "" for anything else.
func pathOf(n ast.Node) string {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			return ""
		}
		return n.Value
	case *ast.MemberNode:
		p, ok := n.Property.(*ast.StringNode)
		if !ok {
			return ""
		}
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			return p.Value
		}
		if base := pathOf(n.Node); base != "" {
			return base + "." + p.Value
		}
	}
	return ""
}

// isCallee reports whether the name at rune offset from of src is called.
func isCallee(src string, from int, name string) bool {
	tree, err := parser.Parse(src)
	if err != nil {
		return false
	}
	return ast.Find(tree.Node, func(n ast.Node) bool {
		c, ok := n.(*ast.CallNode)
		if !ok {
			return false
		}
		id, ok := c.Callee.(*ast.IdentifierNode)
		return ok && id.Value == name && id.Location().From == from
	}) != nil
}

// exprField is a name a struct offers a condition, and its type.
type exprField struct {
	name string
	typ  reflect.Type
}

// exprFields lists the names expr resolves on struct type t: exported
// fields by their expr tag (or Go name), embedded structs' fields in
// their place, without "-" and the "$" names the cost patch calls.
func exprFields(t reflect.Type) []exprField {
	t = deref(t)
	var out []exprField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && deref(f.Type).Kind() == reflect.Struct {
			out = append(out, exprFields(f.Type)...)
			continue
		}
		name := f.Tag.Get("expr")
		if name == "" {
			name = f.Name
		}
		if name == "-" || strings.HasPrefix(name, "$") {
			continue
		}
		out = append(out, exprField{name: name, typ: f.Type})
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for _, f := range exprFields(t) {
		out = append(out, f.name)
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// article puts "a" or "an" before a type's name.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
