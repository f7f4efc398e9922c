package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hookgate/hookgate/examples"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

func check(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, cleanup, err := loadForTools(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	defer cleanup()
	log := gateway.NewLogger(config.Log{Level: "error"}, os.Stderr)
	b, err := gateway.LoadBundle(cfg, nil, log)
	if err != nil {
		printProblems(err)
		return 1
	}
	fmt.Printf("ok: %d rules, %d plugins\n", len(b.Rules.Rules()), len(b.Plugins.Names()))
	return 0
}

// loadForTools loads the configuration for check and test. When it relies
// on the bundled examples, they are written to a temporary folder rather
// than beside the queue, so the tools leave nothing behind.
func loadForTools(path string) (*config.Config, func(), error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {}
	if len(cfg.Rules.Paths) == 0 || cfg.Plugins.Dir == "" {
		dir, err := os.MkdirTemp("", "hookgate-bundled-")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		if err := examples.WriteBundled(dir); err != nil {
			cleanup()
			return nil, nil, err
		}
		if len(cfg.Rules.Paths) == 0 {
			cfg.Rules.Paths = []string{dir + "/rules/*.toml"}
		}
		if cfg.Plugins.Dir == "" {
			cfg.Plugins.Dir = dir + "/plugins"
		}
	}
	return cfg, cleanup, nil
}
