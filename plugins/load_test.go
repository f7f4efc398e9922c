package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/diag"
)

func TestLoadErrors(t *testing.T) {
	dir := writePlugins(t, map[string]string{
		"good":       "plugin = { description = \"Builds\", commands = { { name = \"/packit build\", help = \"build the MR\" }, { name = \"/packit help\" } } }\nfunction handle() end",
		"syntax":     "function handle(e, p)\n  local x = = 3\nend",
		"eof":        "function handle(e, p)\n  if x then\n",
		"nohandle":   "local x = 1\n",
		"notfunc":    "handle = 42\n",
		"toperror":   "local x = 1\n\nerror(\"boom at top\")\nfunction handle() end",
		"toploop":    "while true do end\nfunction handle() end",
		"badinfo":    "plugin = 1\nfunction handle() end",
		"badcmds":    "plugin = { commands = { \"/x\" } }\nfunction handle() end",
		"badcmdname": "plugin = { commands = { { help = \"h\" } } }\nfunction handle() end",
		"compile":    "function handle()\n  goto nowhere\nend",
	})
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The timeout stops toploop; the other top levels must finish within
	// it, on a loaded machine too.
	s, err := Load(dir, Options{Timeout: time.Second, Logger: quietLogger()})
	if s == nil {
		t.Fatalf("Load returned no set: %v", err)
	}
	defer s.Close()
	f := func(name string) string { return filepath.Join(dir, name+".lua") }
	want := []string{
		f("badcmdname") + ":1:1: plugin.commands[1] needs name (a string) and help (a string)",
		f("badcmds") + ":1:1: plugin.commands[1] must be a table",
		f("badinfo") + ":1:1: plugin must be a table",
		f("compile") + ":3:1: no visible label 'nowhere' for <goto> at line 2",
		f("eof") + ":2:1: syntax error at end of file",
		f("nohandle") + ":1:1: plugin does not define function handle(event, params)",
		f("notfunc") + ":1:1: plugin does not define function handle(event, params)",
		f("syntax") + ":2:13: syntax error near '='",
		f("toperror") + ":3:1: boom at top",
		f("toploop") + ":1:1: top level did not finish within 1s",
	}
	var got []string
	for _, e := range diag.Errors(err) {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("joined error text:\n%s", err)
	}
	if names := s.Names(); !reflect.DeepEqual(names, []string{"good"}) || !s.Has("good") || s.Has("syntax") {
		t.Errorf("loaded %v", names)
	}
	info := s.Info("good")
	wantInfo := Info{Name: "good", Description: "Builds", Commands: []CommandHelp{{"/packit build", "build the MR"}, {"/packit help", ""}}}
	if !reflect.DeepEqual(info, wantInfo) {
		t.Errorf("info %+v", info)
	}
	if got := s.Info("nope"); !reflect.DeepEqual(got, Info{}) {
		t.Errorf("unknown info %+v", got)
	}
}

func TestLoadEmptyAndMissing(t *testing.T) {
	s, err := Load(t.TempDir(), Options{})
	if err != nil || len(s.Names()) != 0 {
		t.Errorf("empty dir: %v %v", s, err)
	}
	s, err = Load(filepath.Join(t.TempDir(), "missing"), Options{})
	if s != nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v %v", s, err)
	}
}

func TestLoadModules(t *testing.T) {
	open := func(L *lua.LState) *lua.LTable { return L.NewTable() }
	cases := []struct {
		mods []Module
		err  string
	}{
		{[]Module{{Name: "gitlab", Open: open}}, ""},
		{[]Module{{Name: "json", Open: open}}, `module "json" clashes with a global of the same name`},
		{[]Module{{Name: "handle", Open: open}}, `module "handle" clashes`},
		{[]Module{{Name: "a", Open: open}, {Name: "a", Open: open}}, `module "a" clashes`},
		{[]Module{{Name: "git-lab", Open: open}}, `module name "git-lab" is not an identifier`},
		{[]Module{{Name: "x"}}, `module "x" has no Open function`},
	}
	dir := writePlugins(t, map[string]string{"p": "function handle() end"})
	for _, c := range cases {
		s, err := Load(dir, Options{Modules: c.mods, Logger: quietLogger()})
		if c.err == "" {
			if err != nil {
				t.Errorf("%v: %v", c.mods, err)
			}
			s.Close()
			continue
		}
		if s != nil || err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: got %v, want %q", c.mods, err, c.err)
		}
	}
}
