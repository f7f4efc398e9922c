package config

import (
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/internal/suggest"
	"github.com/hookgate/hookgate/internal/tomlpos"
)

// defaultTOML is the configuration used when no file is given. The same
// text is shipped, annotated, as configs/hookgate.toml.
//
//go:embed default.toml
var defaultTOML string

// DefaultName is the file name errors about the embedded defaults carry.
const DefaultName = "<embedded default.toml>"

// DefaultTOML returns the text of the embedded default configuration.
func DefaultTOML() string { return defaultTOML }

// Load reads the configuration at path, or the embedded defaults when path
// is "". It decodes strictly, fills defaults for every zero field, reads
// "env:" and "file:" secrets, resolves relative paths (queue.path,
// rules.paths, plugins.dir, "file:" secrets) against the file's folder
// (embedded defaults keep them as written, relative to the working
// folder), and validates.
//
// Rules.Paths and Plugins.Dir stay empty when not set: the caller then uses
// the bundled example rules and plugins.
//
// On any problem Load returns a nil *Config and an error joining one *Error
// per problem, in file order, each a *diag.Error printed as
// "file:line:col: message"; get them with diag.Errors. All problems are reported in one pass, except that a file
// that is not valid TOML reports only its first syntax error.
func Load(path string) (*Config, error) {
	name, dir, src := DefaultName, "", defaultTOML
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, errorList{{File: path, Msg: "cannot read config: " + err.Error()}}.err()
		}
		name, dir, src = path, filepath.Dir(path), string(b)
	}
	cfg, err := parse(name, dir, src)
	if err != nil {
		return nil, err
	}
	cfg.File = path
	return cfg, nil
}

// parse decodes src (named name in errors; relative paths against dir, or
// kept as written when dir is "") into a defaulted, validated Config.
func parse(name, dir, src string) (*Config, error) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(src, &top)
	if err != nil {
		if at, msg, ok := tomlpos.SyntaxError(src, err); ok {
			return nil, errorList{{File: name, Line: at.Line, Col: at.Col, Msg: msg}}.err()
		}
		return nil, errorList{{File: name, Msg: err.Error()}}.err()
	}
	d := &decoder{md: &md, file: name, doc: tomlpos.Scan(src), bad: map[string]bool{}}
	cfg := &Config{}
	d.fields(top, reflect.ValueOf(cfg).Elem(), nil)
	applyDefaults(cfg)
	d.check(cfg, dir)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decoder walks the document against the Config type one key at a time,
// so that one bad value does not hide the next, and every problem gets the
// position of its own key, even in the second [[gitlab]] block.
type decoder struct {
	md   *toml.MetaData
	file string
	doc  *tomlpos.Doc
	errs errorList
	bad  map[string]bool // paths that already have a decode error
}

// errorList collects problems during one Load.
type errorList []*diag.Error

func (l *errorList) add(file string, line, col int, msg string) {
	*l = append(*l, &diag.Error{File: file, Line: line, Col: col, Msg: msg})
}

// err sorts the problems by position and joins them, or returns nil.
func (l errorList) err() error {
	slices.SortStableFunc(l, func(a, b *diag.Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return diag.Join(l)
}

// errorf records a problem at path: at its value when value is true, else
// at its key.
func (d *decoder) errorf(path []string, value bool, format string, args ...any) {
	for n := len(path); n > 0; n-- {
		if d.bad[pathKey(path[:n])] {
			return // the decode error already said it
		}
	}
	at := d.doc.Find(path, value)
	d.errs.add(d.file, at.Line, at.Col, fmt.Sprintf(format, args...))
}

// decodeErrorf is errorf for decoding; it marks path so that validation
// does not report the same key again.
func (d *decoder) decodeErrorf(path []string, value bool, format string, args ...any) {
	d.errorf(path, value, format, args...)
	d.bad[pathKey(path)] = true
}

// keyName is path as a user writes it, without array indices: "gitlab.url".
func keyName(path []string) string { return tomlpos.KeyName(path) }

// pathKey is path as a map key.
func pathKey(path []string) string { return strings.Join(path, "\x1f") }

// join returns a new slice a+b that shares no memory with a.
func join(a []string, b ...string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

var (
	durationType      = reflect.TypeFor[Duration]()
	sizeType          = reflect.TypeFor[Size]()
	secretType        = reflect.TypeFor[Secret]()
	textUnmarshalType = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
)

// fieldByTag finds the field of struct type t whose toml tag is name
// (exactly: a key that differs in case is unknown).
func fieldByTag(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if f.IsExported() && tag != "-" && tag == name {
			return i, true
		}
	}
	return 0, false
}

// isTable reports whether t is decoded as a TOML table (a plain struct).
func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshalType)
}

// fields decodes the keys of one table into the struct rv.
func (d *decoder) fields(m map[string]toml.Primitive, rv reflect.Value, path []string) {
	for key, prim := range m {
		p := join(path, key)
		i, ok := fieldByTag(rv.Type(), key)
		if !ok {
			d.unknownKey(m, rv.Type(), path, key)
			continue
		}
		fv := rv.Field(i)
		switch t := fv.Type(); {
		case isTable(t):
			d.table(prim, fv, p)
		case t.Kind() == reflect.Slice && isTable(t.Elem()):
			d.tableArray(prim, fv, p)
		default:
			d.leaf(prim, fv, p)
		}
	}
}

