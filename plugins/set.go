package plugins

import (
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Defaults of Options.
const (
	DefaultTimeout         = 5 * time.Second
	DefaultPoolSize        = 4
	DefaultMaxStringBytes  = 1 << 20
	DefaultCallStackSize   = 200
	DefaultRegistrySize    = 4 << 10
	DefaultRegistryMaxSize = 256 << 10
)

// Options configure a plugin Set. Zero values take the defaults.
type Options struct {
	// Timeout bounds one run of handle, and the run of each file's top
	// level when it is checked at load. Default 5s.
	Timeout time.Duration
	// Modules are extra global tables given to every script (e.g. gitlab).
	// Names must be identifiers and may not shadow a built-in global.
	Modules []Module
	// KV backs the kv module. Nil: kv calls fail with "kv not configured".
	KV KV
	// Logger receives the log module's lines (with plugin and delivery
	// attributes) and the runtime's own warnings. Default slog.Default().
	Logger *slog.Logger
	// PoolSize is how many idle states are kept per plugin. Default 4.
	PoolSize int
	// MaxStringBytes caps the strings that string.rep, string.format,
	// string.gsub, table.concat and json.encode build, and json.decode's
	// input. Default 1 MiB. (A run's result has its own cap,
	// MaxResultBytes.)
	MaxStringBytes int
	// CallStackSize caps nested Lua calls ("stack overflow"). Default 200.
	CallStackSize int
	// RegistrySize and RegistryMaxSize are the initial and maximal size,
	// in values, of a state's value stack ("registry overflow" beyond).
	// Defaults 4096 and 262144.
	RegistrySize    int
	RegistryMaxSize int
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def(&o.PoolSize, DefaultPoolSize)
	def(&o.MaxStringBytes, DefaultMaxStringBytes)
	def(&o.CallStackSize, DefaultCallStackSize)
	def(&o.RegistrySize, DefaultRegistrySize)
	def(&o.RegistryMaxSize, DefaultRegistryMaxSize)
	if o.RegistryMaxSize < o.RegistrySize {
		o.RegistryMaxSize = o.RegistrySize
	}
	return o
}

// Set is a loaded, immutable set of plugins. It is safe for concurrent use.
// A reload builds a new Set; the caller swaps it in and closes the old one.
type Set struct {
	dir     string
	opts    Options
	plugins map[string]*plugin
	names   []string
	closed  atomic.Bool
	// files are the names of every dir/NAME.lua found, loaded or not.
	files map[string]bool
	// lint describes the read-only tables scripts are checked against.
	lint map[string]*lintModule
}

// plugin is one compiled file and its pool of idle states.
type plugin struct {
	name    string
	file    string
	proto   *lua.FunctionProto
	info    Info
	pool    chan *state
	created atomic.Int64 // states built for this plugin (tests, metrics)
}

// Info is what a plugin declares about itself in its optional global
// table plugin = { description = "...", commands = { {name = "/packit
// build", help = "..."}, ... } }, so help answers and docs come from one
// place.
type Info struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Commands    []CommandHelp `json:"commands,omitempty"`
}

// CommandHelp documents one comment command a plugin answers.
type CommandHelp struct {
	Name string `json:"name"`
	Help string `json:"help,omitempty"`
}

// Has reports whether a plugin of that name loaded.
func (s *Set) Has(name string) bool {
	_, ok := s.plugins[name]
	return ok
}

// Exists reports whether the set's folder held NAME.lua when it was
// loaded, whether or not the file loaded: a rule naming a plugin that
// failed has no problem of its own (the plugin's error says it all).
func (s *Set) Exists(name string) bool { return s.files[name] }

// Names returns the loaded plugins' names, sorted.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Info returns what the named plugin declared (zero Info if unknown).
func (s *Set) Info(name string) Info {
	p, ok := s.plugins[name]
	if !ok {
		return Info{}
	}
	info := p.info
	info.Commands = append([]CommandHelp(nil), info.Commands...)
	return info
}

// Close releases the idle states. Runs still in progress finish normally;
// runs started after Close still work but keep no state for reuse.
func (s *Set) Close() error {
	s.closed.Store(true)
	for _, p := range s.plugins {
	drain:
		for {
			select {
			case st := <-p.pool:
				st.close()
			default:
				break drain
			}
		}
	}
	return nil
}

// get takes an idle state, or builds one: it never waits.
func (s *Set) get(p *plugin) (*state, error) {
	select {
	case st := <-p.pool:
		return st, nil
	default:
	}
	p.created.Add(1)
	return s.newState()
}

// put keeps a state for reuse, or closes it when the pool is full or the
// set closed: it never waits.
func (s *Set) put(p *plugin, st *state) {
	if s.closed.Load() {
		st.close()
		return
	}
	select {
	case p.pool <- st:
	default:
		st.close()
	}
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// builtinGlobals are the globals every script sees, sorted (pinned by a
// test: a change here is a change of the sandbox).
var builtinGlobals = []string{
	"_VERSION", "assert", "error", "getmetatable", "ipairs", "json", "kv",
	"log", "math", "next", "pairs", "pcall", "rawequal", "rawget", "rawset",
	"retry", "select", "setmetatable", "string", "table", "tonumber",
	"tostring", "type", "unpack", "xpcall",
}

func checkModules(mods []Module) error {
	seen := map[string]bool{}
	for _, g := range builtinGlobals {
		seen[g] = true
	}
	seen["handle"], seen["plugin"], seen["_G"] = true, true, true
	for _, m := range mods {
		switch {
		case !identRe.MatchString(m.Name):
			return fmt.Errorf("plugins: module name %q is not an identifier", m.Name)
		case seen[m.Name]:
			return fmt.Errorf("plugins: module %q clashes with a global of the same name", m.Name)
		case m.Open == nil:
			return fmt.Errorf("plugins: module %q has no Open function", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}

func sortedNames(m map[string]*plugin) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
