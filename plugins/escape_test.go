package plugins

import (
	"context"
	"strings"
	"testing"
	"time"
)

// escapeCase is a script, the status its run must end with (StatusOK,
// StatusError or StatusRetry: timed out) and a substring of its error
// (for StatusOK, the JSON result).
type escapeCase struct{ src, status, err string }

// escapeCases extend TestSandbox with scripts that try to reach past the
// caps through metatables, format verbs, patterns, deep nesting, huge
// tables and error handling. Each must end its run (with the given status
// and an error containing err), within a bounded time, without taking the
// process down, and leave the set serving.
var escapeCases = map[string]escapeCase{
	// Metatables on strings: unreachable, so nothing to change or persist.
	"string_meta_index":   {`getmetatable("").__index = { rep = function() return "pwned" end }`, StatusError, "attempt to index a non-table object(boolean)"},
	"string_meta_rawget":  {`return rawget(getmetatable(""), "__index")`, StatusError, "bad argument #1 to rawget"},
	"string_field_assign": {`local s = "" s.rep = function() return "pwned" end`, StatusError, "attempt to index a non-table object(string)"},
	"string_lib_replace":  {`string = { rep = function() return "pwned" end } return ("x"):rep(2)`, StatusOK, `"xx"`},
	"setmeta_string_lib":  {`setmetatable(string, { __index = function() return "pwned" end })`, StatusError, "cannot change a protected metatable"},
	"getmeta_string_lib":  {`return getmetatable(string)`, StatusOK, `false`},
	"rep_via_method":      {`local rep = ("").rep return rep("x", 1e9)`, StatusError, "string.rep: result too large"},
	"rep_via_metatable":   {`return setmetatable({}, { __index = string }).rep("x", 1e9)`, StatusError, "string.rep: result too large"},
	"rep_via_index_fn":    {`local t = setmetatable({}, { __index = function(_, k) return string[k] end }) return t.rep("ab", 1e9)`, StatusError, "string.rep: result too large"},
	"rep_nested":          {`return ("x"):rep(1e6):rep(1e6)`, StatusError, "string.rep: result too large"},
	"rep_sep":             {`return ("x"):rep(1e5, ("y"):rep(1e5))`, StatusError, "string.rep: result too large"},
	// string.format: widths, repeated arguments, expanding verbs.
	"format_width_3":      {`return string.format("%100d", 1)`, StatusError, "invalid format (width or precision too long)"},
	"format_precision":    {`return string.format("%.100f", 1)`, StatusError, "invalid format (width or precision too long)"},
	"format_many_specs":   {`return string.format(("%99s"):rep(20000), ("x"):rep(20000):byte(1, -1))`, StatusError, "too large"},
	"format_arg_index":    {`local s = ("x"):rep(9e5) return #string.format(("%[1]s"):rep(1000), s)`, StatusError, "invalid format"},
	"format_quote_expand": {`local s = ("\0"):rep(9e5) return #string.format("%q", s)`, StatusError, "string.format: result too large"},
	"format_hex_expand":   {`local s = ("x"):rep(6e5) return #string.format("% x", s)`, StatusError, "string.format: result too large"},
	"format_star_width":   {`return string.format("%*d", 1e9, 1)`, StatusError, "invalid format (argument indexes and * widths are not supported)"},
	"format_ok":           {`return string.format("%5.1f|%-4s|%q|%x", 2.25, "ab", "a\n", 255)`, StatusOK, `"  2.2|ab  |\"a\\n\"|ff"`},
	// Patterns: backtracking is stopped by the deadline; deep patterns and
	// many captures fail cleanly.
	"pattern_backtrack_gsub":  {`return (string.gsub(("a"):rep(30000), "a-a-a-a-a-b", ""))`, StatusRetry, "plugin timed out"},
	"pattern_backtrack_match": {`return string.match(("a"):rep(30000), ".-.-.-.-.-$x")`, StatusRetry, "plugin timed out"},
	"pattern_gmatch_loop":     {`local n = 0 for w in ("a"):rep(1e6):gmatch(".-.-b") do n = n + 1 end return n`, StatusRetry, "plugin timed out"},
	"pattern_optional_chain":  {`return string.find(("a"):rep(5000), ("a?"):rep(5000) .. ("a"):rep(5000))`, StatusError, "pattern too complex"},
	"pattern_balanced_deep":   {`return #string.match(("("):rep(5e5) .. (")"):rep(5e5), "%b()")`, StatusOK, `1000000`},
	"pattern_many_captures":   {`return string.find("a", ("()"):rep(100))`, StatusError, "too many captures"},
	"pattern_huge":            {`return string.find("a", ("[a-z]"):rep(2e5))`, StatusOK, ``},
	// Deep nesting: json and every other path that walks a table refuse it.
	"json_decode_deep":     {`return json.decode(("["):rep(1e5) .. ("]"):rep(1e5))`, StatusError, "nesting deeper than 128"},
	"json_decode_unclosed": {`return json.decode(("{\"a\":"):rep(1e5))`, StatusError, "nesting deeper than 128"},
	"json_encode_cycle":    {`local t = {} t.t = t return json.encode(t)`, StatusError, "contains itself"},
	// Coroutines are not there to flood with.
	"coroutine_absent":  {`return type(coroutine)`, StatusOK, `"nil"`},
	"coroutine_wrap":    {`for i = 1, 1e6 do coroutine.wrap(function() end) end`, StatusError, "with key 'wrap'"},
	"coroutine_via_std": {`return type(string.coroutine) .. type(table.coroutine) .. type(_G and _G.coroutine)`, StatusOK, `"nilnilnil"`},
	// Huge tables: tostring and # are cheap; concat and unpack are capped.
	"tostring_meta":        {`local t = setmetatable({}, { __tostring = function() return ("x"):rep(1e6) end }) return #tostring(t)`, StatusOK, `1000000`},
	"concat_big_sep":       {`return table.concat({ 1, 2, 3 }, ("x"):rep(6e5))`, StatusError, "table.concat: result too large"},
	"concat_sparse_range":  {`return table.concat({}, "", 1, 2^31)`, StatusError, "invalid value (a nil) at index 1"},
	"concat_operator_loop": {`local s = "x" for i = 1, 20 do s = s .. s end return #s`, StatusOK, `1048576`},
	"byte_all":             {`return select("#", ("x"):rep(1e6):byte(1, -1))`, StatusError, "overflow"},
	"byte_many":            {`return select("#", ("x"):rep(1e4):byte(-1e4, 1e9))`, StatusOK, "10000"},
	"byte_default":         {`return ("ab"):byte() + ("ab"):byte(-1)`, StatusOK, "195"},
	"unpack_range":         {`return unpack({}, -1e8, 0)`, StatusError, "overflow"},
	"unpack_many":          {`local t = {} for i = 1, 1e4 do t[i] = i end return select("#", unpack(t))`, StatusOK, "10000"},
	"unpack_part":          {`return select(2, unpack({ 1, 2, 3 }, 2))`, StatusOK, "3"},
	"insert_far":           {`local t = {} table.insert(t, 2^30, 1) return #t`, StatusOK, `0`},
	"sort_slow_compare":    {`local t = {} for i = 1, 1e4 do t[i] = i end table.sort(t, function(a, b) while true do end end)`, StatusRetry, "plugin timed out"},
	"sort_bad_compare":     {`local t = {} for i = 1, 1e3 do t[i] = i % 7 end table.sort(t, function(a, b) return true end) return #t`, StatusOK, `1000`},
	// pcall cannot swallow the deadline or hide a runaway.
	"pcall_catches_timeout": {`local ok = pcall(function() while true do end end) return "escaped"`, StatusRetry, "plugin timed out"},
	"pcall_error_loop":      {`while true do pcall(error, ("x"):rep(1e5)) end`, StatusRetry, "plugin timed out"},
	"pcall_recursive":       {`local function f(n) local ok, e = pcall(f, n + 1) return n end return f(1)`, StatusOK, `1`},
	"xpcall_handler_loop":   {`local function h(e) error(e) end return select(2, xpcall(function() error("x") end, h))`, StatusOK, ``},
	"xpcall_handler_spin":   {`return xpcall(function() error("x") end, function() while true do end end)`, StatusRetry, "plugin timed out"},
	"error_huge_message":    {`error(("x"):rep(1e6))`, StatusError, "xxxx"},
}

