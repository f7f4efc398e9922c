package rules

import (
	"errors"
	"strings"

	"github.com/expr-lang/expr/file"
)

// condition compiles the `when` text s of one rule. On error it records
// the problem at its place in the file: the expression's own line and
// column shifted to where the string sits in the TOML, or the value's start
// when the error has no position.
func (f *fileLoader) condition(s string, key tomlKey, valuePos pos) *condition {
	if strings.TrimSpace(s) == "" {
		f.errAt(valuePos, "when is empty: omit it to match every event")
		return nil
	}
	c, err := compileCondition(s)
	if err == nil {
		return c
	}
	p, msg := valuePos, err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
		if fe.Snippet != "" { // Bind found the place
			p = f.exprPos(s, key, fe.From, valuePos)
		}
	}
	f.errAt(p, "when: %s", msg)
	return nil
}

// exprPos maps rune index from of the decoded expression s to the file
// position of the character it came from. It falls back to valuePos when
// the raw string cannot be mapped.
func (f *fileLoader) exprPos(s string, key tomlKey, from int, valuePos pos) pos {
	if key.ValueEnd <= key.ValueOff || key.ValueEnd > len(f.src) {
		return valuePos
	}
	val, offs, ok := decodeString(f.src[key.ValueOff:key.ValueEnd], key.ValueOff)
	if !ok || val != s {
		return valuePos
	}
	b, n := 0, 0
	for i := range s {
		if n == from {
			b = i
			break
		}
		n++
		b = len(s)
	}
	if from <= 0 {
		b = 0
	}
	return f.lines.pos(offs[b])
}
