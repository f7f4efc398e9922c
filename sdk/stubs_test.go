package sdk_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/envelope/command"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/sdk/plugintest"
)

const stubsFile = "lua/hookgate.d.lua"

// luaBuiltins are the sandbox's globals that come from Lua 5.1 itself:
// LuaLS declares them already, so the stubs do not.
var luaBuiltins = []string{
	"_G", "_VERSION", "assert", "error", "getmetatable", "ipairs", "math",
	"next", "pairs", "pcall", "rawequal", "rawget", "rawset", "select",
	"setmetatable", "string", "table", "tonumber", "tostring", "type",
	"unpack", "xpcall",
}

// scriptDefined are the globals a plugin defines itself; the stubs declare
// them for their documentation, the runtime does not register them.
var scriptDefined = []string{"handle", "plugin"}

// stubs is what the .d.lua declares.
type stubs struct {
	globals map[string]bool     // global functions, tables and values
	members map[string][]string // table -> declared functions and values, sorted
	classes map[string][]string // ---@class name -> its ---@field names, sorted
}

var (
	reMemberFunc = regexp.MustCompile(`^function ([A-Za-z_]\w*)\.([A-Za-z_]\w*)\(`)
	reGlobalFunc = regexp.MustCompile(`^function ([A-Za-z_]\w*)\(`)
	reMemberVal  = regexp.MustCompile(`^([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*=`)
	reGlobalVal  = regexp.MustCompile(`^([A-Za-z_]\w*)\s*=`)
	reClass      = regexp.MustCompile(`^---@class ([\w.]+)`)
	reField      = regexp.MustCompile(`^---@field ([A-Za-z_]\w*)\??\s`)
)

// parseStubs reads the declarations of the .d.lua: `function mod.f(`,
// `function f(`, `mod.x =`, `x =` at the start of a line, and the fields of
// each ---@class.
func parseStubs(t *testing.T, r io.Reader) stubs {
	t.Helper()
	s := stubs{globals: map[string]bool{}, members: map[string][]string{}, classes: map[string][]string{}}
	class := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if m := reClass.FindStringSubmatch(line); m != nil {
			class = m[1]
			if _, dup := s.classes[class]; dup {
				t.Errorf("class %s declared twice", class)
			}
			s.classes[class] = []string{}
			continue
		}
		if m := reField.FindStringSubmatch(line); m != nil && class != "" {
			s.classes[class] = append(s.classes[class], m[1])
			continue
		}
		if !strings.HasPrefix(line, "---@field") {
			class = ""
		}
		var mod, name string
		if m := reMemberFunc.FindStringSubmatch(line); m != nil {
			mod, name = m[1], m[2]
		} else if m := reMemberVal.FindStringSubmatch(line); m != nil {
			mod, name = m[1], m[2]
		} else if m := reGlobalFunc.FindStringSubmatch(line); m != nil {
			name = m[1]
		} else if m := reGlobalVal.FindStringSubmatch(line); m != nil {
			name = m[1]
		} else {
			continue
		}
		if mod == "" {
			if s.globals[name] {
				t.Errorf("global %s declared twice", name)
			}
			s.globals[name] = true
			continue
		}
		if !s.globals[mod] {
			t.Errorf("%s.%s declared before (or without) %s = {}", mod, name, mod)
		}
		if slices.Contains(s.members[mod], name) {
			t.Errorf("%s.%s declared twice", mod, name)
		}
		s.members[mod] = append(s.members[mod], name)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for k := range s.members {
		sort.Strings(s.members[k])
	}
	for k := range s.classes {
		sort.Strings(s.classes[k])
	}
	return s
}

