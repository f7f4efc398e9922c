package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/envelope/command"
	"github.com/hookgate/hookgate/internal/projectglob"
)

// Limits on what one condition may cost; the others, and how they are
// enforced, are in cost.go.
const (
	// maxNodes bounds the size of a condition's syntax tree.
	maxNodes = 2000
	// memoryBudget is expr's own budget for one evaluation: the elements
	// of the lists, maps and ranges it builds.
	memoryBudget = 100_000
)

// evalEnv is what a condition sees. The envelope's fields are read in place
// through their `expr` struct tags (envelope.go); the raw Payload bytes are
// tagged expr:"-" and replaced by the decoded map below. The func fields are
// the helpers that need the event; they are bound per event.
type evalEnv struct {
	*envelope.Envelope

	// Payload is the whole JSON body as maps and lists, decoded only when
	// a rule that mentions payload is evaluated, at most once per event.
	Payload map[string]any `expr:"payload"`

	// HasCommand: has_command("/packit", "build") is true when a command
	// line of the note starts with "/packit build".
	HasCommand func(prefix string, words ...string) bool `expr:"has_command"`
	// CommandArgs: command_args("/packit", "build") is the words after
	// "/packit build" on the first such line ([] when there is none).
	CommandArgs func(prefix string, words ...string) []string `expr:"command_args"`
	// HasLabel: has_label("bug") is true when the MR or issue has the
	// label "bug".
	HasLabel func(name string) bool `expr:"has_label"`

	// metered replaces expr's builtins that build strings, and provides
	// the functions costPatch calls, all charging the evaluation's meter.
	metered

	payloadErr error
}

// newEvalEnv binds the helpers to e.
func newEvalEnv(e *envelope.Envelope) *evalEnv {
	env := &evalEnv{Envelope: e}
	env.HasCommand = func(prefix string, words ...string) bool {
		_, ok := findCommand(e.Commands, prefix, words)
		return ok
	}
	env.CommandArgs = func(prefix string, words ...string) []string {
		args, _ := findCommand(e.Commands, prefix, words)
		if args == nil {
			args = []string{}
		}
		return args
	}
	env.HasLabel = func(name string) bool {
		for _, l := range e.Labels {
			if l == name {
				return true
			}
		}
		return false
	}
	return env
}

// decodePayload fills Payload once. An absent or null payload is an empty
// map; one that is not a JSON object is an error for the rules that use it.
func (env *evalEnv) decodePayload() error {
	if env.Payload != nil || env.payloadErr != nil {
		return env.payloadErr
	}
	m := map[string]any{}
	if raw := env.Envelope.Payload; len(raw) > 0 {
		if n := envelope.CountValues(raw); n > envelope.MaxDecodedValues {
			env.payloadErr = fmt.Errorf("the payload holds about %d JSON values; conditions read payloads of at most %d (use the envelope's fields, or a plugin)", n, envelope.MaxDecodedValues)
			return env.payloadErr
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			env.payloadErr = fmt.Errorf("decode payload: %w", err)
			return env.payloadErr
		}
		if m == nil { // "null"
			m = map[string]any{}
		}
	}
	env.Payload = m
	return nil
}

// findCommand looks for a command whose name and first arguments are the
// words of prefix followed by words ("/packit build" and "/packit",
// "build" both mean name "packit", first argument "build"), ignoring case
// as Prow and GitLab quick actions do. A leading "/" is optional. It returns
// the remaining arguments of the first match.
func findCommand(cmds []command.Command, prefix string, words []string) ([]string, bool) {
	want := strings.Fields(strings.TrimPrefix(strings.TrimSpace(prefix), "/"))
	for _, w := range words {
		want = append(want, strings.Fields(w)...)
	}
	if len(want) == 0 {
		return nil, false
	}
next:
	for _, c := range cmds {
		if !strings.EqualFold(c.Name, want[0]) || len(c.Args) < len(want)-1 {
			continue
		}
		for i, w := range want[1:] {
			if !strings.EqualFold(c.Args[i], w) {
				continue next
			}
		}
		return c.Args[len(want)-1:], true
	}
	return nil, false
}

