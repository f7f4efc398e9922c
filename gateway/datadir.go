package gateway

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hookgate/hookgate/gateway/config"
)

// dataDirMode is the mode the data folder is created with: it holds the
// store (every delivery, payloads included), the generated webhook secret,
// the enrolled secrets' hashes and the key index, which are for the
// gateway's user alone.
const dataDirMode = 0o700

// dataDir is the folder of queue.path, where everything the gateway writes
// lives (also with backend = "nats": the generated secret, the enrolled
// secrets and the bundled examples).
func dataDir(cfg *config.Config) string { return filepath.Dir(cfg.Queue.Path) }

// makeDataDir creates the data folder, and any missing parent, with mode
// 0700. An existing folder keeps its mode (see checkDataDir).
func makeDataDir(cfg *config.Config) error {
	if err := os.MkdirAll(dataDir(cfg), dataDirMode); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// prepareDataDir makes the data folder and warns when an existing one lets
// other users in: it is left as it is, since an operator may have opened it
// on purpose (a backup user's group), but hookgate would not have.
func prepareDataDir(cfg *config.Config, log *slog.Logger) error {
	if err := makeDataDir(cfg); err != nil {
		return err
	}
	dir := dataDir(cfg)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		log.Warn("the data directory is open to other users; hookgate creates it with mode 0700: chmod 700 it",
			"dir", dir, "mode", fmt.Sprintf("%04o", perm))
	}
	return nil
}
