package plugins

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// encodeJSON writes v as JSON, at most max bytes (0: no cap). Tables whose
// keys are exactly 1..n are arrays; other tables are objects with string or
// number keys, written in key order so the output is stable. An empty table
// is {}. null (json.null) is null; functions, userdata and cycles are
// errors.
func encodeJSON(v lua.LValue, null lua.LValue, max int, expand func(*lua.LTable) error) ([]byte, error) {
	e := jsonEncoder{null: null, max: max, expand: expand}
	if err := e.value(v); err != nil {
		return nil, err
	}
	if max > 0 && len(e.buf) > max {
		return nil, fmt.Errorf("%w (max %d bytes)", errTooLarge, max)
	}
	return e.buf, nil
}

type jsonEncoder struct {
	buf   []byte
	null  lua.LValue
	max   int
	stack []*lua.LTable // tables being written, to detect cycles
	// expand, if set, is called on each table first (event tables build
	// their lazy fields).
	expand func(*lua.LTable) error
}

var errTooLarge = errors.New("result too large")

func (e *jsonEncoder) value(v lua.LValue) error {
	if e.max > 0 && len(e.buf) > e.max {
		return fmt.Errorf("%w (max %d bytes)", errTooLarge, e.max)
	}
	switch v := v.(type) {
	case *lua.LNilType:
		e.buf = append(e.buf, "null"...)
	case lua.LBool:
		e.buf = strconv.AppendBool(e.buf, bool(v))
	case lua.LNumber:
		b, err := appendNumber(e.buf, float64(v))
		if err != nil {
			return err
		}
		e.buf = b
	case lua.LString:
		e.buf = appendJSONString(e.buf, string(v))
	case *lua.LTable:
		return e.table(v)
	default:
		if v == e.null && e.null != nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return fmt.Errorf("cannot encode a %s", v.Type())
	}
	return nil
}

func (e *jsonEncoder) table(t *lua.LTable) error {
	for _, open := range e.stack {
		if open == t {
			return errors.New("cannot encode a table that contains itself")
		}
	}
	if len(e.stack) >= maxJSONDepth {
		return fmt.Errorf("nesting deeper than %d", maxJSONDepth)
	}
	e.stack = append(e.stack, t)
	defer func() { e.stack = e.stack[:len(e.stack)-1] }()
	if e.expand != nil {
		if err := e.expand(t); err != nil {
			return err
		}
	}

	if n, ok := arrayLen(t); ok {
		e.buf = append(e.buf, '[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(t.RawGetInt(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	}
	keys, err := objectKeys(t)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, k.name)
		e.buf = append(e.buf, ':')
		if err := e.value(t.RawGet(k.key)); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// arrayLen reports whether t's keys are exactly 1..n (n > 0).
func arrayLen(t *lua.LTable) (int, bool) {
	n := t.Len()
	if n == 0 {
		return 0, false
	}
	count := 0
	array := true
	t.ForEach(func(k, _ lua.LValue) {
		count++
		if num, ok := k.(lua.LNumber); !ok || float64(num) != math.Trunc(float64(num)) || num < 1 || int(num) > n {
			array = false
		}
	})
	return n, array && count == n
}

type objectKey struct {
	name string
	key  lua.LValue
}

// objectKeys returns t's keys as JSON member names, sorted.
func objectKeys(t *lua.LTable) ([]objectKey, error) {
	var keys []objectKey
	var err error
	t.ForEach(func(k, _ lua.LValue) {
		switch kv := k.(type) {
		case lua.LString:
			keys = append(keys, objectKey{string(kv), k})
		case lua.LNumber:
			keys = append(keys, objectKey{lua.LVAsString(kv), k})
		default:
			if err == nil {
				err = fmt.Errorf("cannot encode a table key of type %s", k.Type())
			}
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(keys, func(a, b objectKey) int { return strings.Compare(a.name, b.name) })
	return keys, nil
}

func appendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("cannot encode %v", f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e18 {
		return strconv.AppendInt(b, int64(f), 10), nil
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64), nil
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
