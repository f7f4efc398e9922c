package plugins

import (
	"context"
	"fmt"
	"testing"
)

// TestCappedStringFunctions: the capped replacements behave like the
// originals below the cap.
func TestCappedStringFunctions(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`string.rep("ab", 3)`, `"ababab"`},
		{`string.rep("ab", 3, ",")`, `"ab,ab,ab"`},
		{`string.rep("ab", 0)`, `""`},
		{`string.rep("ab", -1)`, `""`},
		{`string.rep("", 1e9)`, `""`},
		{`("x"):rep(2.7)`, `"xx"`},
		{`string.format("%5.2f|%-3d|%s|%q|%x|%%", 3.14159, 7, "s", "a\"b", 255)`, `" 3.14|7  |s|\"a\\\"b\"|ff|%"`},
		{`string.format("%99d", 1):len()`, `99`},
		{`table.concat({ 1, "b", 3 })`, `"1b3"`},
		{`table.concat({ 1, "b", 3 }, ", ")`, `"1, b, 3"`},
		{`table.concat({ 1, "b", 3 }, "-", 2)`, `"b-3"`},
		{`table.concat({ 1, "b", 3 }, "-", 2, 2)`, `"b"`},
		{`table.concat({}, "-")`, `""`},
		{`table.concat({ 1, 2 }, "-", 3)`, `""`},
		{`#string.rep("x", 1048576)`, `1048576`},
	}
	files := map[string]string{}
	for i, c := range cases {
		files[fmt.Sprint("c", i)] = "function handle() return " + c.expr + " end"
	}
	files["nilconcat"] = `function handle() return table.concat({ 1, nil, 3 }, "", 1, 3) end`
	files["tableconcat"] = `function handle() return table.concat({ {} }) end`
	files["rep_over"] = `function handle() return string.rep("x", 1048577) end`
	s := mustLoad(t, files, Options{})
	for i, c := range cases {
		r := s.Run(context.Background(), fmt.Sprint("c", i), nil, nil)
		if r.Status != StatusOK || string(r.Value) != c.want {
			t.Errorf("%s: got %s %s %v, want %s", c.expr, r.Status, r.Value, r.Err, c.want)
		}
	}
	for name, want := range map[string]string{
		"nilconcat":   "nilconcat.lua:1: invalid value (a nil) at index 2 in table for concat",
		"tableconcat": "tableconcat.lua:1: invalid value (a table) at index 1 in table for concat",
		"rep_over":    "rep_over.lua:1: string.rep: result too large (max 1048576 bytes)",
	} {
		if r := s.Run(context.Background(), name, nil, nil); r.Status != StatusError || errText(r.Err) != want {
			t.Errorf("%s: got %s %q", name, r.Status, errText(r.Err))
		}
	}
	// The cap is an option.
	small := mustLoad(t, map[string]string{"p": `function handle() return ("x"):rep(11) end`}, Options{MaxStringBytes: 10})
	if r := small.Run(context.Background(), "p", nil, nil); r.Status != StatusError || errText(r.Err) != "p.lua:1: string.rep: result too large (max 10 bytes)" {
		t.Errorf("MaxStringBytes: %s %q", r.Status, errText(r.Err))
	}
}