func readStubs(t *testing.T) stubs {
	t.Helper()
	f, err := os.Open(stubsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseStubs(t, f)
}

// runtimeGlobals loads a bundle the way the gateway does (gateway.LoadBundle:
// the modules every plugin gets) and lists what its scripts see.
func runtimeGlobals(t *testing.T) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"hookgate.toml":  "[rules]\npaths = [\"rules/*.toml\"]\n[plugins]\ndir = \"plugins\"\n",
		"rules/p.toml":   "[[rule]]\nname = \"p\"\nplugin = \"p\"\n",
		"plugins/p.lua":  "function handle(event, params) end\n",
		"plugins/README": "not a plugin",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "hookgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := gateway.LoadBundle(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Plugins.Close()
	g, err := b.Plugins.Globals()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestStubsMatchRuntime: every global and module function the runtime
// registers is declared in the stubs, and the stubs declare nothing the
// runtime lacks.
func TestStubsMatchRuntime(t *testing.T) {
	st := readStubs(t)
	rt := runtimeGlobals(t)
	if len(rt[""]) == 0 || len(rt["gitlab"]) == 0 {
		t.Fatalf("runtime introspection found nothing: %v", rt)
	}
	for _, g := range rt[""] {
		if slices.Contains(luaBuiltins, g) {
			continue
		}
		if !st.globals[g] {
			t.Errorf("the runtime registers global %s; %s does not declare it", g, stubsFile)
			continue
		}
		fields, isTable := rt[g]
		if !isTable {
			if len(st.members[g]) > 0 {
				t.Errorf("%s is not a table in the runtime, but the stubs declare members %v", g, st.members[g])
			}
			continue
		}
		for _, f := range fields {
			if !slices.Contains(st.members[g], f) {
				t.Errorf("the runtime registers %s.%s; %s does not declare it", g, f, stubsFile)
			}
		}
		for _, f := range st.members[g] {
			if !slices.Contains(fields, f) {
				t.Errorf("%s declares %s.%s, which the runtime does not register", stubsFile, g, f)
			}
		}
	}
	for g := range st.globals {
		switch {
		case slices.Contains(scriptDefined, g):
		case slices.Contains(luaBuiltins, g):
			t.Errorf("%s declares %s, a Lua built-in LuaLS already knows", stubsFile, g)
		case !slices.Contains(rt[""], g):
			t.Errorf("%s declares global %s, which the runtime does not register", stubsFile, g)
		}
	}
	for _, g := range scriptDefined {
		if !st.globals[g] {
			t.Errorf("%s does not declare %s (defined by plugins)", stubsFile, g)
		}
		if slices.Contains(rt[""], g) {
			t.Errorf("the runtime registers %s, which plugins are meant to define", g)
		}
	}
}

// jsonNames returns the JSON field names of a struct type, sorted.
func jsonNames(typ reflect.Type) []string {
	var names []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// TestStubsEnvelopeClasses: the event classes have exactly the fields of
// the Go types they describe, by JSON name.
func TestStubsEnvelopeClasses(t *testing.T) {
	st := readStubs(t)
	// Payload has json:"payload" and is in the event table.
	cases := []struct {
		class string
		want  []string
	}{
		{"hookgate.Event", jsonNames(reflect.TypeFor[envelope.Envelope]())},
		{"hookgate.Project", jsonNames(reflect.TypeFor[envelope.Project]())},
		{"hookgate.User", jsonNames(reflect.TypeFor[envelope.User]())},
		{"hookgate.MergeRequest", jsonNames(reflect.TypeFor[envelope.MergeRequest]())},
		{"hookgate.Issue", jsonNames(reflect.TypeFor[envelope.Issue]())},
		{"hookgate.Command", jsonNames(reflect.TypeFor[command.Command]())},
		{"hookgate.CommandHelp", jsonNames(reflect.TypeFor[plugins.CommandHelp]())},
		// name is the file's name, not part of the plugin table.
		{"hookgate.PluginInfo", slices.DeleteFunc(jsonNames(reflect.TypeFor[plugins.Info]()), func(s string) bool { return s == "name" })},
	}
	for _, c := range cases {
		got, ok := st.classes[c.class]
		if !ok {
			t.Errorf("%s: class missing", c.class)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s fields = %v, want %v", c.class, got, c.want)
		}
	}
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestStubsMatchWhatScriptsSee runs real plugins and compares the tables
// they are given (the event, merge_request(), create_pipeline()) with the
// classes that describe them.
func TestStubsMatchWhatScriptsSee(t *testing.T) {
	st := readStubs(t)
	dir := t.TempDir()
	src := `function handle(event, params)
  local mr = gitlab.merge_request()
  return {
    event = event, project = event.project, user = event.user,
    merge_request = event.merge_request, issue = event.issue, command = event.command,
    details = mr, author = mr.author, diff_refs = mr.diff_refs,
    pipeline = gitlab.create_pipeline{ ref = "main" },
  }
end`
	if err := os.WriteFile(filepath.Join(dir, "walk.lua"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h := plugintest.Load(t, dir)
	ev := plugintest.Event(t, filepath.Join("..", "examples", "packit", "events", "note_build.json"), "")
	res := h.Run(t, "walk", ev, nil)
	if res.Status != plugins.StatusOK {
		t.Fatalf("run: %s", res)
	}
	var out map[string]json.RawMessage
	res.Decode(t, &out)
	cases := []struct{ key, class string }{
		{"event", "hookgate.Event"},
		{"project", "hookgate.Project"},
		{"user", "hookgate.User"},
		{"merge_request", "hookgate.MergeRequest"},
		{"issue", "hookgate.Issue"},
		{"command", "hookgate.Command"},
		{"details", "hookgate.MergeRequestDetails"},
		{"author", "hookgate.User"},
		{"diff_refs", "hookgate.DiffRefs"},
		{"pipeline", "hookgate.Pipeline"},
	}
	for _, c := range cases {
		got := keysOf(t, out[c.key])
		if want := st.classes[c.class]; !reflect.DeepEqual(got, want) {
			t.Errorf("scripts see %s with fields %v; class %s declares %v", c.key, got, c.class, want)
		}
	}
}

// TestParseStubs pins the parser on a small sample, so the sync tests
// cannot pass by parsing nothing.
func TestParseStubs(t *testing.T) {
	src := `---@meta
---@class x.A
---@field one string
---@field two? integer doc
m = {}
---@param a string
function m.f(a) end
m.v = nil
function g(a, b) end
-- function not.a.declaration(
local function hidden() end
`
	s := parseStubs(t, strings.NewReader(src))
	if !reflect.DeepEqual(s.globals, map[string]bool{"m": true, "g": true}) {
		t.Errorf("globals = %v", s.globals)
	}
	if !reflect.DeepEqual(s.members, map[string][]string{"m": {"f", "v"}}) {
		t.Errorf("members = %v", s.members)
	}
	if !reflect.DeepEqual(s.classes, map[string][]string{"x.A": {"one", "two"}}) {
		t.Errorf("classes = %v", s.classes)
	}
	st := readStubs(t)
	if len(st.members["gitlab"]) < 9 || len(st.classes) < 10 {
		t.Errorf("the stubs parse to too little: %d gitlab functions, %d classes", len(st.members["gitlab"]), len(st.classes))
	}
}
