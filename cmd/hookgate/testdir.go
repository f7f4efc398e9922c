package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookgate/hookgate/sdk/samples"
)

// testDir is `hookgate test --dir DIR`: every sample event of DIR is
// dry-run and compared with its expected file; one line per event, a diff
// for each mismatch, exit 1 if any fails. Without --config it uses
// DIR/hookgate.toml when there is one, else the embedded defaults.
func testDir(cfgPath, dir string, update bool) int {
	if cfgPath == "" {
		if p := filepath.Join(dir, "hookgate.toml"); fileExists(p) {
			cfgPath = p
		}
	}
	cfg, cleanup, err := loadForTools(cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	defer cleanup()
	cases, err := samples.Check(cfg, dir, samples.Options{Update: update})
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookgate test: %v\n", err)
		return 1
	}
	failed := 0
	for _, c := range cases {
		switch {
		case c.Err != nil:
			failed++
			fmt.Printf("FAIL  %s: %v\n", c.Name, c.Err)
		case update:
			fmt.Printf("wrote %s\n", c.Expected)
		case !c.Passed:
			failed++
			fmt.Printf("FAIL  %s: output differs from %s (-expected +got)\n", c.Name, c.Expected)
			for _, l := range strings.SplitAfter(strings.TrimSuffix(c.Diff(), "\n"), "\n") {
				fmt.Print("      ", l)
			}
			fmt.Println()
		default:
			fmt.Printf("ok    %s\n", c.Name)
		}
	}
	if failed > 0 {
		fmt.Printf("FAIL: %d of %d sample events\n", failed, len(cases))
		return 1
	}
	fmt.Printf("ok: %d sample events\n", len(cases))
	return 0
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
