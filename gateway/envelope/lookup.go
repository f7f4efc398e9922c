package envelope

import (
	"bytes"
	"iter"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson/fastfloat"
)

// Reading the tree of a parsed body (tree.go). The lookups give exactly what
// fastjson's Value methods gave the same calls, quirks included, so the
// envelope of every body is what it was when fill read a fastjson tree.

// value is one value of a parsed body, or a missing value (the zero
// value). It is valid until its parser parses another body or goes back to
// the pool.
type value struct {
	p *parser
	i int // index of its node in p.nodes
}

// exists reports whether v is a value rather than a missing one.
func (v value) exists() bool { return v.p != nil }

// kind returns v's JSON type, kindNone when v is missing.
func (v value) kind() kind {
	if v.p == nil {
		return kindNone
	}
	return v.p.nodes[v.i].kind
}

// get returns the value at the path keys below v, like fastjson's
// Value.Get: an object's member by key (see parser.member), an array's
// item by decimal index. The result is missing when a step is.
func (v value) get(keys ...string) value {
	if v.p == nil {
		return v
	}
	for _, key := range keys {
		switch v.p.nodes[v.i].kind {
		case kindObject:
			i, ok := v.p.member(v.i, key)
			if !ok {
				return value{}
			}
			v.i = i
		case kindArray:
			n, err := strconv.Atoi(key)
			if err != nil {
				return value{}
			}
			if v = v.index(n); v.p == nil {
				return v
			}
		default:
			return value{}
		}
	}
	return v
}

// member returns the index of the member key of the object node obj. It
// follows fastjson's Object.Get, which compares an object's keys raw until
// a search finds no raw match (or looks for a key with a backslash), and
// from then on unescapes them for good: until then the first member whose
// raw key is key wins (or, if none is, the first whose unescaped key is);
// from then on, the first member whose unescaped key is key. The two differ
// only for an object with two keys that unescape alike, one of them
// escaped; flagKeysUnescaped keeps that state between calls.
func (p *parser) member(obj int, key string) (int, bool) {
	o := &p.nodes[obj]
	b := p.body
	if o.flags&flagObjKeyEsc == 0 || o.flags&flagKeysUnescaped == 0 && strings.IndexByte(key, '\\') < 0 {
		// Raw keys: without escaped keys they are the unescaped keys.
		for i := obj + 1; i < int(o.next); {
			n := &p.nodes[i]
			if string(b[n.keyStart:n.keyEnd]) == key {
				return i, true
			}
			i = int(n.next)
		}
		if o.flags&flagObjKeyEsc == 0 {
			return 0, false
		}
	}
	o.flags |= flagKeysUnescaped
	for i := obj + 1; i < int(o.next); {
		n := &p.nodes[i]
		k := b[n.keyStart:n.keyEnd]
		if n.flags&flagKeyEsc != 0 {
			mark := len(p.arena)
			p.arena = unescape(p.arena, k)
			k = p.arena[mark:]
			p.arena = p.arena[:mark]
		}
		if string(k) == key {
			return i, true
		}
		i = int(n.next)
	}
	return 0, false
}

// len returns the number of items of an array value, 0 for other kinds.
func (v value) len() int {
	if v.kind() != kindArray {
		return 0
	}
	n := 0
	for i, end := v.i+1, int(v.p.nodes[v.i].next); i < end; i = int(v.p.nodes[i].next) {
		n++
	}
	return n
}

// index returns item n (from 0) of an array value; missing when v is not
// an array or has no such item.
func (v value) index(n int) value {
	if v.kind() != kindArray || n < 0 {
		return value{}
	}
	for i, end := v.i+1, int(v.p.nodes[v.i].next); i < end; i = int(v.p.nodes[i].next) {
		if n == 0 {
			return value{v.p, i}
		}
		n--
	}
	return value{}
}

// items yields the items of an array value in order; none for other kinds.
func (v value) items() iter.Seq[value] {
	return func(yield func(value) bool) {
		if v.kind() != kindArray {
			return
		}
		for i, end := v.i+1, int(v.p.nodes[v.i].next); i < end; i = int(v.p.nodes[i].next) {
			if !yield(value{v.p, i}) {
				return
			}
		}
	}
}

