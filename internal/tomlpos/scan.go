package tomlpos

import "strings"

// scanner walks the source once, recording into d.
type scanner struct {
	src string
	i   int
	d   *Doc
}

func (s *scanner) recordKey(segs []string, off int) {
	k := pathKey(segs)
	if _, ok := s.d.keys[k]; !ok {
		s.d.keys[k] = off
	}
}

func (s *scanner) recordVal(segs []string, v span) {
	k := pathKey(segs)
	if _, ok := s.d.vals[k]; !ok {
		s.d.vals[k] = v
	}
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
			s.skipComment()
		default:
			return
		}
	}
}

func (s *scanner) skipComment() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// skipLine moves to the end of the line, past strings so that a quoted
// "#" or newline does not confuse it. On text the parser accepted only a
// comment is left after a header or a value.
func (s *scanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		switch s.src[s.i] {
		case '#':
			s.skipComment()
		case '"', '\'':
			s.skipString()
		default:
			s.i++
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
			n := s.d.arrays[k]
			s.d.arrays[k] = n + 1
			s.recordKey(path, off)
			s.d.tables[k] = true
			path = join(path, Index(n))
			break
		}
		if n, ok := s.d.arrays[pathKey(path)]; ok && n > 0 {
			path = join(path, Index(n-1))
		}
		s.recordKey(path, off)
	}
	s.recordKey(path, off)
	s.d.tables[pathKey(path)] = true
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
		s.recordKey(full[:j], off)
	}
	from := s.i
	s.value(full)
	to := s.i
	for to > from && strings.IndexByte(" \t\r", s.src[to-1]) >= 0 {
		to--
	}
	s.recordVal(full, span{from, to})
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
	case '"', '\'':
		start := s.i
		s.skipString()
		raw := s.src[start:s.i]
		if v, _, ok := decodeString(raw, 0); ok {
			return v, true
		}
		return strings.Trim(raw, `"'`), true
	}
	start := s.i
	for s.i < len(s.src) && !strings.ContainsRune(" \t\r\n=.[]#,{}\"'", rune(s.src[s.i])) {
		s.i++
	}
	return s.src[start:s.i], s.i > start
}

// value skips one value, recording the keys of inline tables and the
// elements of arrays under path.
func (s *scanner) value(path []string) {
	if s.i >= len(s.src) {
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.skipString()
	case '[':
		s.array(path)
	case '{':
		s.entries('}', func() { s.keyValue(path) })
	default:
		for s.i < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

func (s *scanner) array(path []string) {
	n := 0
	s.entries(']', func() {
		elem := join(path, Index(n))
		n++
		s.recordKey(elem, s.i)
		from := s.i
		s.value(elem)
		to := s.i
		for to > from && strings.IndexByte(" \t\r", s.src[to-1]) >= 0 {
			to--
		}
		s.recordVal(elem, span{from, to})
	})
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

// skipString moves past a string of any of TOML's four kinds, the cursor
// on its first quote. A one-line string stops at the end of its line.
func (s *scanner) skipString() {
	src := s.src
	q := src[s.i]
	delim := strings.Repeat(string(q), 3)
	if strings.HasPrefix(src[s.i:], delim) {
		s.i += 3
		for s.i < len(src) {
			if q == '"' && src[s.i] == '\\' {
				s.i += 2
				continue
			}
			if strings.HasPrefix(src[s.i:], delim) {
				s.i += 3
				// Up to two more quotes belong to the content: """a"""""
				for k := 0; k < 2 && s.i < len(src) && src[s.i] == q; k++ {
					s.i++
				}
				return
			}
			s.i++
		}
		s.i = len(src)
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
	s.i = len(src)
}
