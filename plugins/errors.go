package plugins

import (
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// RetryError marks a plugin failure as transient: the run is retried with
// backoff (no sooner than After, when set) instead of failing for good.
// Scripts raise it with retry(reason[, seconds]); Go bindings return it for
// GitLab 5xx, 429, timeouts and network errors.
type RetryError struct {
	Reason string
	After  time.Duration
}

func (e *RetryError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retry: %s (after %s)", e.Reason, e.After)
	}
	return "retry: " + e.Reason
}

// Retry returns a RetryError.
func Retry(reason string, after time.Duration) error {
	return &RetryError{Reason: reason, After: after}
}

// IsRetry reports whether err (or one it wraps) is a RetryError, and returns it.
func IsRetry(err error) (*RetryError, bool) {
	var r *RetryError
	ok := errors.As(err, &r)
	return r, ok
}

// Raise raises err as a Lua error from inside a Go binding. The runtime
// recovers the Go error from it after the run, so a RetryError raised here
// makes the run retryable, and any other error fails it. Raise does not
// return.
func Raise(L *lua.LState, err error) {
	ud := L.NewUserData()
	ud.Value = &raised{err: err, where: scriptWhere(L)}
	ud.Metatable = errorMeta(L)
	L.Error(ud, 1)
}

// scriptWhere is the position ("build.lua:12:") of the innermost Lua
// function on the call stack, skipping Go functions such as pcall.
func scriptWhere(L *lua.LState) string {
	for level := 1; level < 16; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			break
		}
		if dbg.What != "G" && dbg.CurrentLine > 0 {
			return fmt.Sprintf("%s:%d:", dbg.Source, dbg.CurrentLine)
		}
	}
	return ""
}

// raised is an error raised by Raise, with the script position it was
// raised at ("build.lua:12:").
type raised struct {
	err   error
	where string
}

func (r *raised) Error() string {
	if r.where == "" {
		return r.err.Error()
	}
	return r.where + " " + r.err.Error()
}

func (r *raised) Unwrap() error { return r.err }

// errorMeta gives raised Go errors a __tostring so scripts that catch them
// with pcall see the message.
func errorMeta(L *lua.LState) *lua.LTable {
	const name = "hookgate.error"
	mt := L.NewTypeMetatable(name)
	if mt.RawGetString("__tostring") == lua.LNil {
		mt.RawSetString("__metatable", lua.LFalse) // scripts cannot change it
		mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
			if err, ok := L.CheckUserData(1).Value.(error); ok {
				L.Push(lua.LString(err.Error()))
				return 1
			}
			L.Push(lua.LString("error"))
			return 1
		}))
	}
	return mt
}
