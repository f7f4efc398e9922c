package rules

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml reports syntax errors with positions but says nothing about
// where a decoded key or value sits in the file. This file recovers those
// positions with a small structural scan of text that the TOML parser has
// already accepted: table headers, the keys of each table and where each
// value starts and ends. It never decides what is valid TOML; on input it
// does not understand it still terminates and simply records less.

// pos is a 1-based line and byte column in a file.
type pos struct {
	Line, Col int
}

// tomlKey is one key = value line of a table.
type tomlKey struct {
	Path     []string // dotted key path relative to its table
	Key      pos      // where the key starts
	Value    pos      // where the value starts
	ValueOff int      // byte offset of the value's first character
	ValueEnd int      // byte offset just after the value
}

// tomlTable is the root table or one [header] / [[header]] and its keys.
type tomlTable struct {
	Path   []string // nil for the root table
	Array  bool     // [[header]]
	Header pos      // where the header's first '[' is
	Keys   []tomlKey
}

// lineIndex converts byte offsets of a text to positions.
type lineIndex []int // byte offset of the start of each line

func newLineIndex(src string) lineIndex {
	idx := lineIndex{0}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

// pos returns the position of byte offset off.
func (l lineIndex) pos(off int) pos {
	line := sort.Search(len(l), func(i int) bool { return l[i] > off }) - 1
	if line < 0 {
		line = 0
	}
	return pos{Line: line + 1, Col: off - l[line] + 1}
}

type tomlScanner struct {
	src   string
	i     int
	lines lineIndex
}

// scanTOML returns the tables of src in file order, the root table first.
func scanTOML(src string) []tomlTable {
	s := &tomlScanner{src: src, lines: newLineIndex(src)}
	tables := []tomlTable{{}}
	for s.i < len(s.src) {
		switch c := s.src[s.i]; c {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			s.skipComment()
		case '[':
			start := s.i
			array := strings.HasPrefix(s.src[s.i:], "[[")
			if array {
				s.i += 2
			} else {
				s.i++
			}
			path := s.keyPath()
			s.skipLine()
			tables = append(tables, tomlTable{Path: path, Array: array, Header: s.lines.pos(start)})
		default:
			start := s.i
			path := s.keyPath()
			s.skipBlanks()
			if s.i < len(s.src) && s.src[s.i] == '=' {
				s.i++
			}
			s.skipBlanks()
			valStart := s.i
			s.skipValue()
			end := s.i
			for end > valStart && (s.src[end-1] == ' ' || s.src[end-1] == '\t') {
				end--
			}
			if s.i == start { // no progress on text we do not understand
				s.i++
				continue
			}
			t := &tables[len(tables)-1]
			t.Keys = append(t.Keys, tomlKey{
				Path:     path,
				Key:      s.lines.pos(start),
				Value:    s.lines.pos(valStart),
				ValueOff: valStart,
				ValueEnd: end,
			})
		}
	}
	return tables
}

func (s *tomlScanner) skipBlanks() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

func (s *tomlScanner) skipComment() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// skipLine skips to the start of the next line, past strings so that a
// quoted "#" or newline does not confuse it.
func (s *tomlScanner) skipLine() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case '\n':
			s.i++
			return
		case '"', '\'':
			s.skipString()
		default:
			s.i++
		}
	}
}

// keyPath reads a dotted key (bare, "basic" or 'literal' parts) and stops
// before '=', ']' or the end of the line.
func (s *tomlScanner) keyPath() []string {
	var path []string
	for s.i < len(s.src) {
		s.skipBlanks()
		if s.i >= len(s.src) {
			break
		}
		switch s.src[s.i] {
		case '"', '\'':
			start := s.i
			s.skipString()
			raw := s.src[start:s.i]
			if name, _, ok := decodeString(raw, 0); ok {
				path = append(path, name)
			} else {
				path = append(path, strings.Trim(raw, `"'`))
			}
		default:
			start := s.i
			for s.i < len(s.src) && !strings.ContainsRune(" \t.=]#\r\n\"'", rune(s.src[s.i])) {
				s.i++
			}
			if s.i == start {
				return path
			}
			path = append(path, s.src[start:s.i])
		}
		s.skipBlanks()
		if s.i < len(s.src) && s.src[s.i] == '.' {
			s.i++
			continue
		}
		break
	}
	return path
}

// skipValue moves past one value starting at s.i.
func (s *tomlScanner) skipValue() {
	if s.i >= len(s.src) {
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.skipString()
	case '[', '{':
		s.skipNested()
	default:
		for s.i < len(s.src) && s.src[s.i] != '\n' && s.src[s.i] != '#' {
			s.i++
		}
	}
}

