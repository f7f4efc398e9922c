package diag

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.toml", Line: 3, Col: 7, Msg: "bad"}, "a.toml:3:7: bad"},
		{Error{File: "a.toml", Line: 3, Msg: "bad"}, "a.toml:3: bad"},
		{Error{File: "a.toml", Msg: "bad"}, "a.toml: bad"},
		{Error{File: "p/a.lua", Msg: "permission denied"}, "p/a.lua: permission denied"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	a := &Error{File: "a.toml", Line: 1, Msg: "first"}
	b := &Error{File: "a.toml", Line: 3, Col: 7, Msg: "bad"}
	c := &Error{File: "b.lua", Msg: "unreadable"}
	tests := []struct {
		name string
		err  error
		want []*Error
	}{
		{"nil", nil, nil},
		{"plain", errors.New("plain"), nil},
		{"single", b, []*Error{b}},
		{"joined", Join([]*Error{a, b}), []*Error{a, b}},
		{"wrapped", fmt.Errorf("loading: %w", Join([]*Error{a, b})), []*Error{a, b}},
		{"nested", errors.Join(Join([]*Error{a}), os.ErrNotExist, fmt.Errorf("x: %w", c)), []*Error{a, c}},
	}
	for _, tt := range tests {
		if got := Errors(tt.err); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Errors = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestJoin(t *testing.T) {
	if Join(nil) != nil {
		t.Error("Join(nil) != nil")
	}
	a := &Error{File: "a.toml", Line: 1, Msg: "first"}
	b := &Error{File: "a.toml", Line: 3, Col: 7, Msg: "bad"}
	if got, want := Join([]*Error{a, b}).Error(), "a.toml:1: first\na.toml:3:7: bad"; got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
}

func TestLines(t *testing.T) {
	a := &Error{File: "a.toml", Line: 1, Msg: "first"}
	b := &Error{File: "b.lua", Line: 2, Col: 1, Msg: "bad"}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"plain", errors.New("plain"), []string{"plain"}},
		{"nested joins", errors.Join(Join([]*Error{a}), errors.Join(b, errors.New("other"))),
			[]string{"a.toml:1: first", "b.lua:2:1: bad", "other"}},
		{"wrapping keeps its context", fmt.Errorf("rules: %w", a), []string{"rules: a.toml:1: first"}},
	}
	for _, tt := range tests {
		if got := Lines(tt.err); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Lines = %q, want %q", tt.name, got, tt.want)
		}
	}
}
