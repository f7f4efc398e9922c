package config

import (
	"sort"
	"strconv"
	"strings"
)

// The TOML library reports no positions for keys that decode fine but are
// unknown or invalid, so locate scans the document once and records where
// each key and each value starts. It runs only on text the TOML parser has
// already accepted, but stays total on any input: every loop advances.
//
// Paths are key segments; an element of an array of tables ([[gitlab]]) or
// of an inline array is a segment made by indexSeg, so the second
// [[gitlab]] block's url is {"gitlab", indexSeg(1), "url"}.

const pathSep = "\x1f"

// indexSeg is the path segment for element i of an array.
func indexSeg(i int) string { return "\x00" + strconv.Itoa(i) }

func isIndexSeg(s string) bool { return strings.HasPrefix(s, "\x00") }

func pathKey(segs []string) string { return strings.Join(segs, pathSep) }

// join returns a new slice a+b that shares no memory with a.
func join(a []string, b ...string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

type locator struct {
	src    string
	lines  []int          // byte offset of each line start
	keys   map[string]int // path -> offset where its key (or header) first appears
	vals   map[string]int // path -> offset of its value
	arrays map[string]int // array-of-tables path -> blocks seen so far
}

func locate(src string) *locator {
	l := &locator{
		src:    src,
		lines:  []int{0},
		keys:   map[string]int{},
		vals:   map[string]int{},
		arrays: map[string]int{},
	}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	s := &scanner{src: src, l: l}
	if strings.HasPrefix(src, "\xef\xbb\xbf") {
		s.i = 3
	}
	var table []string
	for s.i < len(src) {
		start := s.i
		s.skipBlank()
		if s.i >= len(src) {
			break
		}
		if src[s.i] == '[' {
			table = s.header()
		} else {
			s.keyValue(table)
		}
		if s.i == start {
			s.i++
		}
	}
	return l
}

// find returns the line and column (both from 1) of the value at path when
// value is true and a value was recorded, else of its key; failing that of
// the nearest enclosing key or header. 0, 0 when nothing is known.
func (l *locator) find(segs []string, value bool) (line, col int) {
	for n := len(segs); n > 0; n-- {
		k := pathKey(segs[:n])
		if value && n == len(segs) {
			if off, ok := l.vals[k]; ok {
				return l.pos(off)
			}
		}
		if off, ok := l.keys[k]; ok {
			return l.pos(off)
		}
	}
	return 0, 0
}

func (l *locator) pos(off int) (line, col int) {
	n := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] > off })
	return n, off - l.lines[n-1] + 1
}

func (l *locator) recordKey(segs []string, off int) {
	k := pathKey(segs)
	if _, ok := l.keys[k]; !ok {
		l.keys[k] = off
	}
}

func (l *locator) recordVal(segs []string, off int) {
	k := pathKey(segs)
	if _, ok := l.vals[k]; !ok {
		l.vals[k] = off
	}
}

type scanner struct {
	src string
	i   int
	l   *locator
}

func (s *scanner) peek(n int) byte {
	if s.i+n < len(s.src) {
		return s.src[s.i+n]
	}
	return 0
}

// skipSpace skips spaces and tabs.
func (s *scanner) skipSpace() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

// skipBlank skips whitespace, newlines and comments.
func (s *scanner) skipBlank() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

// header reads "[a.b]" or "[[a.b]]" and returns the table path it opens,
// with the index of the latest block for every array of tables on the way.
func (s *scanner) header() []string {
	arr := s.peek(1) == '['
	s.i++
	if arr {
		s.i++
	}
	s.skipSpace()
	off := s.i
	key := s.key()
	s.skipSpace()
	if s.peek(0) == ']' {
		s.i++
		if arr && s.peek(0) == ']' {
			s.i++
		}
	}
	var path []string
	for j, seg := range key {
		path = join(path, seg)
		if arr && j == len(key)-1 {
			k := pathKey(path)
			n := s.l.arrays[k]
			s.l.arrays[k] = n + 1
			s.l.recordKey(path, off)
			path = join(path, indexSeg(n))
			break
		}
		if n, ok := s.l.arrays[pathKey(path)]; ok && n > 0 {
			path = join(path, indexSeg(n-1))
		}
		s.l.recordKey(path, off)
	}
	s.l.recordKey(path, off)
	return path
}

