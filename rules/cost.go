package rules

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// What one evaluation of a condition may cost. expr cannot interrupt a
// running program, and its own memory budget (memoryBudget) counts only the
// elements of lists, maps and ranges it builds: a string grown in a loop
// (reduce(1..50, #acc + note, "") over a 1 MB note built 1.2 GB, for
// seconds) or a builtin whose output multiplies its input (repeat,
// replace, join; repeat(note, 1000000) asked for a terabyte) escapes it.
// So conditions are compiled with a patch (costPatch) that routes every
// such operation through the functions below, which charge the
// evaluation's meter before building anything, and that counts every step
// of every loop (all, any, filter, map, reduce, ...). What is left
// unmetered runs in time proportional to sizes the meter bounds: scans of
// a string or list (contains, matches with a constant pattern, in, ==),
// each at most once per step. docs/rules.md states the limits for rule
// writers.
const (
	// maxBuiltBytes bounds the bytes of strings (and lists of strings)
	// one evaluation builds, garbage included: 8 MiB lets lower(note)
	// read any GitLab comment (at most 1,000,000 characters) and keeps
	// 64 workers evaluating at once under 512 MiB.
	maxBuiltBytes = 8 << 20
	// maxSteps bounds the loop steps (one per element a predicate sees)
	// of one evaluation.
	maxSteps = 1_000_000
	// maxEvalTime bounds one evaluation's wall time, checked at every
	// loop step and every metered call. A condition normally takes
	// microseconds.
	maxEvalTime = 250 * time.Millisecond
	// maxPatternBytes bounds a regular expression built at run time
	// (matches with a pattern that is not a constant): it is compiled on
	// every evaluation and matching costs its size times the text's.
	maxPatternBytes = 1024
	// maxRegexWork bounds a run-time pattern's matching work: its
	// compiled program's instructions times the text's bytes (Go's
	// regexp runs in that time, but \pL{1000} is a thousand-instruction
	// program: over a 1 MB note, 21 s).
	maxRegexWork = 50_000_000
	// jsonDecodeFactor is how many bytes of Go values fromJSON is counted
	// as building per byte of input (a JSON list of numbers takes about
	// 12 bytes of values per 2 bytes of text).
	jsonDecodeFactor = 16
	// sliceEntryBytes is what one string of a built list costs (its
	// header), the bytes themselves being shared with the input.
	sliceEntryBytes = 16
)

// CostError is a condition stopped by its cost limit. It fails the rule
// for that event only.
type CostError struct {
	What string // "more than 8388608 bytes of strings built (repeat)"
}

func (e *CostError) Error() string { return "cost limit exceeded: " + e.What }

// meter counts what one evaluation costs. A meter is used by one
// goroutine at a time (it lives in a pooled runner).
type meter struct {
	// start is when the first metered operation ran: the clock is read
	// only by conditions that loop or build, and what runs before their
	// first metered operation is straight-line work.
	start time.Time
	steps int
	bytes int
}

func (m *meter) reset() { *m = meter{} }

// grown charges what out, built from n bytes already charged, has more.
func (m *meter) grown(op string, n int, out string) string {
	if len(out) > n {
		m.charge(op, len(out)-n)
	}
	return out
}

// stop ends the evaluation: the VM recovers the panic into its error.
func stop(format string, args ...any) {
	panic(&CostError{What: fmt.Sprintf(format, args...)})
}

// clock stops an evaluation that has run too long.
func (m *meter) clock() {
	if m.start.IsZero() {
		m.start = time.Now()
		return
	}
	if d := time.Since(m.start); d > maxEvalTime {
		stop("ran longer than %s", maxEvalTime)
	}
}

// step counts one loop step.
func (m *meter) step() bool {
	m.steps++
	if m.steps > maxSteps {
		stop("more than %d loop steps", maxSteps)
	}
	m.clock()
	return true
}

// charge counts n bytes about to be built by op.
func (m *meter) charge(op string, n int) {
	if n < 0 || n > maxBuiltBytes-m.bytes {
		stop("more than %d bytes of strings built (%s)", maxBuiltBytes, op)
	}
	m.bytes += n
	m.clock()
}

