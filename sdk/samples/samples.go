// Package samples owns the check of a folder of sample events against the
// dry-run results expected for them: the layout every example under
// examples/ uses, run by `hookgate test --dir` and by plugintest.RunDir.
//
// A sample folder holds
//
//	events/NAME.json     a webhook payload (the kind is read from its object_kind)
//	expected/NAME.json   the "rules" part of `hookgate test` for that payload:
//	                     [{"rule", "plugin", "status", "result", "logs", "calls"}]
//
// and usually the hookgate.toml that names the rules and plugins. Each
// event is run through gateway.DryRun (every GitLab call recorded, none
// sent) and its rules output compared with the expected file as JSON
// values (formatting and key order do not matter).
package samples

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/plugins"
)

// Options of Check.
type Options struct {
	// Modules are extra Lua modules the plugins need (those an embedding
	// program registers with gateway.WithModules); give them fakes.
	Modules []plugins.Module
	// Update writes each event's current output to its expected file
	// instead of comparing.
	Update bool
}

// Case is how one sample event went.
type Case struct {
	// Name is the event file's name without .json.
	Name string
	// Event and Expected are the two files' paths (Event is "" for an
	// expected file whose event is missing).
	Event, Expected string
	// Passed is true when the output equals the expected file (or was
	// written, with Options.Update).
	Passed bool
	// Got is the output (indented JSON); Want the expected file's content
	// re-indented the same way, when it could be read.
	Got, Want []byte
	// Err says why the case failed without a comparison: the event could
	// not be run, or a file of the pair is missing.
	Err error
}

// Diff is a line diff from Want to Got ("-" lines expected, "+" lines
// produced), empty when they are equal.
func (c Case) Diff() string { return diffLines(string(c.Want), string(c.Got)) }

// Locate resolves what a user names to check: a sample folder (its config
// is FOLDER/hookgate.toml) or a config file (the samples are in its folder).
func Locate(configOrDir string) (cfgPath, dir string, err error) {
	fi, err := os.Stat(configOrDir)
	if err != nil {
		return "", "", fmt.Errorf("samples: %w", err)
	}
	if !fi.IsDir() {
		return configOrDir, filepath.Dir(configOrDir), nil
	}
	cfgPath = filepath.Join(configOrDir, "hookgate.toml")
	if _, err := os.Stat(cfgPath); err != nil {
		return "", "", fmt.Errorf("samples: %s has no hookgate.toml: pass the config file", configOrDir)
	}
	return cfgPath, configOrDir, nil
}

// Check runs every dir/events/*.json through gateway.DryRun with cfg and
// compares each with dir/expected/<same name>. It returns one Case per
// event and per expected file without an event, sorted by name; the error
// is for a folder that cannot be checked at all (no events).
func Check(cfg *config.Config, dir string, opts Options) ([]Case, error) {
	events, err := filepath.Glob(filepath.Join(dir, "events", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("samples: no sample events in %s", filepath.Join(dir, "events"))
	}
	expected, _ := filepath.Glob(filepath.Join(dir, "expected", "*.json"))
	seen := map[string]bool{}
	var cases []Case
	for _, ev := range events {
		name := strings.TrimSuffix(filepath.Base(ev), ".json")
		seen[name] = true
		c := Case{Name: name, Event: ev, Expected: filepath.Join(dir, "expected", name+".json")}
		runCase(cfg, &c, opts)
		cases = append(cases, c)
	}
	for _, exp := range expected {
		name := strings.TrimSuffix(filepath.Base(exp), ".json")
		if !seen[name] && !opts.Update {
			cases = append(cases, Case{Name: name, Expected: exp,
				Err: fmt.Errorf("%s has no sample event %s", exp, filepath.Join(dir, "events", name+".json"))})
		}
	}
	return cases, nil
}

// runCase runs one event and fills in the rest of c.
func runCase(cfg *config.Config, c *Case, opts Options) {
	body, err := os.ReadFile(c.Event)
	if err != nil {
		c.Err = err
		return
	}
	var gwOpts []gateway.Option
	if len(opts.Modules) > 0 {
		gwOpts = append(gwOpts, gateway.WithModules(opts.Modules...))
	}
	out, err := gateway.DryRun(cfg, body, "", gwOpts...)
	if err != nil {
		c.Err = fmt.Errorf("%s: %w", c.Event, err)
		return
	}
	if c.Got, err = json.MarshalIndent(out.Rules, "", "  "); err != nil {
		c.Err = err
		return
	}
	c.Got = append(c.Got, '\n')
	if opts.Update {
		if err := os.MkdirAll(filepath.Dir(c.Expected), 0o755); err != nil {
			c.Err = err
			return
		}
		if err := os.WriteFile(c.Expected, c.Got, 0o644); err != nil {
			c.Err = err
			return
		}
		c.Want, c.Passed = c.Got, true
		return
	}
	raw, err := os.ReadFile(c.Expected)
	if errors.Is(err, os.ErrNotExist) {
		c.Err = fmt.Errorf("no expected file %s (write it with --update)", c.Expected)
		return
	}
	if err != nil {
		c.Err = err
		return
	}
	var want, got any
	if err := json.Unmarshal(raw, &want); err != nil {
		c.Err = fmt.Errorf("%s: %w", c.Expected, err)
		return
	}
	if err := json.Unmarshal(c.Got, &got); err != nil {
		c.Err = err
		return
	}
	if c.Want, err = json.MarshalIndent(want, "", "  "); err != nil {
		c.Err = err
		return
	}
	c.Want = append(c.Want, '\n')
	// Got re-indented through the same generic value, so the diff shows
	// only real differences (map keys sorted on both sides).
	if c.Got, err = json.MarshalIndent(got, "", "  "); err != nil {
		c.Err = err
		return
	}
	c.Got = append(c.Got, '\n')
	c.Passed = reflect.DeepEqual(want, got)
}
