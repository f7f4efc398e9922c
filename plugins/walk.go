package plugins

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// walker is the one traversal behind every conversion of Lua data into
// Go: Go values (toGo: log fields, module arguments) and JSON
// (encodeJSON: json.encode, results, error tables, kv values built with
// it). It decides what a table is (an array when its keys are exactly
// 1..n, else an object with sorted string or number keys), finds cycles,
// charges its Budget for every value and byte, and hands what it sees to
// an emitter, which builds the output.
type walker struct {
	b      *Budget
	out    emitter
	null   lua.LValue              // json.null, written as null; nil if none
	expand func(*lua.LTable) error // builds an event table's lazy fields
	open   []*lua.LTable           // the tables being walked, outermost first
}

// emitter builds a conversion's output. Each method returns the bytes it
// produced, which the walker charges; strSize and keySize are the least a
// string or key will produce, checked before a long one is copied.
type emitter interface {
	verb() string // "encode", "convert": for errors
	null() int
	boolean(v bool) int
	number(f float64) (int, error)
	strSize(s string) int
	str(s string) int
	beginArray(n int) int
	beginObject(n int) int
	keySize(name string) int
	key(name string) int
	end() int
}

func (w *walker) value(v lua.LValue) error {
	b := w.b
	if err := b.visit(1); err != nil {
		return err
	}
	switch v := v.(type) {
	case *lua.LNilType:
		return b.spend(w.out.null())
	case lua.LBool:
		return b.spend(w.out.boolean(bool(v)))
	case lua.LNumber:
		n, err := w.out.number(float64(v))
		if err != nil {
			return err
		}
		return b.spend(n)
	case lua.LString:
		if err := b.fits(w.out.strSize(string(v))); err != nil {
			return err
		}
		return b.spend(w.out.str(string(v)))
	case *lua.LTable:
		return w.table(v)
	}
	if w.null != nil && v == w.null {
		return b.spend(w.out.null())
	}
	return fmt.Errorf("cannot %s a %s", w.out.verb(), v.Type())
}

func (w *walker) table(t *lua.LTable) error {
	if slices.Contains(w.open, t) {
		return fmt.Errorf("cannot %s a table that contains itself", w.out.verb())
	}
	if w.b.MaxDepth > 0 && len(w.open) >= w.b.MaxDepth {
		return fmt.Errorf("nesting deeper than %d", w.b.MaxDepth)
	}
	if w.expand != nil {
		if err := w.expand(t); err != nil {
			return err
		}
	}
	w.open = append(w.open, t)
	defer func() { w.open = w.open[:len(w.open)-1] }()

	if n, ok := arrayLen(t); ok {
		if err := w.b.room(n); err != nil {
			return err
		}
		if err := w.b.spend(w.out.beginArray(n)); err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			if err := w.value(t.RawGetInt(i)); err != nil {
				return atKey(strconv.Itoa(i), err)
			}
		}
		return w.b.spend(w.out.end())
	}
	keys, err := objectKeys(t, w.out.verb(), w.b)
	if err != nil {
		return err
	}
	if err := w.b.spend(w.out.beginObject(len(keys))); err != nil {
		return err
	}
	for _, k := range keys {
		if err := w.b.fits(w.out.keySize(k.name)); err != nil {
			return err
		}
		if err := w.b.spend(w.out.key(k.name)); err != nil {
			return err
		}
		if err := w.value(t.RawGet(k.key)); err != nil {
			return atKey(k.name, err)
		}
	}
	return w.b.spend(w.out.end())
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

// objectKeys returns t's keys as member names, sorted. Their number is
// checked against b's values (without counting them) as they are read.
func objectKeys(t *lua.LTable, verb string, b *Budget) ([]objectKey, error) {
	var keys []objectKey
	var err error
	t.ForEach(func(k, _ lua.LValue) {
		if err != nil {
			return
		}
		switch kv := k.(type) {
		case lua.LString:
			keys = append(keys, objectKey{string(kv), k})
		case lua.LNumber:
			keys = append(keys, objectKey{lua.LVAsString(kv), k})
		default:
			err = fmt.Errorf("cannot %s a table key of type %s", verb, k.Type())
			return
		}
		if len(keys)&1023 == 0 {
			err = b.room(len(keys))
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(keys, func(a, b objectKey) int { return strings.Compare(a.name, b.name) })
	return keys, nil
}

// maxPathKeys caps the keys an error names ("a: b: c: ...: msg").
const maxPathKeys = 8

// pathError is a conversion error inside a table, with the keys that lead
// to it, outermost first.
type pathError struct {
	keys  []string
	elide bool // more keys were left out after keys
	err   error
}

func (e *pathError) Error() string {
	var b strings.Builder
	for _, k := range e.keys {
		b.WriteString(k)
		b.WriteString(": ")
	}
	if e.elide {
		b.WriteString("...: ")
	}
	b.WriteString(e.err.Error())
	return b.String()
}

func (e *pathError) Unwrap() error { return e.err }

// atKey puts key in front of err's path; limits and the context's end are
// about the whole conversion and stay as they are.
func atKey(key string, err error) error {
	if IsLimit(err) || isCtxErr(err) {
		return err
	}
	var pe *pathError
	if !errors.As(err, &pe) {
		return &pathError{keys: []string{key}, err: err}
	}
	if len(pe.keys) >= maxPathKeys {
		pe.keys = pe.keys[:maxPathKeys-1]
		pe.elide = true
	}
	pe.keys = slices.Insert(pe.keys, 0, key)
	return pe
}
