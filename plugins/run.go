package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// Run statuses.
const (
	StatusOK    = "ok"
	StatusError = "error" // final: the script failed (error(), a bad result, a 4xx)
	StatusRetry = "retry" // transient: retry(), a timeout, a retryable binding error
)

// Result is the outcome of one run of a plugin.
type Result struct {
	// Status is StatusOK, StatusError or StatusRetry.
	Status string
	// Value is what handle returned, as JSON; nil when it returned nothing
	// (or nil).
	Value json.RawMessage
	// Err says why the run failed; for StatusRetry it wraps a *RetryError
	// (IsRetry). Messages of script errors read "build.lua:12: msg"; the
	// text is cut to MaxErrorBytes (the cut marked "…(truncated)").
	Err error
	// RetryAfter is the delay the failure asked for (retry(reason,
	// seconds), Retry-After), 0 for "use the backoff".
	RetryAfter time.Duration
	// Logs are the lines the script logged.
	Logs []queue.LogLine
	// Duration is how long the run took.
	Duration time.Duration
}

// Run runs the plugin's handle(event, params) once, within the timeout.
//
// Each run gets a fresh globals table and a fresh instance of the file's
// top level, on a pooled state: nothing a run sets (globals, top-level
// locals) is seen by the next one. ctx carries what the caller's modules
// need (e.g. the GitLab scope); Run adds the run's data and deadline and
// bindings see it as L.Context().
//
// Outcomes: handle returning is StatusOK with its value; error(...) is
// StatusError ("build.lua:3: msg", or a table error as JSON); retry(...) or
// a binding raising a RetryError is StatusRetry; running past the timeout
// is StatusRetry ("plugin timed out after 5s"), as is ctx ending (the
// gateway stopping), even when the script caught the interruption with
// pcall and returned. A run that fails leaves no state behind: its state is
// discarded, not pooled. Run never panics.
func (s *Set) Run(ctx context.Context, name string, env *envelope.Envelope, params map[string]any) (res Result) {
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	p, ok := s.plugins[name]
	if !ok {
		return Result{Status: StatusError, Err: fmt.Errorf("plugins: no plugin %q", name)}
	}
	if env == nil {
		env = &envelope.Envelope{}
	}
	r := &run{plugin: name, env: env, base: s.opts.Logger}
	runCtx, cancel := context.WithTimeout(withRun(ctx, r), s.opts.Timeout)
	defer cancel()

	st, err := s.get(p)
	if err != nil {
		return Result{Status: StatusError, Err: err}
	}
	keep := false
	defer func() {
		if rec := recover(); rec != nil {
			r.slog().Error("plugin run panicked", "panic", rec)
			res = Result{Status: StatusError, Err: fmt.Errorf("plugin %s: internal error: %v", name, rec)}
			keep = false
		}
		res.Logs = r.finishLogs()
		res.Err = capError(res.Err)
		st.L.RemoveContext()
		if keep {
			s.put(p, st)
		} else {
			st.close()
		}
	}()

	st.L.SetContext(runCtx)
	ret, err := st.call(p, env, params)
	if err == nil && runCtx.Err() != nil {
		// The script caught its own interruption (pcall, an xpcall
		// handler) and returned: whatever it did after is cut short.
		err = runCtx.Err()
	}
	if err != nil {
		return s.failure(ctx, runCtx, r, st, err)
	}
	if ret != lua.LNil {
		b, err := encodeJSON(ret, jsonBudget(runCtx, name+".lua: handle's result", MaxResultBytes), st.null, st.expand)
		if err != nil {
			if runCtx.Err() != nil {
				return s.failure(ctx, runCtx, r, st, err)
			}
			return Result{Status: StatusError, Err: err}
		}
		res.Value = b
	}
	res.Status = StatusOK
	keep = true
	return res
}

