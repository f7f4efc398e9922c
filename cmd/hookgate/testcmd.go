package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/hookgate/hookgate/gateway"
)

func testEvent(args []string) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	eventFile := fs.String("event", "", "payload file (JSON body of a GitLab webhook)")
	eventType := fs.String("event-type", "", `X-Gitlab-Event value, e.g. "Note Hook" (default: from the payload)`)
	dir := fs.String("dir", "", "sample folder: check every events/NAME.json against expected/NAME.json")
	update := fs.Bool("update", false, "with --dir: rewrite the expected files from the current output")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir != "" {
		if *eventFile != "" || *eventType != "" {
			fmt.Fprintln(os.Stderr, "hookgate test: --dir and --event exclude each other")
			return 2
		}
		return testDir(*cfgPath, *dir, *update)
	}
	if *update {
		fmt.Fprintln(os.Stderr, "hookgate test: --update needs --dir")
		return 2
	}
	if *eventFile == "" {
		fmt.Fprintln(os.Stderr, "hookgate test: --event FILE or --dir DIR is required")
		return 2
	}
	body, err := os.ReadFile(*eventFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookgate test: %v\n", err)
		return 1
	}
	cfg, cleanup, err := loadForTools(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	defer cleanup()
	out, err := gateway.DryRun(cfg, body, *eventType)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookgate test: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return 1
	}
	return 0
}
