package plugins

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// maxJSONDepth caps nesting for json.decode, json.encode, event.payload and
// results: deeper documents are refused instead of exhausting the Go stack.
const maxJSONDepth = 128

// ctxCheckEvery is how many values a long Go loop handles between two looks
// at the run's context.
const ctxCheckEvery = 4096

// decodeJSON turns a JSON document straight into Lua values: objects and
// arrays become tables (arrays 1-based), null becomes nil (so a null field
// reads as absent and a null array item leaves a hole), numbers become Lua
// numbers. It is written by hand so the payload does not go through
// map[string]any first. ctx may be nil; otherwise a cancelled ctx stops it.
func decodeJSON(ctx context.Context, L *lua.LState, data []byte) (lua.LValue, error) {
	d := jsonDecoder{L: L, data: data, ctx: ctx}
	v, err := d.document()
	if err != nil {
		return lua.LNil, err
	}
	return v, nil
}

type jsonDecoder struct {
	L       *lua.LState
	data    []byte
	pos     int
	depth   int
	count   int
	ctx     context.Context
	scratch []lua.LValue // pending members of the open arrays and objects
	buf     []byte       // unescaping
}

type jsonError struct{ msg string }

func (e *jsonError) Error() string { return e.msg }

func (d *jsonDecoder) fail(format string, args ...any) {
	panic(&jsonError{fmt.Sprintf(format, args...)})
}

func (d *jsonDecoder) document() (v lua.LValue, err error) {
	defer func() {
		if r := recover(); r != nil {
			je, ok := r.(*jsonError)
			if !ok {
				panic(r)
			}
			err = errors.New(je.msg)
		}
	}()
	v = d.value()
	d.skipSpace()
	if d.pos < len(d.data) {
		d.fail("invalid character %s after top-level value at offset %d", quoteByte(d.data[d.pos]), d.pos)
	}
	return v, nil
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value() lua.LValue {
	d.count++
	if d.count > envelope.MaxDecodedValues {
		d.fail("more than %d values", envelope.MaxDecodedValues)
	}
	if d.ctx != nil && d.count%ctxCheckEvery == 0 {
		if err := d.ctx.Err(); err != nil {
			d.fail("%v", err)
		}
	}
	d.skipSpace()
	if d.pos >= len(d.data) {
		d.fail("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return lua.LString(d.str())
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		d.literal("true")
		return lua.LTrue
	case c == 'f':
		d.literal("false")
		return lua.LFalse
	case c == 'n':
		d.literal("null")
		return lua.LNil
	default:
		d.fail("invalid character %s looking for a value at offset %d", quoteByte(c), d.pos)
		return nil
	}
}

func (d *jsonDecoder) literal(word string) {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		d.fail("invalid literal at offset %d", d.pos)
	}
	d.pos += len(word)
}

func (d *jsonDecoder) enter() {
	d.depth++
	if d.depth > maxJSONDepth {
		d.fail("nesting deeper than %d", maxJSONDepth)
	}
	d.pos++
}

// more consumes what follows an object member or array element: it
// returns true after ',' and false after closer, and fails on anything
// else, naming what it expected.
func (d *jsonDecoder) more(closer byte, what string) bool {
	d.skipSpace()
	if d.pos >= len(d.data) {
		d.fail("unexpected end of input")
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		return true
	case closer:
		d.pos++
		return false
	}
	d.expected(what)
	return false
}

func (d *jsonDecoder) object() lua.LValue {
	d.enter()
	base := len(d.scratch)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return d.L.CreateTable(0, 0)
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			d.expected("string for object key")
		}
		key := d.str()
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			d.expected("':' after object key")
		}
		d.pos++
		v := d.value()
		d.scratch = append(d.scratch, lua.LString(key), v)
		if !d.more('}', "',' or '}' after object member") {
			break
		}
	}
	members := d.scratch[base:]
	t := d.L.CreateTable(0, len(members)/2)
	for i := 0; i < len(members); i += 2 {
		// A null member reads as absent; setting nil also drops an earlier
		// member of the same name (the last one wins, as in encoding/json).
		t.RawSetString(string(members[i].(lua.LString)), members[i+1])
	}
	clear(members)
	d.scratch = d.scratch[:base]
	d.depth--
	return t
}

