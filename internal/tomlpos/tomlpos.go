// Package tomlpos is the one place that knows where things are in a TOML
// file: where each key, table header and value starts, for the config and
// the rule files alike.
//
// BurntSushi/toml decodes and reports syntax errors, but says nothing about
// where a decoded key or value sits, and its syntax error positions count
// lines from where its lexer stopped (a header missing its "]" on line 1 is
// reported on line 2). Scan recovers the positions with a structural scan of
// text the parser has already accepted; SyntaxError corrects the parser's
// own. Scan never decides what is valid TOML, and on any input it still
// terminates (every loop advances) and simply records less.
//
// A path is a list of key segments as decoded. An element of an array of
// tables ([[rule]]) or of an inline array is a segment made by Index, so
// the name of the second [[rule]] is {"rule", Index(1), "name"}.
package tomlpos

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Pos is a 1-based line and byte column in a file, as diag.Error counts
// them. The zero Pos means unknown.
type Pos struct {
	Line, Col int
}

// Index is the path segment of element i of an array (of tables).
func Index(i int) string { return "\x00" + strconv.Itoa(i) }

// IsIndex reports whether seg was made by Index.
func IsIndex(seg string) bool { return strings.HasPrefix(seg, "\x00") }

// KeyName is path as a user writes it: dotted, quoted where TOML needs
// quotes, without array indices ("gitlab.url", `secret."odd key"`).
func KeyName(path []string) string {
	var k toml.Key
	for _, s := range path {
		if !IsIndex(s) {
			k = append(k, s)
		}
	}
	return k.String()
}

// span is where a value is: bytes [from, to) of the source.
type span struct{ from, to int }

// Doc holds the positions Scan found in one document.
type Doc struct {
	src    string
	lines  []int           // byte offset of each line's start
	keys   map[string]int  // path -> offset of its key's (or header's name's) first appearance
	vals   map[string]span // path -> its value
	tables map[string]bool // paths opened by a [header] or [[header]]
	arrays map[string]int  // array-of-tables path -> blocks seen so far
}

const pathSep = "\x1f"

// bom is the UTF-8 byte order mark, which TOML allows at the start.
const bom = "\xef\xbb\xbf"

func pathKey(segs []string) string { return strings.Join(segs, pathSep) }

// join returns a new slice a+b that shares no memory with a.
func join(a []string, b ...string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// Scan records where every key, header and value of src is.
func Scan(src string) *Doc {
	d := &Doc{
		src:    src,
		lines:  []int{0},
		keys:   map[string]int{},
		vals:   map[string]span{},
		tables: map[string]bool{},
		arrays: map[string]int{},
	}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	s := &scanner{src: src, d: d}
	if strings.HasPrefix(src, bom) {
		s.i = len(bom)
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
		s.skipLine()
		if s.i == start {
			s.i++
		}
	}
	return d
}

// Key returns where the key at path first appears: for a table, the
// name in its first header ("rule" in "[[rule]]"); for an array element,
// where the element starts.
func (d *Doc) Key(path ...string) (Pos, bool) {
	off, ok := d.keys[pathKey(path)]
	if !ok {
		return Pos{}, false
	}
	return d.Pos(off), true
}

// Value returns where the value at path starts. Tables opened by a header
// have no value (use Key).
func (d *Doc) Value(path ...string) (Pos, bool) {
	v, ok := d.vals[pathKey(path)]
	if !ok {
		return Pos{}, false
	}
	return d.Pos(v.from), true
}

// IsTable reports whether path was opened by a [header] or [[header]]
// (rather than written as a key = value).
func (d *Doc) IsTable(path ...string) bool { return d.tables[pathKey(path)] }

// Find returns the position of the value at path when value is true and
// the value is known, else of its key; failing that of the nearest
// enclosing key or header. The zero Pos when nothing is known.
func (d *Doc) Find(path []string, value bool) Pos {
	if value {
		if p, ok := d.Value(path...); ok {
			return p
		}
	}
	for n := len(path); n > 0; n-- {
		if p, ok := d.Key(path[:n]...); ok {
			return p
		}
	}
	return Pos{}
}

// Pos returns the position of byte offset off of the source.
func (d *Doc) Pos(off int) Pos {
	n := sort.Search(len(d.lines), func(i int) bool { return d.lines[i] > off })
	return Pos{Line: n, Col: off - d.lines[n-1] + 1}
}

// StringPos returns where in the file the character at rune index i of
// the string value at path comes from, when that value decodes to want (so
// that a mapping is never applied to another text). It knows TOML's four
// kinds of strings and their escapes: an escaped character is placed at
// its backslash, a multi-line string's characters on their own lines. i
// may be len(want) in runes: just after the last character.
func (d *Doc) StringPos(path []string, want string, i int) (Pos, bool) {
	v, ok := d.vals[pathKey(path)]
	if !ok || v.to > len(d.src) || v.from >= v.to {
		return Pos{}, false
	}
	val, offs, ok := decodeString(d.src[v.from:v.to], v.from)
	if !ok || val != want {
		return Pos{}, false
	}
	b, n := len(want), 0
	for at := range want {
		if n == i {
			b = at
			break
		}
		n++
	}
	if i <= 0 {
		b = 0
	}
	return d.Pos(offs[b]), true
}

// SyntaxError returns the position and message of a toml.ParseError inside
// err, the position computed from the error's byte offset in src (the
// parser's own line is where its lexer stopped, often the next line), on
// the first character of the offending text that is not a space. ok is
// false when err holds no ParseError.
func SyntaxError(src string, err error) (p Pos, msg string, ok bool) {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return Pos{}, "", false
	}
	start := pe.Position.Start
	if strings.HasPrefix(src, bom) { // the parser counts from after it
		start += len(bom)
	}
	if start < 0 || start > len(src) {
		return Pos{Line: pe.Position.Line, Col: pe.Position.Col}, pe.Message, true
	}
	for k := 0; k < pe.Position.Len-1 && start < len(src) && (src[start] == ' ' || src[start] == '\t'); k++ {
		start++
	}
	lines := []int{0}
	for i := 0; i < start && i < len(src); i++ {
		if src[i] == '\n' {
			lines = append(lines, i+1)
		}
	}
	return Pos{Line: len(lines), Col: start - lines[len(lines)-1] + 1}, pe.Message, true
}
