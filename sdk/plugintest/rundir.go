package plugintest

import (
	"strings"
	"testing"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/sdk/samples"
)

// RunDir checks a sample folder, as `hookgate test --dir` does: every
// events/NAME.json is dry-run through the rules and plugins of the
// configuration and its rules output compared with expected/NAME.json (see
// package samples). configOrDir is the folder (with its hookgate.toml) or
// the config file (samples beside it). Each event is a subtest named
// after it that fails with a line diff; an event without an expected file,
// or an expected file without an event, fails too. WithUpdate(true)
// rewrites the expected files instead; WithModules gives the plugins extra
// modules. Other options do not apply.
func RunDir(t *testing.T, configOrDir string, opts ...Option) {
	t.Helper()
	o := buildOptions(opts)
	cfgPath, dir, err := samples.Locate(configOrDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("config %s:\n%s", cfgPath, strings.Join(diag.Lines(err), "\n"))
	}
	cases, err := samples.Check(cfg, dir, samples.Options{Modules: o.modules, Update: o.update})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			switch {
			case c.Err != nil:
				t.Fatal(c.Err)
			case o.update:
				t.Logf("wrote %s", c.Expected)
			case !c.Passed:
				t.Fatalf("%s: output differs from %s (-expected +got):\n%s", c.Event, c.Expected, c.Diff())
			}
		})
	}
}