func (d *jsonDecoder) array() lua.LValue {
	d.enter()
	base := len(d.scratch)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return d.L.CreateTable(0, 0)
	}
	for {
		d.scratch = append(d.scratch, d.value())
		if !d.more(']', "',' or ']' after array element") {
			break
		}
	}
	items := d.scratch[base:]
	t := d.L.CreateTable(len(items), 0)
	for i, v := range items {
		if v != lua.LNil {
			t.RawSetInt(i+1, v)
		}
	}
	clear(items)
	d.scratch = d.scratch[:base]
	d.depth--
	return t
}

func (d *jsonDecoder) expected(what string) {
	if d.pos >= len(d.data) {
		d.fail("unexpected end of input")
	}
	d.fail("invalid character %s at offset %d: expected %s", quoteByte(d.data[d.pos]), d.pos, what)
}

// str reads a string starting at the opening quote.
func (d *jsonDecoder) str() string {
	d.pos++
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := string(d.data[start:d.pos])
			d.pos++
			return s
		case c == '\\':
			return d.escapedStr(start)
		case c < 0x20:
			d.fail("invalid control character in string at offset %d", d.pos)
		}
		d.pos++
	}
	d.fail("unexpected end of input in string")
	return ""
}

func (d *jsonDecoder) escapedStr(start int) string {
	b := append(d.buf[:0], d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			d.buf = b
			return string(b)
		case c < 0x20:
			d.fail("invalid control character in string at offset %d", d.pos)
		case c != '\\':
			b = append(b, c)
			d.pos++
			continue
		}
		d.pos++
		if d.pos >= len(d.data) {
			break
		}
		switch e := d.data[d.pos]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := d.hex4()
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.pos+2 < len(d.data) && d.data[d.pos+1] == '\\' && d.data[d.pos+2] == 'u' {
					save := d.pos
					d.pos += 2
					r2 = d.hex4()
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
					} else {
						d.pos = save // not a pair: the second escape is read on its own
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			d.fail("invalid escape \\%c in string at offset %d", e, d.pos)
		}
		d.pos++
	}
	d.fail("unexpected end of input in string")
	return ""
}

// hex4 reads the four hex digits after \u; d.pos is on the 'u' and ends on
// the last digit.
func (d *jsonDecoder) hex4() rune {
	if d.pos+4 >= len(d.data) {
		d.fail("unexpected end of input in \\u escape")
	}
	var r rune
	for _, c := range d.data[d.pos+1 : d.pos+5] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			d.fail("invalid \\u escape at offset %d", d.pos)
		}
	}
	d.pos += 4
	return r
}

// number validates JSON's number grammar and converts. Short integers,
// the common case (ids), skip strconv.
func (d *jsonDecoder) number() lua.LValue {
	start := d.pos
	data := d.data
	i := d.pos
	neg := false
	if data[i] == '-' {
		neg = true
		i++
	}
	digits := func() int {
		n := 0
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	intStart := i
	nInt := digits()
	if nInt == 0 || (nInt > 1 && data[intStart] == '0') {
		d.fail("invalid number at offset %d", start)
	}
	simple := true
	if i < len(data) && data[i] == '.' {
		i++
		simple = false
		if digits() == 0 {
			d.fail("invalid number at offset %d", start)
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		simple = false
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.fail("invalid number at offset %d", start)
		}
	}
	d.pos = i
	if simple && nInt <= 15 {
		var n int64
		for _, c := range data[intStart:i] {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return lua.LNumber(n)
	}
	f, err := strconv.ParseFloat(string(data[start:i]), 64)
	if err != nil {
		d.fail("invalid number at offset %d: %v", start, err)
	}
	return lua.LNumber(f)
}

func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}