// unknownKey reports key, unknown in the table at path (of struct type t
// and keys m), suggesting the nearest known key. When that key is not set
// it is marked as already reported, so that "X is required" does not
// repeat the same mistake.
func (d *decoder) unknownKey(m map[string]toml.Primitive, t reflect.Type, path []string, key string) {
	at := join(path, key)
	var known []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag != "" && tag != "-" {
				known = append(known, tag)
			}
		}
	}
	s := suggest.Closest(key, known)
	if s == "" {
		d.decodeErrorf(at, false, "unknown key %s", keyName(at))
		return
	}
	d.decodeErrorf(at, false, "unknown key %s; did you mean %s?", keyName(at), keyName(join(path, s)))
	if _, set := m[s]; !set {
		d.bad[pathKey(join(path, s))] = true
	}
}

func (d *decoder) table(prim toml.Primitive, rv reflect.Value, path []string) {
	var raw any
	if err := d.md.PrimitiveDecode(prim, &raw); err != nil {
		d.decodeErrorf(path, true, "%s: %s", keyName(path), err)
		return
	}
	if _, ok := raw.(map[string]any); !ok {
		d.decodeErrorf(path, true, "wrong type for %s: want a table, got %s", keyName(path), tomlType(raw))
		return
	}
	var m map[string]toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &m); err != nil {
		d.decodeErrorf(path, true, "%s: %s", keyName(path), err)
		return
	}
	d.fields(m, rv, path)
}

func (d *decoder) tableArray(prim toml.Primitive, rv reflect.Value, path []string) {
	var raw any
	if err := d.md.PrimitiveDecode(prim, &raw); err != nil {
		d.decodeErrorf(path, true, "%s: %s", keyName(path), err)
		return
	}
	n := -1
	switch v := raw.(type) {
	case []map[string]any:
		n = len(v)
	case []any:
		n = len(v)
		for _, e := range v {
			if _, ok := e.(map[string]any); !ok {
				n = -1
				break
			}
		}
	}
	if n < 0 {
		d.decodeErrorf(path, true, "wrong type for %s: want an array of tables ([[%s]]), got %s",
			keyName(path), keyName(path), tomlType(raw))
		return
	}
	var list []toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &list); err != nil || len(list) != n {
		d.decodeErrorf(path, true, "%s: cannot decode array of tables", keyName(path))
		return
	}
	rv.Set(reflect.MakeSlice(rv.Type(), n, n))
	for i, p := range list {
		d.table(p, rv.Index(i), join(path, tomlpos.Index(i)))
	}
}

// leaf decodes one value after checking its TOML type, so that a wrong
// type gets a clear message rather than the library's.
func (d *decoder) leaf(prim toml.Primitive, fv reflect.Value, path []string) {
	var raw any
	if err := d.md.PrimitiveDecode(prim, &raw); err != nil {
		d.decodeErrorf(path, true, "%s: %s", keyName(path), err)
		return
	}
	if want, got, ok := compatible(fv.Type(), raw); !ok {
		d.decodeErrorf(path, true, "wrong type for %s: want %s, got %s", keyName(path), want, got)
		return
	}
	if err := d.md.PrimitiveDecode(prim, fv.Addr().Interface()); err != nil {
		msg := err.Error()
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		d.decodeErrorf(path, true, "%s for %s", msg, keyName(path))
	}
}

// compatible reports whether the decoded TOML value v fits Go type t, and
// if not what was wanted and what was found.
func compatible(t reflect.Type, v any) (want, got string, ok bool) {
	got = tomlType(v)
	switch t {
	case durationType:
		_, ok = v.(string)
		return `a duration string like "5s"`, got, ok
	case sizeType:
		switch v.(type) {
		case int64, string:
			ok = true
		}
		return `a size (integer bytes or a string like "25MiB")`, got, ok
	case secretType:
		_, ok = v.(string)
		return "a string", got, ok
	}
	switch t.Kind() {
	case reflect.Pointer:
		return compatible(t.Elem(), v)
	case reflect.String:
		_, ok = v.(string)
		return "a string", got, ok
	case reflect.Bool:
		_, ok = v.(bool)
		return "a boolean", got, ok
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Int16, reflect.Int8:
		_, ok = v.(int64)
		return "an integer", got, ok
	case reflect.Slice:
		elemWant, _, _ := compatible(t.Elem(), nil)
		want = "an array of " + strings.TrimPrefix(strings.TrimPrefix(elemWant, "an "), "a ") + "s"
		list, isList := v.([]any)
		if !isList {
			return want, got, false
		}
		for _, e := range list {
			if _, eg, eok := compatible(t.Elem(), e); !eok {
				return want, "an array containing " + eg, false
			}
		}
		return want, got, true
	}
	return fmt.Sprintf("a %s", t), got, false
}

// tomlType names the TOML type of a decoded value, with an article.
func tomlType(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}
