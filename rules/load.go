package rules

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/internal/projectglob"
	"github.com/hookgate/hookgate/internal/suggest"
	"github.com/hookgate/hookgate/internal/tomlpos"
)

// Options control Load.
type Options struct {
	// PluginExists reports whether a plugin of that name exists (its file
	// is there, even if it failed to load: that failure is reported on
	// its own). When nil, plugin names are only checked for their form.
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
			if !lr.hasName {
				continue
			}
			if first, dup := names[lr.name]; dup {
				errs = append(errs, &diag.Error{File: f, Line: lr.namePos.Line, Col: lr.namePos.Col,
					Msg: fmt.Sprintf("duplicate rule name %q (first defined at %s:%d:%d)",
						lr.name, first.file, first.namePos.Line, first.namePos.Col)})
				continue
			}
			names[lr.name] = lr
			if lr.rule != nil {
				all = append(all, lr.rule)
			}
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

// loadedRule is what Load needs of one [[rule]] after its file: the rule
// when it has no problem, and its name and where it is, even when it has
// (names must be unique among all rules, not only the clean ones).
type loadedRule struct {
	rule    *Rule // nil when the rule has problems
	name    string
	hasName bool
	file    string
	namePos tomlpos.Pos
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
		if at, msg, ok := tomlpos.SyntaxError(src, err); ok {
			return nil, []*diag.Error{{File: path, Line: at.Line, Col: at.Col, Msg: msg}}
		}
		return nil, []*diag.Error{{File: path, Line: 1, Msg: err.Error()}}
	}
	f := &fileLoader{path: path, doc: tomlpos.Scan(src), opts: opts}
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		if k != "rule" {
			f.unknownRoot(k, doc[k])
		}
	}
	var out []*loadedRule
	switch list := doc["rule"].(type) {
	case nil:
	case []map[string]any:
		for i, m := range list {
			out = append(out, f.rule(m, []string{"rule", tomlpos.Index(i)}))
		}
	default:
		f.errAt(f.at([]string{"rule"}, false), "rule must be an array of tables: write each rule as a [[rule]] table")
	}
	return out, f.errs
}

// fileLoader carries what checking one file needs.
type fileLoader struct {
	path string
	doc  *tomlpos.Doc
	opts Options
	errs []*diag.Error
}

func (f *fileLoader) errAt(p tomlpos.Pos, format string, args ...any) {
	f.errs = append(f.errs, &diag.Error{File: f.path, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)})
}

// at is where the key (or, with value, the value) at path is, or the
// nearest enclosing key; the file's start when nothing is known.
func (f *fileLoader) at(path []string, value bool) tomlpos.Pos {
	if p := f.doc.Find(path, value); p.Line > 0 {
		return p
	}
	return tomlpos.Pos{Line: 1, Col: 1}
}

// unknownRoot reports a top-level key or table other than [[rule]].
func (f *fileLoader) unknownRoot(k string, v any) {
	p := f.at([]string{k}, false)
	hint := ""
	if suggest.Closest(k, []string{"rule"}) != "" {
		hint = "; did you mean [[rule]]?"
	}
	switch _, array := v.([]map[string]any); {
	case f.doc.IsTable(k) && array:
		f.errAt(p, "unknown table [[%s]]%s", tomlpos.KeyName([]string{k}), hint)
	case f.doc.IsTable(k):
		f.errAt(p, "unknown table [%s]%s", tomlpos.KeyName([]string{k}), hint)
	default:
		f.errAt(p, "unknown key %q%s", k, hint)
	}
}

// ruleKeys are the keys of a [[rule]], in the order docs/rules.md lists
// them (the order "did you mean" prefers on a tie).
var ruleKeys = []string{
	"name", "description", "enabled", "on", "when", "plugin", "params",
	"stop", "projects", "require_access", "allow_bots", "on_edit",
}

var (
	pluginName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)
	kindName   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// rule validates and compiles the [[rule]] table m at path. Its problems
// are recorded in f.errs; the result has a nil rule when there are any.
func (f *fileLoader) rule(m map[string]any, path []string) *loadedRule {
	header := f.at(path, false)
	r := &Rule{Enabled: true, File: f.path, Line: header.Line}
	lr := &loadedRule{file: f.path}
	nerrs := len(f.errs)
	// suggested are missing keys an unknown key was taken for: their
	// absence is that key's error, not another one.
	suggested := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		p := f.at(append(path[:len(path):len(path)], k), true)
		switch k {
		case "name":
			if s, ok := f.str(k, v, p); ok {
				r.Name = s
				if strings.TrimSpace(s) == "" || strings.ContainsFunc(s, isControl) {
					f.errAt(p, "name must be non-empty text on one line")
				} else {
					lr.name, lr.hasName, lr.namePos = s, true, p
				}
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
				r.cond = f.condition(s, append(path[:len(path):len(path)], k), p)
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
			kp := f.at(append(path[:len(path):len(path)], k), false)
			s := suggest.Closest(k, ruleKeys)
			if s == "" {
				f.errAt(kp, "unknown key %q in [[rule]]", k)
				break
			}
			f.errAt(kp, "unknown key %q in [[rule]]; did you mean %q?", k, s)
			if _, set := m[s]; !set {
				suggested[s] = true
			}
		}
	}
	if _, ok := m["name"]; !ok && !suggested["name"] {
		f.errAt(header, "rule has no name")
	}
	if _, ok := m["plugin"]; !ok && !suggested["plugin"] {
		if lr.hasName {
			f.errAt(header, "rule %q has no plugin", r.Name)
		} else {
			f.errAt(header, "rule has no plugin")
		}
	}
	if r.Params == nil {
		r.Params = map[string]any{}
	}
	if len(f.errs) == nerrs {
		lr.rule = r
	}
	return lr
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (f *fileLoader) str(key string, v any, p tomlpos.Pos) (string, bool) {
	s, ok := v.(string)
	if !ok {
		f.errAt(p, "%s must be a string, not %s", key, tomlType(v))
	}
	return s, ok
}

func (f *fileLoader) boolean(key string, v any, p tomlpos.Pos) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		f.errAt(p, "%s must be true or false, not %s", key, tomlType(v))
	}
	return b, ok
}

func (f *fileLoader) stringList(key string, v any, p tomlpos.Pos) ([]string, bool) {
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

func (f *fileLoader) checkPlugin(name string, p tomlpos.Pos) {
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
