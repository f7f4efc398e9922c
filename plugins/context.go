package plugins

import (
	"context"
	"log/slog"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// runKey is the context key under which a run's data travels; Go bindings
// reach it through L.Context().
type runKey struct{}

// run is the per-run data every binding may need.
type run struct {
	plugin string
	env    *envelope.Envelope
	event  eventCache   // the event table's nested tables, built on first read
	base   *slog.Logger // the process logger
	logger *slog.Logger // base with plugin and delivery, made on first use

	mu       sync.Mutex // bindings run on the run's goroutine; Log may not
	logs     []queue.LogLine
	logBytes int // message and field bytes kept in logs
	dropped  int
}

// slog returns the process logger with the run's plugin and delivery.
func (r *run) slog() *slog.Logger {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logger == nil {
		r.logger = r.base.With("plugin", r.plugin, "delivery", r.env.ID)
	}
	return r.logger
}

func withRun(ctx context.Context, r *run) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

func runFrom(ctx context.Context) *run {
	if ctx == nil {
		return nil
	}
	r, _ := ctx.Value(runKey{}).(*run)
	return r
}

// RunInfo describes the plugin run a context belongs to.
type RunInfo struct {
	// Plugin is the plugin's name (its file name without .lua).
	Plugin string
	// Envelope is the event being handled. Bindings must not modify it.
	Envelope *envelope.Envelope
}

// RunInfoFrom returns the run that ctx (a binding's L.Context()) belongs
// to; ok is false outside a run, e.g. while a plugin's top level is checked
// at load time.
func RunInfoFrom(ctx context.Context) (info RunInfo, ok bool) {
	r := runFrom(ctx)
	if r == nil {
		return RunInfo{}, false
	}
	return RunInfo{Plugin: r.plugin, Envelope: r.env}, true
}

// Log records a line in the run's log (kept in the delivery log) and in the
// process log, as the log module does. Outside a run it only goes to the
// process log of slog.Default. level is "debug", "info", "warn" or "error".
// Long strings in msg and fields are cut (fields in place), and lines past
// a run's MaxLogLines or MaxLogBytes are dropped and counted.
func Log(ctx context.Context, level, msg string, fields map[string]any) {
	r := runFrom(ctx)
	if r == nil {
		slog.Default().Log(ctx, slogLevel(level), msg, fieldAttrs(fields)...)
		return
	}
	r.log(ctx, level, msg, fields)
}

// checkCtx raises the context's error if the run's deadline passed or the
// run was cancelled. Every binding calls it before doing work.
func checkCtx(L *lua.LState, fn string) {
	if ctx := L.Context(); ctx != nil {
		if err := ctx.Err(); err != nil {
			L.RaiseError("%s: %v", fn, err)
		}
	}
}