// heavyEscapeCases build something big first (a table 100,000 deep, a
// 300,000-entry array): they get a longer timeout than the runaway scripts
// above, so that they reach the call under test. Building is what takes
// the time: each nested table with a string key costs gopher-lua about 2
// KB of Go maps, and 10^6 of them took 10 to 20 s on a loaded 2-core
// machine, while the conversions refuse the nesting within a millisecond
// (they stop at MaxConvertDepth, however deep the table goes). 10^5 levels
// are as far past the cap as 10^6.
var heavyEscapeCases = map[string]escapeCase{
	"concat_many":         {`local t = {} for i = 1, 2e5 do t[i] = "0123456789" end return table.concat(t)`, StatusError, "table.concat: result too large"},
	"json_encode_deep":    {`local t = {} local c = t for i = 1, 1e5 do c.a = {} c = c.a end return json.encode(t)`, StatusError, "json.encode: a: a: a: a: a: a: a: a: ...: nesting deeper than 128"},
	"return_deep":         {`local t = {} local c = t for i = 1, 1e5 do c.a = {} c = c.a end return t`, StatusError, "nesting deeper than 128"},
	"log_fields_deep":     {`local t = {} local c = t for i = 1, 1e5 do c.a = {} c = c.a end log.info("deep", { t = t }) return 1`, StatusError, "log.info: fields: t: a: a: a: a: a: a: a: nesting deeper than 8"},
	"error_deep":          {`local t = {} local c = t for i = 1, 1e5 do c.a = {} c = c.a end error(t)`, StatusError, "table: 0x"},
	"json_encode_wide":    {`local t = {} for i = 1, 1e5 do t["k" .. i] = ("v"):rep(20) end return #json.encode(t)`, StatusError, "too large"},
	"tostring_huge_table": {`local t = {} for i = 1, 2e5 do t[i] = i end return #tostring(t) < 64 and #t`, StatusOK, `200000`},
	"unpack_huge":         {`local t = {} for i = 1, 3e5 do t[i] = i end return select("#", unpack(t))`, StatusError, "overflow"},
	"log_many_big_fields": {`local s = ("x"):rep(1e6) for i = 1, 2000 do log.info("x" .. i, { s = s, n = i }) end return 1`, StatusOK, `1`},
}