// instantiate runs a fresh instance of the file's top level with a fresh
// globals table (reads fall through to the sandbox) and returns that table.
func (st *state) instantiate(p *plugin) (*lua.LTable, error) {
	L := st.L
	env := L.CreateTable(0, 4)
	env.Metatable = st.envMeta
	env.RawSetString("_G", env)
	chunk := L.NewFunctionFromProto(p.proto)
	chunk.Env = env
	L.Push(chunk)
	if err := st.pcall(0, 0); err != nil {
		return nil, err
	}
	return env, nil
}

// call instantiates the plugin and calls handle(event, params).
func (st *state) call(p *plugin, env *envelope.Envelope, params map[string]any) (lua.LValue, error) {
	L := st.L
	L.SetTop(0)
	g, err := st.instantiate(p)
	if err != nil {
		return nil, err
	}
	handle, ok := g.RawGetString("handle").(*lua.LFunction)
	if !ok {
		return nil, fmt.Errorf("%s.lua: plugin does not define function handle(event, params)", p.name)
	}
	event, err := eventToLua(L, env, st.eventMeta)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	var pt lua.LValue = L.CreateTable(0, 0)
	if len(params) > 0 {
		pt = ToLua(L, params)
	}
	L.Push(handle)
	L.Push(event)
	L.Push(pt)
	if err := st.pcall(2, 1); err != nil {
		return nil, err
	}
	ret := L.Get(-1)
	L.SetTop(0)
	return ret, nil
}

// failure turns a failed run into a Result.
func (s *Set) failure(ctx, runCtx context.Context, r *run, st *state, err error) Result {
	if runCtx.Err() != nil {
		if cerr := ctx.Err(); cerr != nil {
			return retryResult(&RetryError{Reason: fmt.Sprintf("run stopped: %v", cerr)})
		}
		return retryResult(&RetryError{Reason: fmt.Sprintf("plugin timed out after %s", s.opts.Timeout)})
	}
	var api *lua.ApiError
	if !errors.As(err, &api) {
		return Result{Status: StatusError, Err: err}
	}
	switch obj := api.Object.(type) {
	case *lua.LUserData:
		if gerr, ok := obj.Value.(error); ok {
			var pe *panicError
			if errors.As(gerr, &pe) {
				r.slog().Error("plugin binding panicked", "function", pe.fn, "panic", pe.value)
			}
			if re, ok := IsRetry(gerr); ok {
				return Result{Status: StatusRetry, Err: gerr, RetryAfter: re.After}
			}
			return Result{Status: StatusError, Err: gerr}
		}
	case *lua.LTable:
		b, jerr := encodeJSON(obj, jsonBudget(runCtx, "error value", MaxErrorBytes), st.null, st.expand)
		if jerr == nil {
			return Result{Status: StatusError, Err: errors.New(string(b))}
		}
		if IsLimit(jerr) {
			return Result{Status: StatusError, Err: jerr}
		}
	}
	return Result{Status: StatusError, Err: errors.New(errorText(err))}
}

// capError cuts err's text to MaxErrorBytes, marking the cut; the cut
// error still wraps err, so IsRetry sees through it.
func capError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) <= MaxErrorBytes {
		return err
	}
	return &cappedError{msg: Truncate(msg, MaxErrorBytes), err: err}
}

// cappedError is an error whose text was cut (see capError).
type cappedError struct {
	msg string
	err error
}

func (e *cappedError) Error() string { return e.msg }
func (e *cappedError) Unwrap() error { return e.err }

// retryResult is a StatusRetry result for re.
func retryResult(re *RetryError) Result {
	return Result{Status: StatusRetry, Err: re, RetryAfter: re.After}
}

// errorText is a Lua error's message without the traceback.
func errorText(err error) string {
	var api *lua.ApiError
	if errors.As(err, &api) {
		if api.Object == lua.LNil {
			return "error(nil)"
		}
		return api.Object.String()
	}
	return err.Error()
}

func secondsToDuration(secs float64) time.Duration {
	return time.Duration(math.Round(secs * float64(time.Second)))
}
