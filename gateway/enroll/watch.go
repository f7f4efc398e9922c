package enroll

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch intervals: how often the file is stat'ed, and how long events are
// gathered before one onChange.
const (
	DefaultPoll   = 2 * time.Second
	watchDebounce = 50 * time.Millisecond
)

// Watch calls onChange after the file at path changes, until ctx ends.
// Changes are seen two ways: file-system events in the file's folder that
// name the file (quick; the atomic rename Update does counts), and a stat
// every poll (DefaultPoll when 0) comparing the file's identity, size and
// modification time, which also catches changes made on another host
// sharing the file, where no event arrives. onChange is called from one
// goroutine, never twice at once.
//
// Watch returns once watching has started. A non-nil error says events
// are unavailable (e.g. the folder does not exist yet); polling runs
// regardless.
func Watch(ctx context.Context, path string, poll time.Duration, onChange func()) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	var events chan struct{}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(path)); err != nil {
			w.Close()
		}
	}
	if err == nil {
		events = make(chan struct{}, 1)
		go forward(ctx, w, filepath.Base(path), events)
	} else {
		err = fmt.Errorf("watch %s: %w", filepath.Dir(path), err)
	}
	// The first look is taken before Watch returns: a change the caller
	// makes right after must differ from it (taken in the goroutine, it
	// could already see that change and report nothing).
	last, _ := os.Stat(path)
	go func() {
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-events:
			case <-tick.C:
			}
			cur, _ := os.Stat(path)
			if !changed(last, cur) {
				continue
			}
			last = cur
			onChange()
		}
	}()
	return err
}

// forward turns the watcher's events about name into debounced signals.
func forward(ctx context.Context, w *fsnotify.Watcher, name string, out chan<- struct{}) {
	defer w.Close()
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Base(ev.Name) == name && ev.Op != fsnotify.Chmod && fire == nil {
				fire = time.After(watchDebounce)
			}
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			if fire == nil { // events may have been lost: look
				fire = time.After(watchDebounce)
			}
		case <-fire:
			fire = nil
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}
}

// changed compares two stats of the file (nil: absent).
func changed(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return (a == nil) != (b == nil)
	}
	return !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}
