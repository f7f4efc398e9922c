package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	setGCPercent()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	log := gateway.NewLogger(cfg.Log, os.Stderr)
	if err := gateway.ExtractBundled(cfg); err != nil {
		log.Error("startup failed", "err", err)
		return 1
	}
	g, err := gateway.New(cfg, log)
	if err != nil {
		printProblems(err)
		return 1
	}
	if err := g.Run(context.Background()); err != nil {
		log.Error("hookgate stopped with an error", "err", err)
		return 1
	}
	return 0
}

// printProblems prints each problem of a joined error on its own line
// (file:line:col: message).
func printProblems(err error) {
	for _, p := range diag.Lines(err) {
		fmt.Fprintln(os.Stderr, p)
	}
}
