// Package diag owns the positioned problem report (file:line:col: message)
// that config, rule and plugin loading share, so `hookgate check` prints
// them all alike.
package diag

import (
	"errors"
	"strconv"
)

// Error is one problem in a file, with where it is. Line and Col are
// 1-based and count bytes, like the Go tools and BurntSushi/toml; Line is 0
// for a problem with the file as a whole (it cannot be read) and Col is 0
// when only the line is known. Msg never contains a secret.
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

// Errors returns every *Error inside err, in order, walking errors.Join
// trees and any wrapping. It returns nil for a nil err and for an error
// that holds no *Error.
//
//	for _, e := range diag.Errors(err) {
//		fmt.Fprintln(os.Stderr, e) // file:line:col: message
//	}
func Errors(err error) []*Error {
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
	if err != nil {
		walk(err)
	}
	return out
}

// Join returns errs as one error (errors.Join keeps them apart for Errors
// and Lines), or nil when there are none.
func Join(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// Lines flattens err into one line per problem, as `hookgate check` prints
// them: it splits errors.Join trees (not other wrapping, so a wrapped
// error keeps its context) and formats each leaf with Error(). A nil err
// gives nil.
func Lines(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, Lines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}
