package plugins

import (
	"context"
	"fmt"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/internal/jsonstr"
)

// encodeJSON writes v as JSON within budget b (its bytes are those of the
// text). Tables whose keys are exactly 1..n are arrays; other tables are
// objects with string or number keys, written in key order so the output
// is stable. An empty table is {}. null (json.null) is null; functions,
// userdata and cycles are errors. expand, if set, is called on each table
// first (event tables build their lazy fields).
func encodeJSON(v lua.LValue, b *Budget, null lua.LValue, expand func(*lua.LTable) error) ([]byte, error) {
	e := &jsonWriter{}
	w := walker{b: b, out: e, null: null, expand: expand}
	if err := w.value(v); err != nil {
		return nil, b.fail(err)
	}
	return e.buf, nil
}

// jsonBudget is the budget of one JSON text of at most max bytes, ending
// with ctx (nil: no deadline).
func jsonBudget(ctx context.Context, what string, max int) *Budget {
	return &Budget{What: what, MaxBytes: max, MaxDepth: maxJSONDepth, Ctx: ctx}
}

// jsonWriter is the emitter that writes JSON text.
type jsonWriter struct {
	buf []byte
	// open holds, for each array or object being written, its closing
	// bracket and whether something was written in it; member is set
	// after a key, before its value.
	open   []jsonContainer
	member bool
}

type jsonContainer struct {
	close    byte
	nonEmpty bool
}

func (e *jsonWriter) verb() string { return "encode" }

// sep writes the comma before a value or key, unless it is a member's
// value or its container's first.
func (e *jsonWriter) sep() {
	if e.member {
		e.member = false
		return
	}
	if n := len(e.open); n > 0 {
		if e.open[n-1].nonEmpty {
			e.buf = append(e.buf, ',')
		}
		e.open[n-1].nonEmpty = true
	}
}

func (e *jsonWriter) null() int {
	n := len(e.buf)
	e.sep()
	e.buf = append(e.buf, "null"...)
	return len(e.buf) - n
}

func (e *jsonWriter) boolean(v bool) int {
	n := len(e.buf)
	e.sep()
	e.buf = strconv.AppendBool(e.buf, v)
	return len(e.buf) - n
}

func (e *jsonWriter) number(f float64) (int, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("cannot encode %v", f)
	}
	n := len(e.buf)
	e.sep()
	e.buf = appendNumber(e.buf, f)
	return len(e.buf) - n, nil
}

func (e *jsonWriter) strSize(s string) int { return len(s) + 2 }

func (e *jsonWriter) str(s string) int {
	n := len(e.buf)
	e.sep()
	e.buf = jsonstr.Append(e.buf, s, false)
	return len(e.buf) - n
}

func (e *jsonWriter) beginArray(int) int  { return e.begin('[', ']') }
func (e *jsonWriter) beginObject(int) int { return e.begin('{', '}') }

func (e *jsonWriter) begin(open, close byte) int {
	n := len(e.buf)
	e.sep()
	e.buf = append(e.buf, open)
	e.open = append(e.open, jsonContainer{close: close})
	return len(e.buf) - n
}

func (e *jsonWriter) keySize(name string) int { return len(name) + 3 }

func (e *jsonWriter) key(name string) int {
	n := len(e.buf)
	e.sep()
	e.buf = append(jsonstr.Append(e.buf, name, false), ':')
	e.member = true
	return len(e.buf) - n
}

func (e *jsonWriter) end() int {
	c := e.open[len(e.open)-1]
	e.open = e.open[:len(e.open)-1]
	e.buf = append(e.buf, c.close)
	return 1
}

// appendNumber writes a finite number: integers as integers, others in
// the shortest form that reads back the same.
func appendNumber(b []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e18 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
