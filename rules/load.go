package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/internal/projectglob"
)

// Options control Load.
type Options struct {
	// PluginExists reports whether a plugin of that name can be run. When
	// nil, plugin names are only checked for their form.
	PluginExists func(name string) bool
	// PluginDir is the plugins folder as shown in "plugin not found"
	// messages. Default "plugins".
	PluginDir string
}

// Load reads every file matched by the globs in paths (each file once, in
// sorted order), validates and compiles every rule, and returns the set.
// A path without glob characters must exist; a glob may match nothing.
//
// On any problem Load returns a nil Set and an error joining one
// *diag.Error per problem in every file (use diag.Errors to list them), so
// one run of `hookgate check` shows them all.
func Load(paths []string, opts Options) (*Set, error) {
	files, errs := expandPaths(paths)
	var all []*Rule
	names := map[string]*loadedRule{}
	for _, f := range files {
		rules, ferrs := loadFile(f, opts)
		errs = append(errs, ferrs...)
		for _, lr := range rules {
			if first, dup := names[lr.rule.Name]; dup {
				errs = append(errs, &diag.Error{File: f, Line: lr.namePos.Line, Col: lr.namePos.Col,
					Msg: fmt.Sprintf("duplicate rule name %q (first defined at %s:%d:%d)",
						lr.rule.Name, first.rule.File, first.namePos.Line, first.namePos.Col)})
				continue
			}
			names[lr.rule.Name] = lr
			all = append(all, lr.rule)
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool {
			a, b := errs[i], errs[j]
			if a.File != b.File {
				return a.File < b.File
			}
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Col < b.Col
		})
		return nil, diag.Join(errs)
	}
	return newSet(files, all), nil
}

// expandPaths resolves the globs to a sorted list of distinct files.
func expandPaths(paths []string) ([]string, []*diag.Error) {
	seen := map[string]bool{}
	var files []string
	var errs []*diag.Error
	for _, p := range paths {
		matches := []string{p}
		if strings.ContainsAny(p, "*?[\\") {
			var err error
			if matches, err = filepath.Glob(p); err != nil {
				errs = append(errs, &diag.Error{File: p, Msg: fmt.Sprintf("bad glob: %v", err)})
				continue
			}
		}
		for _, m := range matches {
			if seen[m] {
				continue
			}
			seen[m] = true
			files = append(files, m)
		}
	}
	sort.Strings(files)
	return files, errs
}

// loadedRule is a rule with the positions Load needs after the file.
type loadedRule struct {
	rule    *Rule
	namePos pos
}

// ruleBlock is what the scan found for one [[rule]]: where its header is
// and, for each top-level key of the rule, its first occurrence (a dotted
// key or a [rule.x] sub-table counts as key x).
type ruleBlock struct {
	header pos
	keys   map[string]tomlKey
	order  []string // keys in file order
}

// loadFile decodes, validates and compiles the rules of one file.
func loadFile(path string, opts Options) ([]*loadedRule, []*diag.Error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, []*diag.Error{{File: path, Msg: "no such file"}}
		}
		return nil, []*diag.Error{{File: path, Msg: fmt.Sprintf("read rule file: %v", err)}}
	}
	src := string(data)
	var doc map[string]any
	if _, err := toml.Decode(src, &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, []*diag.Error{{File: path, Line: pe.Position.Line, Col: pe.Position.Col, Msg: pe.Message}}
		}
		return nil, []*diag.Error{{File: path, Line: 1, Msg: err.Error()}}
	}
	f := &fileLoader{path: path, src: src, lines: newLineIndex(src), opts: opts}
	blocks := f.structure(scanTOML(src))
	// Root keys the scan did not see (it should see all) are still errors.
	for k := range doc {
		if k != "rule" && !f.rootSeen[k] {
			f.errAt(pos{Line: 1, Col: 1}, "unknown key %q", k)
		}
	}
	raw := doc["rule"]
	var out []*loadedRule
	switch list := raw.(type) {
	case nil:
	case []map[string]any:
		for i, m := range list {
			blk := ruleBlock{header: pos{Line: 1, Col: 1}}
			if i < len(blocks) {
				blk = blocks[i]
			}
			if lr := f.rule(m, blk); lr != nil {
				out = append(out, lr)
			}
		}
	default:
		f.errAt(f.rulePos, "rule must be an array of tables: write each rule as a [[rule]] table")
	}
	return out, f.errs
}