// stringBytes returns the text of a string value, unescaped as fastjson's
// Value.StringBytes unescapes it (see unescape); nil for other kinds. The
// bytes belong to the body or the parser: read them before the next parse
// and never modify them.
func (v value) stringBytes() []byte {
	if v.kind() != kindString {
		return nil
	}
	n := &v.p.nodes[v.i]
	raw := v.p.body[n.start:n.end]
	if n.flags&flagEsc == 0 {
		return raw
	}
	mark := len(v.p.arena)
	v.p.arena = unescape(v.p.arena, raw)
	return v.p.arena[mark:len(v.p.arena):len(v.p.arena)]
}

// text returns a number value's JSON text as written; nil for other kinds.
// The bytes belong to the body: read them before the next parse.
func (v value) text() []byte {
	if v.kind() != kindNumber {
		return nil
	}
	n := &v.p.nodes[v.i]
	return v.p.body[n.start:n.end]
}

// int64 returns a number value as an int64 when its text is an integer
// within int64's range, as fastjson's Value.Int64 (fastfloat.ParseInt64,
// the same as strconv.ParseInt on JSON numbers) does.
func (v value) int64() (int64, bool) {
	t := v.text()
	if len(t) == 0 {
		return 0, false
	}
	d := t
	if d[0] == '-' {
		d = d[1:]
	}
	if len(d) > 18 { // may overflow: let strconv check
		n, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	var n int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false // a fraction or an exponent
		}
		n = n*10 + int64(c-'0')
	}
	if t[0] == '-' {
		n = -n
	}
	return n, true
}

// float64 returns a number value as fastjson's Value.Float64 does, with
// fastfloat.Parse. That is not always strconv.ParseFloat's correctly
// rounded result (1.1e2 gives 110.00000000000001), but it is what the
// envelope has always been built with.
func (v value) float64() (float64, error) {
	t := v.text()
	if len(t) == 0 {
		return 0, strconv.ErrSyntax
	}
	// fastfloat keeps no reference to its argument (its errors quote a
	// copy), and the body does not change while Normalize runs.
	return fastfloat.Parse(unsafe.String(&t[0], len(t)))
}

// unescape appends the JSON string text s (without its quotes) to dst with
// its escapes decoded as fastjson decodes them (unescapeStringBestEffort):
// a \u escape of a UTF-16 surrogate followed by another \u escape is
// decoded with the latter as a pair, both escapes giving one U+FFFD when
// they are not a valid pair, and a surrogate escape not followed by a \u
// escape is kept as its six characters. (encoding/json gives a U+FFFD for
// each lone surrogate and decodes the escape after it on its own.)
// Invalid escapes, which the parser refuses before, are kept as written.
func unescape(dst, s []byte) []byte {
	n := bytes.IndexByte(s, '\\')
	if n < 0 {
		return append(dst, s...)
	}
	dst = append(dst, s[:n]...)
	s = s[n+1:]
	for len(s) > 0 {
		ch := s[0]
		s = s[1:]
		switch ch {
		case '"', '\\', '/':
			dst = append(dst, ch)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			x, ok := hex4(s)
			if !ok {
				dst = append(dst, `\u`...)
				break
			}
			xs := s[:4]
			s = s[4:]
			if !utf16.IsSurrogate(rune(x)) {
				dst = utf8.AppendRune(dst, rune(x))
				break
			}
			var x1 rune
			if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
				x1, ok = hex4(s[2:])
			} else {
				ok = false
			}
			if !ok {
				dst = append(dst, `\u`...)
				dst = append(dst, xs...)
				break
			}
			dst = utf8.AppendRune(dst, utf16.DecodeRune(rune(x), x1))
			s = s[6:]
		default:
			dst = append(dst, '\\', ch)
		}
		n = bytes.IndexByte(s, '\\')
		if n < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:n]...)
		s = s[n+1:]
	}
	return dst
}

// hex4 reads the 4 hexadecimal digits at the start of s.
func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var x rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		x = x<<4 | rune(c)
	}
	return x, true
}