// skipNested moves past an array or inline table, which may span lines and
// hold comments and strings.
func (s *tomlScanner) skipNested() {
	depth := 0
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case '[', '{':
			depth++
			s.i++
		case ']', '}':
			depth--
			s.i++
			if depth <= 0 {
				return
			}
		case '#':
			s.skipComment()
		case '"', '\'':
			s.skipString()
		default:
			s.i++
		}
	}
}

// skipString moves past a string of any of TOML's four kinds.
func (s *tomlScanner) skipString() {
	src := s.src
	q := src[s.i]
	if strings.HasPrefix(src[s.i:], strings.Repeat(string(q), 3)) {
		s.i += 3
		for s.i < len(src) {
			if q == '"' && src[s.i] == '\\' {
				s.i += 2
				continue
			}
			if strings.HasPrefix(src[s.i:], strings.Repeat(string(q), 3)) {
				s.i += 3
				// Up to two more quotes belong to the content.
				for k := 0; k < 2 && s.i < len(src) && src[s.i] == q; k++ {
					s.i++
				}
				return
			}
			s.i++
		}
		s.i = min(s.i, len(src))
		return
	}
	s.i++
	for s.i < len(src) {
		switch src[s.i] {
		case '\\':
			if q == '"' {
				s.i += 2
				continue
			}
		case '\n':
			return
		case q:
			s.i++
			return
		}
		s.i++
	}
	s.i = min(s.i, len(src))
}

// decodeString decodes the TOML string at the start of raw (any of the four
// kinds) and returns its value and, for each byte of the value plus one past
// its end, the offset in raw (plus base) of the character it came from. ok
// is false when raw does not start with a well-formed string.
func decodeString(raw string, base int) (val string, offs []int, ok bool) {
	if raw == "" || (raw[0] != '"' && raw[0] != '\'') {
		return "", nil, false
	}
	q := raw[0]
	triple := strings.HasPrefix(raw, strings.Repeat(string(q), 3))
	var b strings.Builder
	emit := func(s string, at int) {
		b.WriteString(s)
		for range len(s) {
			offs = append(offs, base+at)
		}
	}
	i := 1
	if triple {
		i = 3
		if strings.HasPrefix(raw[i:], "\n") {
			i++
		} else if strings.HasPrefix(raw[i:], "\r\n") {
			i += 2
		}
	}
	for i < len(raw) {
		c := raw[i]
		if triple && strings.HasPrefix(raw[i:], strings.Repeat(string(q), 3)) {
			n := 3
			for n < 5 && i+n < len(raw) && raw[i+n] == q {
				n++
			}
			for k := 0; k < n-3; k++ {
				emit(string(q), i+k)
			}
			offs = append(offs, base+i+n-3)
			return b.String(), offs, true
		}
		if !triple && c == q {
			offs = append(offs, base+i)
			return b.String(), offs, true
		}
		if !triple && c == '\n' {
			return "", nil, false
		}
		if c != '\\' || q == '\'' {
			emit(raw[i:i+1], i)
			i++
			continue
		}
		// An escape in a basic string.
		if i+1 >= len(raw) {
			return "", nil, false
		}
		if triple {
			j := i + 1
			for j < len(raw) && strings.IndexByte(" \t\r\n", raw[j]) >= 0 {
				j++
			}
			if j > i+1 && strings.Contains(raw[i+1:j], "\n") {
				i = j // line-ending backslash
				continue
			}
		}
		if s, found := simpleEscapes[raw[i+1]]; found {
			emit(s, i)
			i += 2
			continue
		}
		width := hexEscapes[raw[i+1]]
		if width == 0 || i+2+width > len(raw) {
			return "", nil, false
		}
		n, err := strconv.ParseUint(raw[i+2:i+2+width], 16, 32)
		if err != nil || !utf8.ValidRune(rune(n)) {
			return "", nil, false
		}
		emit(string(rune(n)), i)
		i += 2 + width
	}
	return "", nil, false
}

// simpleEscapes and hexEscapes are TOML's basic-string escapes (TOML 1.1
// adds \e and \xHH, which BurntSushi/toml accepts).
var (
	simpleEscapes = map[byte]string{'b': "\b", 't': "\t", 'n': "\n", 'f': "\f", 'r': "\r", 'e': "\x1b", '"': `"`, '\\': `\`}
	hexEscapes    = map[byte]int{'x': 2, 'u': 4, 'U': 8}
)
