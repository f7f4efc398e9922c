package rules

import (
	"errors"
	"strings"

	"github.com/expr-lang/expr/file"

	"github.com/hookgate/hookgate/internal/tomlpos"
)

// condition compiles the `when` text s of one rule, the value at path in
// the file. On error it records the problem, in the rule author's words
// (words.go), at its place in the file: the expression's own line and
// column shifted to where the string sits in the TOML, or the value's start
// when the error has no position.
func (f *fileLoader) condition(s string, path []string, valuePos tomlpos.Pos) *condition {
	if strings.TrimSpace(s) == "" {
		f.errAt(valuePos, "when is empty: omit it to match every event")
		return nil
	}
	c, err := compileCondition(s)
	if err == nil {
		return c
	}
	p, msg := valuePos, inAuthorWords(s, err)
	var fe *file.Error
	if errors.As(err, &fe) && fe.Snippet != "" { // Bind found the place
		if at, ok := f.doc.StringPos(path, s, fe.From); ok {
			p = at
		}
	}
	f.errAt(p, "when: %s", msg)
	return nil
}