// fileLoader carries what checking one file needs.
type fileLoader struct {
	path    string
	src     string
	lines   lineIndex
	opts    Options
	errs    []*diag.Error
	rulePos pos // where "rule" is first defined when it is not [[rule]]
	// rootSeen are the root keys and tables the scan found and reported.
	rootSeen map[string]bool
}

func (f *fileLoader) errAt(p pos, format string, args ...any) {
	f.errs = append(f.errs, &diag.Error{File: f.path, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)})
}

// structure reports keys and tables other than [[rule]] and returns the
// [[rule]] blocks in file order.
func (f *fileLoader) structure(tables []tomlTable) []ruleBlock {
	var blocks []ruleBlock
	f.rulePos = pos{Line: 1, Col: 1}
	f.rootSeen = map[string]bool{}
	for ti, t := range tables {
		switch {
		case ti == 0: // root table
			for _, k := range t.Keys {
				if len(k.Path) > 0 && k.Path[0] == "rule" {
					f.rulePos = k.Key
					continue // reported once, from the decoded type
				}
				f.errAt(k.Key, "unknown key %q", strings.Join(k.Path, "."))
				if len(k.Path) > 0 {
					f.rootSeen[k.Path[0]] = true
				}
			}
		case len(t.Path) == 0 || t.Path[0] != "rule":
			f.errAt(t.Header, "unknown table [%s]", strings.Join(t.Path, "."))
			if len(t.Path) > 0 {
				f.rootSeen[t.Path[0]] = true
			}
		case len(t.Path) == 1 && !t.Array:
			f.rulePos = t.Header
		case len(t.Path) == 1: // [[rule]]
			blk := ruleBlock{header: t.Header, keys: map[string]tomlKey{}}
			for _, k := range t.Keys {
				blk.add(k)
			}
			blocks = append(blocks, blk)
		case len(blocks) > 0: // [rule.x] or [[rule.x]] belongs to the last [[rule]]
			blk := &blocks[len(blocks)-1]
			blk.add(tomlKey{Path: t.Path[1:], Key: t.Header, Value: t.Header})
		}
	}
	return blocks
}

func (b *ruleBlock) add(k tomlKey) {
	if len(k.Path) == 0 {
		return
	}
	if _, ok := b.keys[k.Path[0]]; ok {
		return
	}
	b.keys[k.Path[0]] = k
	b.order = append(b.order, k.Path[0])
}

var (
	pluginName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)
	kindName   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// rule validates and compiles one [[rule]] table; it returns nil when the
