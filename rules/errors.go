package rules

import (
	"errors"
	"fmt"
)

// Error is one problem found while loading rule files, with the place it
// was found. Line and Col are 1-based; Col counts bytes, like the Go tools
// and BurntSushi/toml. Line is 0 for problems with the file as a whole (it
// cannot be read), Col is 0 when only the line is known.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats the problem as "file:line:col: msg" ("file:line: msg" when
// the column is unknown, "file: msg" when the line is).
func (e *Error) Error() string {
	switch {
	case e.Line <= 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col <= 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
}

// Errors returns every *Error inside err, which may be a single *Error or
// an errors.Join of them (as Load returns), in order. It returns nil for a
// nil err and for errors that hold no *Error.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		switch x := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			if inner := x.Unwrap(); inner != nil {
				walk(inner)
			}
		}
	}
	walk(err)
	return out
}

// joinErrors turns the collected problems into the error Load returns.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}
