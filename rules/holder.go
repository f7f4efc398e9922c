package rules

import (
	"sync"
	"sync/atomic"
)

// Holder keeps the rule set in force and swaps in a new one atomically. A
// reload compiles the whole new set first; when that fails the last good
// set keeps serving and the failure is kept for LastError (`check`, the
// admin API, logs). A matcher takes Current once per event, so an event is
// evaluated against one set from start to end. The zero Holder is ready to
// use and holds no set.
type Holder struct {
	cur atomic.Pointer[Set]

	mu      sync.Mutex // serializes Reload and guards lastErr
	lastErr error
}

// Current returns the set in force, nil before the first successful load.
func (h *Holder) Current() *Set { return h.cur.Load() }

// Swap puts s in force and returns the previous set.
func (h *Holder) Swap(s *Set) *Set { return h.cur.Swap(s) }

// Reload loads paths with opts; on success the new set replaces the
// current one and LastError becomes nil, on failure the current set stays
// and the error (diag.Errors lists its problems) is returned and kept.
func (h *Holder) Reload(paths []string, opts Options) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := Load(paths, opts)
	if err != nil {
		h.lastErr = err
		return err
	}
	h.cur.Store(s)
	h.lastErr = nil
	return nil
}

// LastError returns the error of the last Reload, nil if it succeeded.
func (h *Holder) LastError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}