// exprOptions are the compile options every condition uses.
func exprOptions() []expr.Option {
	return []expr.Option{
		expr.Env(evalEnv{Envelope: &envelope.Envelope{}}),
		expr.AsBool(),
		expr.MaxNodes(maxNodes),
		expr.Function("glob", globFunc, new(func(pattern, s string) bool)),
		expr.Patch(costPatch{}),
	}
}

// Bounds of glob(pattern, s): matching a pattern with k "**" segments
// takes time up to the string's segments to the power k (the attacker
// review's glob("**/a/**/b", note) took 3 s on 31 KB), so the string is
// at most maxGlobInput bytes and the pattern holds at most maxGlobStars
// "**" (a few milliseconds at worst).
const (
	maxGlobInput = 4096
	maxGlobStars = 2
)

// checkGlobPattern validates a glob() pattern.
func checkGlobPattern(pattern string) error {
	if err := projectglob.ValidString(pattern); err != nil {
		return err
	}
	if strings.Count(pattern, "**") > maxGlobStars {
		return fmt.Errorf("glob %q: at most %d \"**\" in a pattern", pattern, maxGlobStars)
	}
	return nil
}

// globFunc implements glob(pattern, s).
func globFunc(params ...any) (any, error) {
	pattern, _ := params[0].(string)
	s, _ := params[1].(string)
	if err := checkGlobPattern(pattern); err != nil {
		return false, err
	}
	if len(s) > maxGlobInput {
		return false, fmt.Errorf("glob: the string is %d bytes; glob reads at most %d (branches and paths are far shorter)", len(s), maxGlobInput)
	}
	return projectglob.MatchString(pattern, s), nil
}

// condition is a compiled `when`.
type condition struct {
	program     *vm.Program
	usesPayload bool // decode the payload before running
}

// compileCondition compiles src. Errors are expr's (*file.Error when
// positioned) or a plain error for checks made here.
func compileCondition(src string) (*condition, error) {
	program, err := expr.Compile(src, exprOptions()...)
	if err != nil {
		return nil, err
	}
	c := &condition{program: program}
	var bad *file.Error
	ast.Find(program.Node(), func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IdentifierNode:
			// $env could reach payload through $env.payload.
			if n.Value == "payload" || n.Value == "$env" {
				c.usesPayload = true
			}
		case *ast.CallNode:
			if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "glob" && len(n.Arguments) == 2 {
				if s, ok := n.Arguments[0].(*ast.StringNode); ok && bad == nil {
					if err := checkGlobPattern(s.Value); err != nil {
						bad = (&file.Error{Location: s.Location(), Message: err.Error()}).Bind(program.Source())
					}
				}
			}
		}
		return false
	})
	if bad != nil {
		return nil, bad
	}
	return c, nil
}

// run evaluates the condition against env with r's machine, on a fresh
// meter (env's metered functions must be r's).
func (c *condition) run(r *runner, env *evalEnv) (bool, error) {
	if c.usesPayload {
		if err := env.decodePayload(); err != nil {
			return false, err
		}
	}
	r.meter.reset()
	out, err := r.vm.Run(c.program, env)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			if fe.Message == "memory budget exceeded" { // expr's own budget
				ce := &CostError{What: fmt.Sprintf("more than %d list and map elements built", memoryBudget)}
				fe.Message = ce.Error()
				fe.Wrap(ce)
			}
			// Keep the place, drop the snippet (it repeats the whole line).
			return false, &runError{err: fe}
		}
		return false, err
	}
	b, ok := out.(bool)
	if !ok { // AsBool makes this unreachable; keep the VM's word honest.
		return false, fmt.Errorf("condition returned %T, not bool", out)
	}
	return b, nil
}

// runError is an evaluation error reported as "message (line:col)" in the
// condition, without expr's snippet.
type runError struct{ err *file.Error }

func (e *runError) Error() string {
	return fmt.Sprintf("%s (%d:%d)", e.err.Message, e.err.Line, e.err.Column+1)
}

func (e *runError) Unwrap() error { return e.err }
