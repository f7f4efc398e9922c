package plugins

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
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
	e.buf = appendJSONString(e.buf, s)
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
	e.buf = append(appendJSONString(e.buf, name), ':')
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

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s for JSON. Lua strings are bytes: invalid UTF-8
// becomes U+FFFD so the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
