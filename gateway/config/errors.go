package config

import (
	"errors"
	"sort"
	"strconv"
)

// Error is one problem in a configuration file, with where it is.
// Line and Col start at 1; 0 means unknown. Msg never contains a secret.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats the problem as "file:line:col: msg", leaving out col when
// it is 0 and line too when that is 0.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
		if e.Col > 0 {
			s += ":" + strconv.Itoa(e.Col)
		}
	}
	return s + ": " + e.Msg
}

// Errors returns the problems inside an error returned by Load, in file
// order. Load joins one *Error per problem with errors.Join; Errors walks
// that tree (and any wrapping). An error with no *Error inside comes back
// as a single *Error with only Msg set; nil gives nil.
//
//	cfg, err := config.Load(path)
//	for _, e := range config.Errors(err) {
//		fmt.Fprintln(os.Stderr, e) // file:line:col: message
//	}
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
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	walk(err)
	if len(out) == 0 {
		return []*Error{{Msg: err.Error()}}
	}
	return out
}

// errorList collects problems during one Load.
type errorList []*Error

func (l *errorList) add(file string, line, col int, msg string) {
	*l = append(*l, &Error{File: file, Line: line, Col: col, Msg: msg})
}

// err sorts the problems by position and joins them, or returns nil.
func (l errorList) err() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}