func TestSandboxEscapes(t *testing.T) {
	// The runaway scripts run with a short timeout, which they all reach;
	// the other escapeCases must end on their own, so they get a timeout
	// a loaded machine cannot reach (a broken cap still fails them: wrong
	// status or error, or the timeout).
	runaway, bounded := splitEscapes(escapeCases)
	t.Run("runaway", func(t *testing.T) { runEscapes(t, runaway, 300*time.Millisecond) })
	t.Run("bounded", func(t *testing.T) { runEscapes(t, bounded, 10*time.Second) })
	// The race detector slows the building several times over (return_deep
	// takes about 4 s of the 10 under -race on an idle 2-core machine).
	t.Run("heavy", func(t *testing.T) { runEscapes(t, heavyEscapeCases, raceBound(10*time.Second, 40*time.Second)) })
}

// raceBound is normal, or race when the race detector is on.
func raceBound(normal, race time.Duration) time.Duration {
	if raceEnabled {
		return race
	}
	return normal
}

// splitEscapes separates the cases expected to time out from the others.
func splitEscapes(cases map[string]escapeCase) (timeout, other map[string]escapeCase) {
	timeout, other = map[string]escapeCase{}, map[string]escapeCase{}
	for name, c := range cases {
		if c.status == StatusRetry {
			timeout[name] = c
		} else {
			other[name] = c
		}
	}
	return timeout, other
}

func runEscapes(t *testing.T, cases map[string]escapeCase, timeout time.Duration) {
	files := map[string]string{"healthy": `function handle() return ("ab"):rep(2) .. string.format("%d", 1) end`}
	for name, c := range cases {
		files[name] = "function handle(e)\n  " + c.src + "\nend"
	}
	s := mustLoad(t, files, Options{Timeout: timeout, PoolSize: 1})
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r := s.Run(context.Background(), name, nil, nil)
			took := time.Since(start)
			switch {
			case r.Status != c.status:
				t.Errorf("status %s (%q, value %.200s), want %s", r.Status, errText(r.Err), r.Value, c.status)
			case c.status == StatusOK && c.err != "" && string(r.Value) != c.err:
				t.Errorf("value %.200s, want %s", r.Value, c.err)
			case c.status != StatusOK && !strings.Contains(errText(r.Err), c.err):
				t.Errorf("error %.300q, want it to contain %q", errText(r.Err), c.err)
			}
			// The deadline stops a runaway: a run far past it was not
			// stopped by it (the slack is for a loaded machine).
			if took > timeout+5*time.Second {
				t.Errorf("took %v with a %v timeout", took, timeout)
			}
			// Nothing persisted into the next run on the same pooled state.
			if r := s.Run(context.Background(), "healthy", nil, nil); r.Status != StatusOK || string(r.Value) != `"abab1"` {
				t.Errorf("after %s: healthy run %s %s %v", name, r.Status, r.Value, r.Err)
			}
			// The run's log stays bounded whatever the script logged.
			size := 0
			for _, l := range r.Logs {
				size += len(l.Message)
				for _, v := range l.Fields {
					if s, ok := v.(string); ok {
						size += len(s)
					}
				}
			}
			if size > 2<<20 {
				t.Errorf("the run kept %d bytes of log", size)
			}
		})
	}
}

// TestDeepConstructorInSource: a plugin file with a table constructor
// nested 100,000 deep is refused at load (hookgate check loads the same
// way) with the file's name, without taking the process down; a
// reasonable nesting loads and runs.
func TestDeepConstructorInSource(t *testing.T) {
	for depth, wantErr := range map[int]string{200: "", 100000: "deep.lua:1:1: register overflow"} {
		src := "local t = " + strings.Repeat("{", depth) + strings.Repeat("}", depth) + "\nfunction handle() return 1 end\n"
		start := time.Now()
		s, err := Load(writePlugins(t, map[string]string{"deep": src}), Options{Logger: quietLogger()})
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("depth %d: %v", depth, err)
		case wantErr == "":
			if r := s.Run(context.Background(), "deep", nil, nil); r.Status != StatusOK {
				t.Errorf("depth %d: run %s %v", depth, r.Status, r.Err)
			}
			s.Close()
		case err == nil || !strings.Contains(err.Error(), wantErr):
			t.Errorf("depth %d: error %.200v, want %q", depth, err, wantErr)
		}
		// 100,000 deep takes about 1.3 s to refuse, 4 s under -race on an
		// idle 2-core machine: the bound catches a parse gone quadratic
		// or hanging, not a slow machine.
		if took := time.Since(start); took > raceBound(10*time.Second, 40*time.Second) {
			t.Errorf("depth %d: load took %v", depth, took)
		}
	}
}
