package tomlpos

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

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
