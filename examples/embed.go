// Package examples holds complete, runnable hookgate setups: rules,
// plugins, sample events and the expected `hookgate test` output for each,
// all checked by this package's tests. The rules and plugins are also
// embedded in the binary: `hookgate serve` with no configuration runs on them.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

//go:embed */rules/*.toml */plugins/*.lua
var bundled embed.FS

// WriteBundled writes every example's rules into dir/rules and plugins
// into dir/plugins, replacing what an earlier start wrote there.
func WriteBundled(dir string) error {
	for _, kind := range []string{"rules", "plugins"} {
		out := filepath.Join(dir, kind)
		if err := os.RemoveAll(out); err != nil {
			return err
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		matches, err := fs.Glob(bundled, "*/"+kind+"/*")
		if err != nil {
			return err
		}
		for _, m := range matches {
			b, err := bundled.ReadFile(m)
			if err != nil {
				return err
			}
			name := path.Base(m)
			if kind == "rules" {
				// one rules file per example: packit.toml, labeler.toml, ...
				name = path.Dir(path.Dir(m)) + "-" + name
			}
			if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
		}
	}
	return nil
}
