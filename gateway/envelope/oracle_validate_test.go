package envelope

import "encoding/binary"

// The strict validator as it was before the tree parser, renamed with an
// "old" prefix: the oracle for parse's accept/reject decisions, offsets and
// reasons (TestValidate, FuzzNormalizeOracle). The lexical helpers it calls
// (skipSpace, hasWord, scanNumber, special8, isHex, strByte) are shared.

// oldValidate checks that b is exactly one JSON value surrounded by optional
// whitespace, nested at most MaxDepth deep. On failure it returns the
// offset of the offending byte and the reason.
func oldValidate(b []byte) (int, string) {
	var stack [MaxDepth]byte // '{' or '[' of each open container
	depth := 0
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return i, reasonInvalid
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == MaxDepth {
				return i, reasonDepth
			}
			stack[depth] = c
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				depth--
				i++
				break
			}
			if c == '{' {
				var ok bool
				if i, ok = oldMember(b, i); !ok {
					return i, reasonInvalid
				}
			}
			continue
		case c == '"':
			var ok bool
			if i, ok = oldScanString(b, i); !ok {
				return i, reasonInvalid
			}
		case c == 't':
			if !hasWord(b, i, "true") {
				return i, reasonInvalid
			}
			i += 4
		case c == 'f':
			if !hasWord(b, i, "false") {
				return i, reasonInvalid
			}
			i += 5
		case c == 'n':
			if !hasWord(b, i, "null") {
				return i, reasonInvalid
			}
			i += 4
		case c == '-' || c >= '0' && c <= '9':
			var ok bool
			if i, ok = scanNumber(b, i); !ok {
				return i, reasonInvalid
			}
		default:
			return i, reasonInvalid
		}

		// After a value: close containers, or a comma then the next value.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				if i != len(b) {
					return i, reasonInvalid
				}
				return -1, ""
			}
			if i >= len(b) {
				return i, reasonInvalid
			}
			open := stack[depth-1]
			if open == '{' && b[i] == '}' || open == '[' && b[i] == ']' {
				depth--
				i++
				continue
			}
			if b[i] != ',' {
				return i, reasonInvalid
			}
			i = skipSpace(b, i+1)
			if open == '{' {
				var ok bool
				if i, ok = oldMember(b, i); !ok {
					return i, reasonInvalid
				}
			}
			break
		}
	}
}

// oldMember scans `"key" :` and the whitespace after it, returning the offset
// of the member's value.
func oldMember(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := oldScanString(b, i)
	if !ok {
		return i, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return skipSpace(b, i+1), true
}

// oldScanString scans the string starting with the quote at b[i] and returns
// the offset after its closing quote.
func oldScanString(b []byte, i int) (int, bool) {
	i++
	for {
		for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && !strByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
}
