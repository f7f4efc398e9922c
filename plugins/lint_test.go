package plugins

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/hookgate/hookgate/diag"
)

// lintModulesForTest are a gitlab-like module and one whose ticket
// function checks its literal arguments.
func lintModulesForTest() []Module {
	fn := func(*lua.LState) int { return 0 }
	return []Module{
		{Name: "gitlab", Open: func(L *lua.LState) *lua.LTable {
			t := L.NewTable()
			for _, name := range []string{"comment", "add_labels", "remove_labels", "react"} {
				t.RawSetString(name, L.NewFunction(fn))
			}
			return t
		}},
		{Name: "company", Open: func(L *lua.LState) *lua.LTable {
			t := L.NewTable()
			t.RawSetString("ticket", L.NewFunction(fn))
			t.RawSetString("version", lua.LString("1"))
			return t
		}, CheckArg: func(fn string, arg int, value string) error {
			if fn == "ticket" && arg == 2 && value != "low" && value != "high" {
				return errors.New(`priority must be "low" or "high"`)
			}
			return nil
		}},
	}
}

func TestLint(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line:col: message"
	}{
		{
			name: "an unknown function of a module, with a suggestion",
			src:  "function handle(event, params)\n  gitlab.add_label(\"bug\")\nend\n",
			want: []string{"2:3: gitlab.add_label is not a function of the gitlab module; did you mean gitlab.add_labels?"},
		},
		{
			name: "nothing near: the module's fields are listed",
			src:  "function handle()\n  gitlab.zzzzzzzz()\nend\n",
			want: []string{"2:3: gitlab.zzzzzzzz is not a function of the gitlab module; it has add_labels, comment, react, remove_labels"},
		},
		{
			name: "built-in modules and libraries, calls, method calls and reads",
			src: `function handle(event)
  log.infoo("x")
  log:warnn("y")
  local get = kv.gett
  return string.formt("%d", #json.encod(event))
end`,
			want: []string{
				"2:3: log.infoo is not a function of the log module; did you mean log.info?",
				"3:3: log:warnn is not a function of the log module; did you mean log:warn?",
				"4:15: kv.gett is not a field of the kv module; did you mean kv.get?",
				"5:10: string.formt is not a function of the string module; did you mean string.format?",
				"5:30: json.encod is not a function of the json module; did you mean json.encode?",
			},
		},
		{
			name: "two on one line get their own columns",
			src:  "function handle() log.inf(\"a\") log.inf(\"b\") end\n",
			want: []string{
				"1:19: log.inf is not a function of the log module; did you mean log.info?",
				"1:32: log.inf is not a function of the log module; did you mean log.info?",
			},
		},
		{
			name: "a value called",
			src:  "function handle() return json.null() end\n",
			want: []string{"1:26: json.null is not a function (it is a value of the json module)"},
		},
		{
			name: "string literal arguments are checked by the module",
			src:  "function handle()\n  company.ticket(\"title\", 'urgent')\n  company.ticket(\"title\", \"low\")\nend\n",
			want: []string{`2:27: company.ticket: priority must be "low" or "high"`},
		},
		{
			name: "at the top level too, and only once (the top level does not run)",
			src:  "gitlab.coment(\"hi\")\nfunction handle() end\n",
			want: []string{"1:1: gitlab.coment is not a function of the gitlab module; did you mean gitlab.comment?"},
		},
		{
			name: "feature tests are not reported",
			src: `function handle()
  if company.nothing then company.nothing() end
  local f = gitlab.merge or gitlab.comment
  if gitlab.close == nil or type(gitlab.reopen) ~= "function" or not kv.list then return end
end`,
			want: []string{"2:27: company.nothing is not a function of the company module; it has ticket, version"},
		},
		{
			name: "locals, parameters and loop variables shadow modules",
			src: `local log = { whatever = print }
function handle(event, json)
  log.whatever()
  json.anything()
  for _, kv in ipairs({}) do kv.x() end
  local function string() end
  do local gitlab = {}; gitlab.nope() end
  gitlab.nope()
end`,
			want: []string{"8:3: gitlab.nope is not a function of the gitlab module; it has add_labels, comment, react, remove_labels"},
		},
		{
			name: "a global the script assigns is its own",
			src:  "function handle() company.extra() end\ncompany = { extra = function() end }\n",
		},
		{
			name: "globals written by computed names: nothing is known",
			src:  "rawset(_G, \"gitlab\", {})\nfunction handle() gitlab.nope() end\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePlugins(t, map[string]string{"p": tt.src})
			s, err := Load(dir, Options{Modules: lintModulesForTest(), Logger: quietLogger()})
			if s == nil {
				t.Fatalf("Load: %v", err)
			}
			defer s.Close()
			var got []string
			for _, e := range diag.Errors(err) {
				if e.File != filepath.Join(dir, "p.lua") {
					t.Errorf("error in %s", e.File)
				}
				got = append(got, strings.TrimPrefix(e.Error(), e.File+":"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
			if s.Has("p") != (len(tt.want) == 0) {
				t.Errorf("Has = %v with %d problems", s.Has("p"), len(tt.want))
			}
			if !s.Exists("p") || s.Exists("q") {
				t.Errorf("Exists(p) = %v, Exists(q) = %v", s.Exists("p"), s.Exists("q"))
			}
		})
	}
}

// FuzzLint: the static check never fails on a file that parses.
func FuzzLint(f *testing.F) {
	f.Add("function handle(e) gitlab.add_label(e) end")
	f.Add("local log = 1; for i = 1, 2 do log.x() end; function a:b() self.c() end")
	f.Add("repeat local kv = 1 until kv.x; _G[1] = 2; function gitlab.x() end")
	mods := newLintModules(map[string]map[string]bool{"gitlab": {"comment": true}, "json": {"null": false}},
		[]Module{{Name: "gitlab", CheckArg: func(string, int, string) error { return errors.New("no") }}})
	f.Fuzz(func(t *testing.T, src string) {
		chunk, err := parse.Parse(strings.NewReader(src), "f.lua")
		if err != nil {
			return
		}
		for _, e := range lint("f.lua", []byte(src), chunk, mods) {
			if e.Line < 1 || e.Col < 1 || e.Msg == "" {
				t.Fatalf("malformed %#v", e)
			}
		}
	})
}
