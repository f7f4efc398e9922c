package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Limits of the log module, per run.
const (
	// MaxLogLines is how many lines one run keeps; later lines are counted
	// and reported in one final line.
	MaxLogLines = 1000
	// MaxLogMessageBytes caps one message, and each string in a line's
	// fields; longer ones are cut.
	MaxLogMessageBytes = 8 << 10
	// MaxLogBytes caps what one run keeps in all (messages, field keys and
	// values; 8 bytes per other value); later lines are dropped and
	// counted like those over MaxLogLines. Every line is kept in the
	// delivery log, so this bounds what one event can add to it. A line
	// is dropped before its fields are walked past what is left.
	MaxLogBytes = 256 << 10
	// maxLogFieldDepth caps nesting in a line's fields.
	maxLogFieldDepth = 8
)

var logLevels = []string{"debug", "info", "warn", "error"}

// logModule builds the log table: log.debug/info/warn/error(msg[, fields]).
func logModule(L *lua.LState, null lua.LValue, expand func(*lua.LTable) error) *lua.LTable {
	t := L.CreateTable(0, len(logLevels))
	for _, level := range logLevels {
		t.RawSetString(level, L.NewFunction(func(L *lua.LState) int {
			msg := luaToString(L.CheckAny(1))
			checkCtx(L, "log."+level)
			ctx := L.Context()
			// What is left of the run's log: a line that cannot fit is
			// dropped (and counted) before it is cut or converted, so a
			// script logging in a loop pays nothing for it.
			room := MaxLogBytes
			r := runFrom(ctx)
			if r != nil {
				room = r.room()
			}
			if room < min(len(msg), MaxLogMessageBytes) {
				r.drop()
				return 0
			}
			var fields map[string]any
			if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
				m, err := logFields(ctx, "log."+level, L.CheckTable(2), null, expand, room-min(len(msg), MaxLogMessageBytes))
				switch {
				case errors.Is(err, errNoRoom):
					r.drop()
					return 0
				case err != nil:
					L.RaiseError("%v", err)
				}
				fields = m
			}
			Log(ctx, level, msg, fields)
			return 0
		}))
	}
	return t
}

// errNoRoom is a line's fields not fitting in what is left of the run's
// log.
var errNoRoom = errors.New("no room left in the run's log")

// logFields converts a line's fields within their budget:
// MaxLogFieldValues values and maxLogFieldDepth levels (past them the call
// fails), room bytes, what is left of the run's log, each string counted
// as kept, cut to MaxLogMessageBytes (past them the walk stops with
// errNoRoom: the line is dropped), and the run's deadline. A list ({1,
// 2}) becomes a map keyed "1", "2", ....
func logFields(ctx context.Context, fn string, t *lua.LTable, null lua.LValue, expand func(*lua.LTable) error, room int) (map[string]any, error) {
	b := &Budget{What: fn + ": fields", MaxValues: MaxLogFieldValues, MaxBytes: max(room, 0), MaxDepth: maxLogFieldDepth, Ctx: ctx}
	if b.MaxBytes == 0 {
		return nil, errNoRoom
	}
	v, err := toGo(t, b, null, expand, MaxLogMessageBytes)
	var le *LimitError
	if errors.As(err, &le) && le.Units == "bytes" {
		return nil, errNoRoom
	}
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case map[string]any:
		return v, nil
	case []any:
		m := make(map[string]any, len(v))
		for i, x := range v {
			m[strconv.Itoa(i+1)] = x
		}
		return m, nil
	}
	return nil, nil
}

// room is how many bytes the run's log still takes; 0 (or less) once it
// has MaxLogLines lines.
func (r *run) room() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.logs) >= MaxLogLines {
		return -1
	}
	return MaxLogBytes - r.logBytes
}

// drop counts a line dropped over the limits (outside a run, r is nil
// and there is nothing to count).
func (r *run) drop() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.dropped++
	r.mu.Unlock()
}

// log records one line in the run's log and the process log.
func (r *run) log(ctx context.Context, level, msg string, fields map[string]any) {
	if r.room() < min(len(msg), MaxLogMessageBytes) {
		r.drop()
		return
	}
	msg = Truncate(msg, MaxLogMessageBytes)
	size := len(msg)
	if fields != nil {
		size += capFields(fields)
	}
	r.mu.Lock()
	if len(r.logs) >= MaxLogLines || r.logBytes+size > MaxLogBytes {
		r.dropped++
		r.mu.Unlock()
		return
	}
	r.logBytes += size
	r.logs = append(r.logs, queue.LogLine{Level: level, Message: msg, Fields: fields})
	r.mu.Unlock()
	r.slog().Log(ctx, slogLevel(level), msg, fieldAttrs(fields)...)
}

// finishLogs returns the run's lines, with a last line counting the lines
// dropped over the limit.
func (r *run) finishLogs() []queue.LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped > 0 {
		r.logs = append(r.logs, queue.LogLine{
			Level:   "warn",
			Message: fmt.Sprintf("log: %d more lines dropped (limit %d per run)", r.dropped, MaxLogLines),
		})
		r.dropped = 0
	}
	return r.logs
}

// capFields cuts every string in v (a field value as ToGo makes it: maps,
// slices and scalars) to MaxLogMessageBytes, in place, and returns the
// bytes of its keys and strings (numbers and booleans count 8).
func capFields(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case map[string]any:
		n := 0
		for k, x := range v {
			if s, ok := x.(string); ok && len(s) > MaxLogMessageBytes {
				x = Truncate(s, MaxLogMessageBytes)
				v[k] = x
			}
			n += len(k) + capFields(x)
		}
		return n
	case []any:
		n := 0
		for i, x := range v {
			if s, ok := x.(string); ok && len(s) > MaxLogMessageBytes {
				x = Truncate(s, MaxLogMessageBytes)
				v[i] = x
			}
			n += capFields(x)
		}
		return n
	}
	return 8
}

func slogLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// fieldAttrs turns a line's fields into slog attributes, in key order.
func fieldAttrs(fields map[string]any) []any {
	if len(fields) == 0 {
		return nil
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]any, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, fields[k]))
	}
	return attrs
}

// Truncate cuts s to at most max bytes on a UTF-8 boundary, marking the
// cut with "…(truncated)". The gateway cuts what it stores with it.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…(truncated)"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	var b strings.Builder
	b.Grow(cut + len(mark))
	b.WriteString(s[:cut])
	b.WriteString(mark)
	return b.String()
}