// rule has problems (they are recorded in f.errs).
func (f *fileLoader) rule(m map[string]any, blk ruleBlock) *loadedRule {
	r := &Rule{Enabled: true, File: f.path, Line: blk.header.Line}
	nerrs := len(f.errs)
	keyPos := func(k string) pos {
		if tk, ok := blk.keys[k]; ok {
			return tk.Key
		}
		return blk.header
	}
	valPos := func(k string) pos {
		if tk, ok := blk.keys[k]; ok {
			return tk.Value
		}
		return blk.header
	}
	// Visit keys in file order, then any the scan missed, by name.
	order := append([]string(nil), blk.order...)
	var rest []string
	for k := range m {
		if _, ok := blk.keys[k]; !ok {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	order = append(order, rest...)

	var namePos pos
	for _, k := range order {
		v, ok := m[k]
		if !ok {
			continue
		}
		p := valPos(k)
		switch k {
		case "name":
			if s, ok := f.str(k, v, p); ok {
				if strings.TrimSpace(s) == "" || strings.ContainsFunc(s, isControl) {
					f.errAt(p, "name must be non-empty text on one line")
				}
				r.Name, namePos = s, p
			}
		case "description":
			r.Description, _ = f.str(k, v, p)
		case "enabled":
			r.Enabled, _ = f.boolean(k, v, p)
		case "stop":
			r.Stop, _ = f.boolean(k, v, p)
		case "allow_bots":
			r.AllowBots, _ = f.boolean(k, v, p)
		case "on_edit":
			r.OnEdit, _ = f.boolean(k, v, p)
		case "on":
			kinds, _ := f.stringList(k, v, p)
			for _, kind := range kinds {
				if !kindName.MatchString(kind) {
					f.errAt(p, "on: %q is not an envelope kind (kinds are lowercase, like \"note\" or \"merge_request\")", kind)
				}
			}
			r.On = kinds
		case "when":
			if s, ok := f.str(k, v, p); ok {
				r.When = s
				r.cond = f.condition(s, blk.keys[k], p)
			}
		case "plugin":
			if s, ok := f.str(k, v, p); ok {
				r.Plugin = s
				f.checkPlugin(s, p)
			}
		case "params":
			if t, ok := v.(map[string]any); ok {
				r.Params = t
			} else {
				f.errAt(p, "params must be a table, not %s", tomlType(v))
			}
		case "projects":
			globs, _ := f.stringList(k, v, p)
			for i, g := range globs {
				if err := projectglob.Valid(g); err != nil {
					f.errAt(p, "projects: %v", err)
				}
				// Project paths compare as envelope.NormalizeProjectPath
				// spells them: lower case, no outer "/".
				globs[i] = projectglob.Normalize(g)
			}
			r.Projects = globs
		case "require_access":
			level, err := parseAccess(v)
			if err != nil {
				f.errAt(p, "%v", err)
			}
			r.RequireAccess = level
		default:
			f.errAt(keyPos(k), "unknown key %q in [[rule]]", k)
		}
	}
	if _, ok := m["name"]; !ok {
		f.errAt(blk.header, "rule has no name")
	}
	if _, ok := m["plugin"]; !ok {
		f.errAt(blk.header, "rule %q has no plugin", r.Name)
	}
	if r.Params == nil {
		r.Params = map[string]any{}
	}
	if len(f.errs) > nerrs {
		return nil
	}
	return &loadedRule{rule: r, namePos: namePos}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (f *fileLoader) str(key string, v any, p pos) (string, bool) {
	s, ok := v.(string)
	if !ok {
		f.errAt(p, "%s must be a string, not %s", key, tomlType(v))
	}
	return s, ok
}

func (f *fileLoader) boolean(key string, v any, p pos) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		f.errAt(p, "%s must be true or false, not %s", key, tomlType(v))
	}
	return b, ok
}

func (f *fileLoader) stringList(key string, v any, p pos) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		f.errAt(p, "%s must be a list of strings, like %s = [\"...\"], not %s", key, key, tomlType(v))
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, ok := item.(string)
		if !ok {
			f.errAt(p, "%s must be a list of strings, not a list holding %s", key, tomlType(item))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (f *fileLoader) checkPlugin(name string, p pos) {
	if !pluginName.MatchString(name) {
		f.errAt(p, "plugin %q is not a plugin name (letters, digits, _ and -; the file is plugins/NAME.lua)", name)
		return
	}
	if f.opts.PluginExists != nil && !f.opts.PluginExists(name) {
		dir := f.opts.PluginDir
		if dir == "" {
			dir = "plugins"
		}
		f.errAt(p, "plugin %q not found (%s)", name, filepath.Join(dir, name+".lua"))
	}
}

// tomlType names the TOML type of a decoded value for messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	default:
		return "a date or time"
	}
}
