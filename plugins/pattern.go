package plugins

import (
	"context"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Lua 5.1 pattern matching for string.find, match, gmatch and gsub,
// replacing gopher-lua's: a match with heavy backtracking (or a gsub with a
// million replacements) is one long Go call that the VM's context check
// never interrupts. This matcher looks at the run's context every few
// thousand steps, caps recursion, and gsub builds its result in one pass
// under the string size cap.

const (
	maxCaptures     = 32
	maxMatchDepth   = 200 // nested quantifiers and captures ("pattern too complex")
	capUnfinished   = -1
	capPosition     = -2
	patternSpecials = "^$*+?.([%-"
)

type capture struct{ start, len int }

type matcher struct {
	L       *lua.LState
	ctx     context.Context
	src     string
	pat     string
	level   int
	depth   int
	steps   int
	capture [maxCaptures]capture
}

func newMatcher(L *lua.LState, src, pat string) *matcher {
	return &matcher{L: L, ctx: L.Context(), src: src, pat: pat}
}

func (m *matcher) errorf(format string, args ...any) {
	m.L.RaiseError("%s", fmt.Sprintf(format, args...))
}

// tick counts a step and stops the match once the run's context is done.
func (m *matcher) tick() {
	m.steps++
	if m.steps&1023 == 0 && m.ctx != nil {
		if err := m.ctx.Err(); err != nil {
			m.errorf("pattern matching stopped: %v", err)
		}
	}
}

// match matches pattern from p against src from s and returns the end of
// the match, or -1.
func (m *matcher) match(s, p int) int {
	m.depth++
	if m.depth > maxMatchDepth {
		m.errorf("pattern too complex")
	}
	r := m.doMatch(s, p)
	m.depth--
	return r
}

func (m *matcher) doMatch(s, p int) int {
	pat, src := m.pat, m.src
	for {
		m.tick()
		if p == len(pat) {
			return s
		}
		switch pat[p] {
		case '(':
			if p+1 < len(pat) && pat[p+1] == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '$':
			if p+1 == len(pat) {
				if s == len(src) {
					return s
				}
				return -1
			}
		case '%':
			if p+1 < len(pat) {
				switch c := pat[p+1]; {
				case c == 'b':
					s = m.matchBalance(s, p+2)
					if s == -1 {
						return -1
					}
					p += 4
					continue
				case c == 'f':
					p += 2
					if p >= len(pat) || pat[p] != '[' {
						m.errorf("missing '[' after '%%f' in pattern")
					}
					ep := m.classEnd(p)
					var prev, cur byte
					if s > 0 {
						prev = src[s-1]
					}
					if s < len(src) {
						cur = src[s]
					}
					if m.matchBracket(prev, p, ep-1) || !m.matchBracket(cur, p, ep-1) {
						return -1
					}
					p = ep
					continue
				case c >= '0' && c <= '9':
					s = m.matchBackref(s, c)
					if s == -1 {
						return -1
					}
					p += 2
					continue
				}
			}
		}
		// A single character class, possibly followed by a quantifier.
		ep := m.classEnd(p)
		matched := s < len(src) && m.single(src[s], p, ep)
		if ep < len(pat) {
			switch pat[ep] {
			case '?':
				if matched {
					if r := m.match(s+1, ep+1); r != -1 {
						return r
					}
				}
				p = ep + 1
				continue
			case '*':
				return m.maxExpand(s, p, ep)
			case '+':
				if !matched {
					return -1
				}
				return m.maxExpand(s+1, p, ep)
			case '-':
				return m.minExpand(s, p, ep)
			}
		}
		if !matched {
			return -1
		}
		s++
		p = ep
	}
}

// classEnd returns the index just after the character class at p.
func (m *matcher) classEnd(p int) int {
	pat := m.pat
	c := pat[p]
	p++
	switch c {
	case '%':
		if p >= len(pat) {
			m.errorf("malformed pattern (ends with '%%')")
		}
		return p + 1
	case '[':
		if p < len(pat) && pat[p] == '^' {
			p++
		}
		for {
			if p >= len(pat) {
				m.errorf("malformed pattern (missing ']')")
			}
			c := pat[p]
			p++
			if c == '%' && p < len(pat) {
				p++
			}
			if p >= len(pat) {
				m.errorf("malformed pattern (missing ']')")
			}
			if pat[p] == ']' {
				return p + 1
			}
		}
	}
	return p
}

// single reports whether c matches the class pat[p:ep].
func (m *matcher) single(c byte, p, ep int) bool {
	switch m.pat[p] {
	case '.':
		return true
	case '%':
		return matchClass(c, m.pat[p+1])
	case '[':
		return m.matchBracket(c, p, ep-1)
	}
	return m.pat[p] == c
}

// matchBracket matches c against the set pat[p] == '[' .. pat[ec] == ']'.
func (m *matcher) matchBracket(c byte, p, ec int) bool {
	pat := m.pat
	want := true
	p++
	if pat[p] == '^' {
		want = false
		p++
	}
	for ; p < ec; p++ {
		switch {
		case pat[p] == '%' && p+1 < ec:
			p++
			if matchClass(c, pat[p]) {
				return want
			}
		case p+2 < ec && pat[p+1] == '-':
			if pat[p] <= c && c <= pat[p+2] {
				return want
			}
			p += 2
		case pat[p] == c:
			return want
		}
	}
	return !want
}

// matchClass matches c against %cl (ASCII, as the C locale).
func matchClass(c, cl byte) bool {
	var res bool
	lower := cl | 0x20
	switch lower {
	case 'a':
		res = isAlpha(c)
	case 'c':
		res = c < 0x20 || c == 0x7f
	case 'd':
		res = c >= '0' && c <= '9'
	case 'l':
		res = c >= 'a' && c <= 'z'
	case 'p':
		res = isPunct(c)
	case 's':
		res = c == ' ' || (c >= '\t' && c <= '\r')
	case 'u':
		res = c >= 'A' && c <= 'Z'
	case 'w':
		res = isAlpha(c) || (c >= '0' && c <= '9')
	case 'x':
		res = (c >= '0' && c <= '9') || ((c|0x20) >= 'a' && (c|0x20) <= 'f')
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if cl >= 'A' && cl <= 'Z' {
		return !res
	}
	return res
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

func isPunct(c byte) bool {
	return c > 0x20 && c < 0x7f && !isAlpha(c) && !(c >= '0' && c <= '9')
}

func (m *matcher) maxExpand(s, p, ep int) int {
	i := 0
	for s+i < len(m.src) && m.single(m.src[s+i], p, ep) {
		m.tick()
		i++
	}
	for ; i >= 0; i-- {
		if r := m.match(s+i, ep+1); r != -1 {
			return r
		}
	}
	return -1
}

func (m *matcher) minExpand(s, p, ep int) int {
	for {
		if r := m.match(s, ep+1); r != -1 {
			return r
		}
		if s < len(m.src) && m.single(m.src[s], p, ep) {
			s++
			continue
		}
		return -1
	}
}

func (m *matcher) startCapture(s, p, what int) int {
	if m.level >= maxCaptures {
		m.errorf("too many captures")
	}
	m.capture[m.level] = capture{s, what}
	m.level++
	r := m.match(s, p)
	if r == -1 {
		m.level--
	}
	return r
}

func (m *matcher) endCapture(s, p int) int {
	l := -1
	for i := m.level - 1; i >= 0; i-- {
		if m.capture[i].len == capUnfinished {
			l = i
			break
		}
	}
	if l < 0 {
		m.errorf("invalid pattern capture")
	}
	m.capture[l].len = s - m.capture[l].start
	r := m.match(s, p)
	if r == -1 {
		m.capture[l].len = capUnfinished
	}
	return r
}

func (m *matcher) matchBalance(s, p int) int {
	if p+1 >= len(m.pat) {
		m.errorf("missing arguments to '%%b'")
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1
	}
	open, close := m.pat[p], m.pat[p+1]
	depth := 1
	for i := s + 1; i < len(m.src); i++ {
		m.tick()
		switch m.src[i] {
		case close:
			depth--
			if depth == 0 {
				return i + 1
			}
		case open:
			depth++
		}
	}
	return -1
}

func (m *matcher) matchBackref(s int, c byte) int {
	l := int(c - '1')
	if l < 0 || l >= m.level || m.capture[l].len == capUnfinished {
		m.errorf("invalid capture index %%%c", c)
	}
	n := m.capture[l].len
	if n < 0 {
		n = 0 // a position capture matches the empty string
	}
	start := m.capture[l].start
	if len(m.src)-s >= n && m.src[s:s+n] == m.src[start:start+n] {
		return s + n
	}
	return -1
}

// captureValue returns capture i of a match src[s:e]; with no captures,
// capture 0 is the whole match.
func (m *matcher) captureValue(i, s, e int) lua.LValue {
	if i >= m.level {
		if i != 0 {
			m.errorf("invalid capture index %%%d", i+1)
		}
		return lua.LString(m.src[s:e])
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		m.errorf("unfinished capture")
	case capPosition:
		return lua.LNumber(c.start + 1)
	}
	return lua.LString(m.src[c.start : c.start+c.len])
}

// pushCaptures pushes the captures of a match (the whole match when there
// are none and whole is set) and returns how many.
func (m *matcher) pushCaptures(s, e int, whole bool) int {
	n := m.level
	if n == 0 && whole {
		n = 1
	}
	for i := 0; i < n; i++ {
		m.L.Push(m.captureValue(i, s, e))
	}
	return n
}

// strFindAux implements string.find (find) and string.match.
func strFindAux(L *lua.LState, find bool) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	init := strStart(L.OptInt(3, 1), len(src))
	if find && (L.ToBool(4) || !strings.ContainsAny(pat, patternSpecials)) {
		if i := strings.Index(src[init:], pat); i >= 0 {
			L.Push(lua.LNumber(init + i + 1))
			L.Push(lua.LNumber(init + i + len(pat)))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	m := newMatcher(L, src, pat)
	p := 0
	anchor := len(pat) > 0 && pat[0] == '^'
	if anchor {
		p = 1
	}
	for s := init; s <= len(src); s++ {
		m.level = 0
		if e := m.match(s, p); e != -1 {
			if find {
				L.Push(lua.LNumber(s + 1))
				L.Push(lua.LNumber(e))
				return m.pushCaptures(-1, -1, false) + 2
			}
			return m.pushCaptures(s, e, true)
		}
		if anchor {
			break
		}
	}
	L.Push(lua.LNil)
	return 1
}

// strStart turns a Lua init position (1-based, negative from the end) into
// a 0-based offset within [0, n].
func strStart(init, n int) int {
	if init < 0 {
		init = n + init + 1
	}
	init--
	if init < 0 {
		return 0
	}
	if init > n {
		return n
	}
	return init
}

func strFind(L *lua.LState) int  { return strFindAux(L, true) }
func strMatch(L *lua.LState) int { return strFindAux(L, false) }

// strGmatch returns an iterator over the matches of a pattern.
func strGmatch(L *lua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		m := newMatcher(L, src, pat)
		for s := pos; s <= len(src); s++ {
			m.level = 0
			if e := m.match(s, 0); e != -1 {
				pos = e
				if e == s {
					pos++ // an empty match: move on at least one byte
				}
				return m.pushCaptures(s, e, true)
			}
		}
		pos = len(src) + 1
		return 0
	}))
	return 1
}

// strGsub is string.gsub with the result capped at max bytes.
func strGsub(max int) lua.LGFunction {
	return func(L *lua.LState) int {
		src := L.CheckString(1)
		pat := L.CheckString(2)
		repl := L.Get(3)
		switch repl.Type() {
		case lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction:
		default:
			L.ArgError(3, "string/function/table expected")
		}
		limit := L.OptInt(4, len(src)+1)
		m := newMatcher(L, src, pat)
		p := 0
		anchor := len(pat) > 0 && pat[0] == '^'
		if anchor {
			p = 1
		}
		var b strings.Builder
		s, n := 0, 0
		for n < limit {
			m.level = 0
			e := m.match(s, p)
			if e != -1 {
				n++
				m.addValue(&b, s, e, repl, max)
			}
			switch {
			case e != -1 && e > s:
				s = e
			case s < len(src):
				b.WriteByte(src[s])
				s++
			default:
				s = len(src) + 1
			}
			if s > len(src) || anchor {
				break
			}
			if b.Len() > max {
				L.RaiseError("string.gsub: result too large (max %d bytes)", max)
			}
		}
		if s < len(src) {
			b.WriteString(src[s:])
		}
		if b.Len() > max {
			L.RaiseError("string.gsub: result too large (max %d bytes)", max)
		}
		L.Push(lua.LString(b.String()))
		L.Push(lua.LNumber(n))
		return 2
	}
}

// addValue appends the replacement for the match src[s:e].
func (m *matcher) addValue(b *strings.Builder, s, e int, repl lua.LValue, max int) {
	L := m.L
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		text := lua.LVAsString(r)
		for i := 0; i < len(text); i++ {
			c := text[i]
			if c != '%' || i+1 >= len(text) {
				b.WriteByte(c)
				continue
			}
			i++
			c = text[i]
			switch {
			case c == '0':
				b.WriteString(m.src[s:e])
			case c >= '1' && c <= '9':
				b.WriteString(lua.LVAsString(m.captureValue(int(c-'1'), s, e)))
			default:
				b.WriteByte(c)
			}
			if b.Len() > max {
				L.RaiseError("string.gsub: result too large (max %d bytes)", max)
			}
		}
		return
	case *lua.LTable:
		v = L.GetTable(r, m.captureValue(0, s, e))
	case *lua.LFunction:
		L.Push(r)
		nargs := m.pushCaptures(s, e, true)
		L.Call(nargs, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch v.Type() {
	case lua.LTNil:
		b.WriteString(m.src[s:e])
	case lua.LTBool:
		if v == lua.LFalse {
			b.WriteString(m.src[s:e])
		} else {
			L.RaiseError("invalid replacement value (a boolean)")
		}
	case lua.LTString, lua.LTNumber:
		b.WriteString(lua.LVAsString(v))
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type())
	}
}