// metered are the functions a condition's metered operations call. They
// are fields of evalEnv: the names that expr's builtins also have replace
// them (expr gives an environment's names precedence) and give the same
// results (each calls the builtin, or does what it does) once the meter
// agrees; TestMeteredAgreesWithExpr holds them to it. The "$" names are
// what costPatch puts in place of +, dynamic matches and loop steps.
// Built once per pooled runner, bound to its meter.
type metered struct {
	Step     func() bool                               `expr:"$step"`
	Concat   func(a, b string) string                  `expr:"$concat"`
	Add      func(a, b any) any                        `expr:"$add"`
	Matches  func(s, pattern any) bool                 `expr:"$matches"`
	Upper    func(s string) string                     `expr:"upper"`
	Lower    func(s string) string                     `expr:"lower"`
	Split    func(s, sep string, n ...int) []string    `expr:"split"`
	SplitA   func(s, sep string, n ...int) []string    `expr:"splitAfter"`
	Replace  func(s, old, new string, n ...int) string `expr:"replace"`
	Repeat   func(s string, n int) string              `expr:"repeat"`
	Join     func(list any, glue ...string) string     `expr:"join"`
	ToJSON   func(v any) string                        `expr:"toJSON"`
	FromJSON func(s string) any                        `expr:"fromJSON"`
	ToB64    func(s string) string                     `expr:"toBase64"`
	FromB64  func(s string) string                     `expr:"fromBase64"`
	String   func(v any) string                        `expr:"string"`
}

// call runs expr's builtin name with args, panicking with its error as the
// VM does for builtins.
func call(name string, args ...any) any {
	f := builtin.Builtins[builtin.Index[name]]
	var out any
	var err error
	switch {
	case f.Fast != nil:
		out = f.Fast(args[0])
	case f.Func != nil:
		out, err = f.Func(args...)
	default:
		out, _, err = f.Safe(args...)
	}
	if err != nil {
		panic(err)
	}
	return out
}

// withN appends a variadic int, the builtins' optional count, to args.
func withN(args []any, n []int) []any {
	if len(n) > 0 {
		args = append(args, n[0])
	}
	return args
}

// newMetered binds the metered functions to m.
func newMetered(m *meter) metered {
	return metered{
		Step: m.step,
		Concat: func(a, b string) string {
			m.charge("+", len(a)+len(b))
			return a + b
		},
		Add: func(a, b any) any {
			sa, okA := a.(string)
			sb, okB := b.(string)
			if okA && okB {
				m.charge("+", len(sa)+len(sb))
				return sa + sb
			}
			return runtime.Add(a, b)
		},
		Matches: func(s, pattern any) bool {
			if runtime.IsNil(s) || runtime.IsNil(pattern) {
				return false
			}
			p := pattern.(string)
			if len(p) > maxPatternBytes {
				stop("a pattern built at run time is longer than %d bytes (matches)", maxPatternBytes)
			}
			m.clock()
			re, err := regexp.Compile(p)
			if err != nil {
				panic(err)
			}
			text := 0
			if b, ok := s.([]byte); ok {
				text = len(b)
			} else {
				text = len(s.(string))
			}
			if insts := programSize(p); insts*text > maxRegexWork {
				stop("a pattern built at run time of %d instructions over %d bytes of text is past the limit of %d (matches)", insts, text, maxRegexWork)
			}
			if b, ok := s.([]byte); ok {
				return re.Match(b)
			}
			return re.MatchString(s.(string))
		},
		Upper: func(s string) string {
			m.charge("upper", len(s))
			return m.grown("upper", len(s), strings.ToUpper(s))
		},
		Lower: func(s string) string {
			m.charge("lower", len(s))
			return m.grown("lower", len(s), strings.ToLower(s))
		},
		Split: func(s, sep string, n ...int) []string {
			m.charge("split", pieces(s, sep, n)*sliceEntryBytes)
			return call("split", withN([]any{s, sep}, n)...).([]string)
		},
		SplitA: func(s, sep string, n ...int) []string {
			m.charge("splitAfter", pieces(s, sep, n)*sliceEntryBytes)
			return call("splitAfter", withN([]any{s, sep}, n)...).([]string)
		},
		Replace: func(s, old, new string, n ...int) string {
			count := strings.Count(s, old) // "" is found before each rune and at the end
			if len(n) > 0 && n[0] >= 0 {
				count = min(count, n[0])
			}
			m.charge("replace", len(s)+count*max(len(new)-len(old), 0))
			return call("replace", withN([]any{s, old, new}, n)...).(string)
		},
		Repeat: func(s string, n int) string {
			size := -1 // too large
			if n >= 0 && (len(s) == 0 || n <= math.MaxInt/len(s)) {
				size = len(s) * n
			}
			if n >= 0 {
				m.charge("repeat", size)
			}
			return call("repeat", s, n).(string)
		},
		Join: func(list any, glue ...string) string {
			g := ""
			if len(glue) > 0 {
				g = glue[0]
			}
			m.charge("join", joinedSize(list, g))
			return call("join", withGlue(list, glue)...).(string)
		},
		ToJSON: func(v any) string {
			// What the builtin does (json.MarshalIndent), in two steps
			// so that the indented size is charged before it is built.
			compact, err := json.Marshal(v)
			if err != nil {
				panic(err)
			}
			size := indentedSize(compact)
			m.charge("toJSON", len(compact)+size)
			var out bytes.Buffer
			out.Grow(size)
			if err := json.Indent(&out, compact, "", "  "); err != nil {
				panic(err)
			}
			return out.String()
		},
		FromJSON: func(s string) any {
			m.charge("fromJSON", len(s)*jsonDecodeFactor)
			return call("fromJSON", s)
		},
		ToB64: func(s string) string {
			m.charge("toBase64", base64.StdEncoding.EncodedLen(len(s)))
			return call("toBase64", s).(string)
		},
		FromB64: func(s string) string {
			m.charge("fromBase64", base64.StdEncoding.DecodedLen(len(s)))
			return call("fromBase64", s).(string)
		},
		String: func(v any) string {
			m.clock()
			out := call("string", v).(string)
			m.charge("string", len(out)) // after: its size is the value's text
			return out
		},
	}
}