// keyValue reads "a.b = value" under prefix.
func (s *scanner) keyValue(prefix []string) {
	off := s.i
	key := s.key()
	if len(key) == 0 {
		return
	}
	s.skipSpace()
	if s.peek(0) != '=' {
		return
	}
	s.i++
	s.skipSpace()
	full := join(prefix, key...)
	for j := len(prefix) + 1; j <= len(full); j++ {
		s.l.recordKey(full[:j], off)
	}
	s.l.recordVal(full, s.i)
	s.value(full)
}

// key reads a dotted key: bare, "basic" or 'literal' parts.
func (s *scanner) key() []string {
	var segs []string
	for {
		s.skipSpace()
		seg, ok := s.simpleKey()
		if !ok {
			return segs
		}
		segs = append(segs, seg)
		s.skipSpace()
		if s.peek(0) != '.' {
			return segs
		}
		s.i++
	}
}

func (s *scanner) simpleKey() (string, bool) {
	if s.i >= len(s.src) {
		return "", false
	}
	switch s.src[s.i] {
	case '"':
		start := s.i
		s.basicString()
		raw := s.src[start:s.i]
		if v, err := strconv.Unquote(raw); err == nil {
			return v, true
		}
		return strings.Trim(raw, `"`), true
	case '\'':
		start := s.i + 1
		s.literalString()
		return strings.TrimSuffix(s.src[start:s.i], "'"), true
	}
	start := s.i
	for s.i < len(s.src) && !strings.ContainsRune(" \t\r\n=.[]#,{}\"'", rune(s.src[s.i])) {
		s.i++
	}
	return s.src[start:s.i], s.i > start
}

// basicString skips a one-line "..." string, the cursor on its quote.
func (s *scanner) basicString() {
	s.i++
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return
		case '\n':
			return
		default:
			s.i++
		}
	}
	s.i = len(s.src)
}

// literalString skips a one-line '...' string, the cursor on its quote.
func (s *scanner) literalString() {
	s.i++
	for s.i < len(s.src) && s.src[s.i] != '\'' && s.src[s.i] != '\n' {
		s.i++
	}
	if s.i < len(s.src) && s.src[s.i] == '\'' {
		s.i++
	}
}

// multiline skips a multi-line string whose delimiter q is three double
// or three single quotes; the cursor is on the opening delimiter.
func (s *scanner) multiline(q string) {
	s.i += 3
	for s.i < len(s.src) {
		if q == `"""` && s.src[s.i] == '\\' {
			s.i += 2
			continue
		}
		if strings.HasPrefix(s.src[s.i:], q) {
			s.i += 3
			// Up to two more quotes belong to the content: """a"""""
			for n := 0; n < 2 && s.i < len(s.src) && s.src[s.i] == q[0]; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
	s.i = len(s.src)
}

// value skips one value, recording keys of inline tables and the elements
// of arrays under path.
func (s *scanner) value(path []string) {
	if s.i >= len(s.src) {
		return
	}
	rest := s.src[s.i:]
	switch {
	case strings.HasPrefix(rest, `"""`):
		s.multiline(`"""`)
	case strings.HasPrefix(rest, `'''`):
		s.multiline(`'''`)
	case rest[0] == '"':
		s.basicString()
	case rest[0] == '\'':
		s.literalString()
	case rest[0] == '[':
		s.array(path)
	case rest[0] == '{':
		s.inlineTable(path)
	default:
		for s.i < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

func (s *scanner) array(path []string) {
	n := 0
	s.entries(']', func() {
		elem := join(path, indexSeg(n))
		n++
		s.l.recordKey(elem, s.i)
		s.l.recordVal(elem, s.i)
		s.value(elem)
	})
}

func (s *scanner) inlineTable(path []string) {
	s.entries('}', func() { s.keyValue(path) })
}

// entries steps over the opening bracket at s.i and calls entry at each
// entry of the array or inline table up to closer, skipping blanks and
// commas, and moving on one byte when entry consumes nothing so that bad
// text cannot stall it.
func (s *scanner) entries(closer byte, entry func()) {
	s.i++
	for s.i < len(s.src) {
		s.skipBlank()
		if s.i >= len(s.src) {
			return
		}
		switch s.src[s.i] {
		case closer:
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		before := s.i
		entry()
		if s.i == before {
			s.i++
		}
	}
}
