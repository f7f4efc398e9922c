package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hookgate/hookgate/examples"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/plugins/gitlab"
	"github.com/hookgate/hookgate/rules"
)

// LoadBundle compiles the plugins and rules a configuration names. Rules
// are checked against the plugin files found, so a rule naming a missing
// plugin fails the load. kv may be nil (the kv module then reports it is off).
// Every plugin gets the gitlab module and the extra modules (WithModules).
func LoadBundle(cfg *config.Config, kv plugins.KV, log *slog.Logger, extra ...plugins.Module) (*Bundle, error) {
	ps, perr := plugins.Load(PluginDir(cfg), plugins.Options{
		Timeout: timeoutOf(cfg),
		Modules: append([]plugins.Module{gitlab.Module}, extra...),
		KV:      kv,
		Logger:  log,
		// As many idle states per plugin as runs of it can be under way,
		// up to a bound: past the pool, each run builds a state (56 µs,
		// 130 KB of garbage) and drops it afterwards.
		PoolSize: min(max(cfg.Workers.Count, 1), maxPoolSize),
	})
	if perr != nil && ps == nil {
		return nil, perr
	}
	// A rule naming a plugin that failed to load has no problem of its
	// own: the plugin's error says it all (one mistake, one error).
	rs, rerr := rules.Load(RulePaths(cfg), rules.Options{PluginExists: ps.Exists, PluginDir: PluginDir(cfg)})
	if err := errors.Join(perr, rerr); err != nil {
		_ = ps.Close()
		return nil, err
	}
	return &Bundle{Rules: rs, Plugins: ps}, nil
}

// maxPoolSize bounds the idle Lua states kept per plugin (about 130 KB
// each), whatever the worker count.
const maxPoolSize = 64

func timeoutOf(cfg *config.Config) (d time.Duration) { return time.Duration(cfg.Plugins.Timeout) }

// RulePaths are the configured rule globs, or the bundled examples'.
func RulePaths(cfg *config.Config) []string {
	if len(cfg.Rules.Paths) > 0 {
		return cfg.Rules.Paths
	}
	return []string{filepath.Join(bundledDir(cfg), "rules", "*.toml")}
}

// PluginDir is the configured plugin folder, or the bundled examples'.
func PluginDir(cfg *config.Config) string {
	if cfg.Plugins.Dir != "" {
		return cfg.Plugins.Dir
	}
	return filepath.Join(bundledDir(cfg), "plugins")
}

// bundledDir is where the bundled example rules and plugins are written
// out (beside the queue) when the configuration names none.
func bundledDir(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Queue.Path), "bundled")
}

// ExtractBundled writes the bundled example rules and plugins out when the
// configuration relies on them. It rewrites them on every start so they
// match the binary. A missing data folder is created with mode 0700 first.
func ExtractBundled(cfg *config.Config) error {
	if len(cfg.Rules.Paths) > 0 && cfg.Plugins.Dir != "" {
		return nil
	}
	if err := makeDataDir(cfg); err != nil {
		return err
	}
	dir := bundledDir(cfg)
	if err := examples.WriteBundled(dir); err != nil {
		return fmt.Errorf("bundled examples: %w", err)
	}
	return nil
}

// Instances turns the configured [[gitlab]] blocks into binding instances.
func Instances(cfg *config.Config) []gitlab.Instance {
	out := make([]gitlab.Instance, 0, len(cfg.GitLab))
	for _, g := range cfg.GitLab {
		out = append(out, gitlab.Instance{
			URL:            g.URL,
			Token:          g.Token.Value(),
			BotUsername:    g.BotUsername,
			DryRun:         g.DryRun,
			Timeout:        time.Duration(g.Timeout),
			RatePerMinute:  g.RatePerMinute,
			NotesPerMinute: g.NotesPerMinute,
		})
	}
	return out
}
