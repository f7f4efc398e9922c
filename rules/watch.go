package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is the quiet time Watch waits for when given 0.
const DefaultDebounce = 200 * time.Millisecond

// Watch calls onChange after files change in the folders that hold the rule
// globs and in dirs (the plugins folder), once things have been quiet for
// debounce. Folders are watched rather than files because editors and
// deployment tools replace a file by writing another and renaming it over
// the original (Kubernetes ConfigMaps swap a symlinked folder), which a
// watch on the file itself would lose. Any change in a watched folder
// counts, chmod-only events excepted; a lost-events error from the OS counts
// as a change too. Folder globs ("rules/*/x.toml") are expanded once, now.
//
// Watch sets the watches up before returning and fails, watching nothing,
// if any folder cannot be watched. It then runs until ctx is done. onChange
// is called from Watch's goroutine, never twice at once; it typically calls
// Holder.Reload. SIGHUP handling is the caller's.
func Watch(ctx context.Context, globs []string, dirs []string, debounce time.Duration, onChange func()) error {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	folders, err := watchFolders(globs, dirs)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rules: %w", err)
	}
	for _, d := range folders {
		if err := w.Add(d); err != nil {
			w.Close()
			return fmt.Errorf("watch %s: %w", d, err)
		}
	}
	go watchLoop(ctx, w, debounce, onChange)
	return nil
}

func watchLoop(ctx context.Context, w *fsnotify.Watcher, debounce time.Duration, onChange func()) {
	defer w.Close()
	var timer *time.Timer
	var fire <-chan time.Time
	changed := func() {
		if timer == nil {
			timer = time.NewTimer(debounce)
		} else {
			timer.Reset(debounce)
		}
		fire = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			changed()
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			changed()
		case <-fire:
			fire = nil
			onChange()
		}
	}
}

// watchFolders lists the distinct folders to watch.
func watchFolders(globs, dirs []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, g := range globs {
		dir := filepath.Dir(g)
		if !strings.ContainsAny(dir, "*?[\\") {
			add(dir)
			continue
		}
		matches, err := filepath.Glob(dir)
		if err != nil {
			return nil, fmt.Errorf("watch %s: bad glob: %w", g, err)
		}
		for _, m := range matches {
			add(m)
		}
	}
	for _, d := range dirs {
		add(d)
	}
	sort.Strings(out)
	return out, nil
}
