package envelope

import "encoding/binary"

// The lexical checks of the strict JSON parser (tree.go). fastjson, which
// this package used before, tolerates some invalid JSON, and its Validate
// misses control characters in some strings; the payload is stored and
// re-encoded with encoding/json later, so Normalize must accept exactly
// what encoding/json accepts. The parser does, in one pass without
// recursion (so any nesting is safe to look at), and is checked against
// json.Valid by FuzzNormalize.

// MaxDepth is the deepest nesting of objects and arrays Normalize accepts.
// GitLab's payloads nest a few levels; deeper bodies are refused with a
// *SyntaxError.
const MaxDepth = 256

// validation failures, as SyntaxError reasons.
const (
	reasonInvalid = "body is not valid JSON"
	reasonDepth   = "body nests objects or arrays deeper than 256 levels"
	reasonValues  = "body holds more JSON values than its size allows (see envelope.MaxValues)"
)

// strByte marks the bytes that end the plain run of a JSON string: the
// closing quote, a backslash and the control characters.
var strByte = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// member scans `"key" :` and the whitespace after it, returning the offset
// of the member's value, the key's text (without quotes) and flagKeyEsc
// when the key holds an escape.
func member(b []byte, i int) (next int, keyStart, keyEnd int, flag uint8, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return i, 0, 0, 0, false
	}
	keyStart = i + 1
	i, esc, ok := scanString(b, i)
	if !ok {
		return i, 0, 0, 0, false
	}
	keyEnd = i - 1
	if esc {
		flag = flagKeyEsc
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, 0, 0, 0, false
	}
	return skipSpace(b, i+1), keyStart, keyEnd, flag, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

func hasWord(b []byte, i int, w string) bool {
	return len(b)-i >= len(w) && string(b[i:i+len(w)]) == w
}

// scanString scans the string starting with the quote at b[i] and returns
// the offset after its closing quote, and whether the string holds a
// backslash escape.
func scanString(b []byte, i int) (next int, esc, ok bool) {
	i++
	for {
		for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && !strByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, esc, false
		}
		switch b[i] {
		case '"':
			return i + 1, esc, true
		case '\\':
			esc = true
			if i+1 >= len(b) {
				return i, esc, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, esc, false
				}
				i += 6
			default:
				return i, esc, false
			}
		default: // a control character
			return i, esc, false
		}
	}
}

// special8 reports whether any of the 8 bytes in x is a strByte ('"', '\\'
// or below 0x20), eight bytes at a time. It uses the exact "has a byte
// below n" test, (v - n*0x01...) &^ v & 0x80..., for n = 0x20 on x and
// n = 1 on x xor '"' and x xor '\\' (a zero byte there is a match).
func special8(x uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := x ^ (lsb * '"')
	e := x ^ (lsb * '\\')
	return ((q-lsb)&^q|(e-lsb)&^e|(x-lsb*0x20)&^x)&msb != 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