// pieces is how many parts splitting s at sep (at most n[0] when given
// and positive) gives, without splitting.
func pieces(s, sep string, n []int) int {
	var count int
	if sep == "" {
		count = utf8.RuneCountInString(s)
	} else {
		count = strings.Count(s, sep) + 1
	}
	if len(n) > 0 && n[0] >= 0 {
		count = min(count, n[0])
	}
	return count
}

// withGlue is join's arguments as the builtin takes them.
func withGlue(list any, glue []string) []any {
	if len(glue) > 0 {
		return []any{list, glue[0]}
	}
	return []any{list}
}

// joinedSize is the length join(list, glue) will have (0 for a list the
// builtin refuses).
func joinedSize(list any, glue string) int {
	n, total := 0, 0
	add := func(s string) {
		n++
		total += len(s)
	}
	switch l := list.(type) {
	case []string:
		for _, s := range l {
			add(s)
		}
	case []any:
		for _, e := range l {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	if n > 1 {
		total += (n - 1) * len(glue)
	}
	return total
}

// indentedSize is the length json.Indent(compact, "", "  ") will have:
// each non-empty object or array puts its elements and its closing bracket
// on lines of their own, indented two spaces per level. A deeply nested
// value is small compact and huge indented (depth squared).
func indentedSize(compact []byte) int {
	size, depth := len(compact), 0
	inString, escaped := false, false
	for i, c := range compact {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if i+1 < len(compact) && (compact[i+1] == '}' || compact[i+1] == ']') {
				continue // empty: stays "{}" / "[]"
			}
			depth++
			size += 1 + 2*depth
		case '}', ']':
			if i > 0 && (compact[i-1] == '{' || compact[i-1] == '[') {
				continue
			}
			depth--
			size += 1 + 2*depth
		case ',':
			size += 1 + 2*depth
		case ':':
			size++ // ": "
		}
		if size > maxBuiltBytes {
			return size // enough to refuse
		}
	}
	return size
}

// costPatch rewrites a condition so that its costly operations go through
// the metered functions: the body of every predicate (the loops of all,
// any, filter, map, reduce, ...) first calls $step; + on strings, or on
// values whose type is known only at run time, becomes $concat or $add;
// matches with a pattern that is not a constant becomes $matches. The
// builtins with metered versions need no patch (evalEnv's fields replace
// them).
type costPatch struct{}

func (costPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{
			&ast.CallNode{Callee: &ast.IdentifierNode{Value: "$step"}},
			n.Node,
		}}
	case *ast.BinaryNode:
		switch n.Operator {
		case "+":
			_, constL := n.Left.(*ast.StringNode)
			_, constR := n.Right.(*ast.StringNode)
			if constL && constR {
				return // folded at compile time
			}
			l, r := n.Left.Type(), n.Right.Type()
			switch {
			case isString(l) && isString(r):
				ast.Patch(node, callTo("$concat", n.Left, n.Right))
			case (isString(l) || isUnknown(l)) && (isString(r) || isUnknown(r)):
				ast.Patch(node, callTo("$add", n.Left, n.Right))
			}
		case "matches":
			if _, ok := n.Right.(*ast.StringNode); !ok {
				ast.Patch(node, callTo("$matches", n.Left, n.Right))
			}
		}
	}
}

func callTo(name string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

func isString(t reflect.Type) bool { return t != nil && t.Kind() == reflect.String }

// isUnknown: a type known only at run time (any, or not inferred).
func isUnknown(t reflect.Type) bool { return t == nil || t.Kind() == reflect.Interface }

// programSize is the number of instructions of a valid pattern's compiled
// program, what regexp's matching time is proportional to per byte.
func programSize(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 1
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 1
	}
	return len(prog.Inst)
}
