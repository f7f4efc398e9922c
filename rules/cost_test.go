package rules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// The metered builtins and operators give what expr's own give: the same
// expressions, evaluated with hookgate's options and with plain expr over
// the same data, agree.
func TestMeteredAgreesWithExpr(t *testing.T) {
	note := "Hello World /packit build\nsecond  line é"
	labels := []string{"bug", "ui", "needs-review"}
	var payload map[string]any
	if err := json.Unmarshal([]byte(`{"a": "x", "b": "y", "n": 1.5, "deep": {"list": [1, [2, {}], []], "empty": {}}, "s": "<tag> & \"q\""}`), &payload); err != nil {
		t.Fatal(err)
	}
	plain := map[string]any{"note": note, "labels": labels, "payload": payload}
	ours := newEvalEnv(&envelope.Envelope{Kind: "note", Note: note, Labels: labels})
	ours.Payload = payload
	r := runnerPool.Get().(*runner)
	defer runnerPool.Put(r)
	ours.metered = r.fns

	for _, src := range []string{
		`upper(note)`, `lower(note)`, `note | lower()`, `lower(note) contains "packit"`,
		`split(note, " ")`, `split(note, " ", 2)`, `split(note, "")`, `split(note, " ", -1)`, `split("", ",")`,
		`splitAfter(note, " ")`, `splitAfter(note, " ", 2)`,
		`replace(note, "o", "0")`, `replace(note, "o", "0", 1)`, `replace(note, "", "-")`, `replace(note, "l", "")`,
		`repeat("ab", 3)`, `repeat("", 5)`, `repeat("ab", 0)`,
		`join(labels)`, `join(labels, ", ")`, `join(split(note, " "), "+")`, `join(["a", "b"], "-")`, `join([])`,
		`toJSON(payload)`, `toJSON(labels)`, `toJSON({})`, `toJSON([])`, `toJSON(payload.deep)`, `toJSON(note)`, `toJSON(1.5)`, `toJSON(nil)`,
		`fromJSON('{"a": [1, 2]}')`, `toBase64(note)`, `fromBase64(toBase64(note))`,
		`string(labels)`, `string(payload.deep)`, `string(42)`, `string(nil)`,
		`note + "!"`, `"x" + note`, `labels[0] + labels[1]`, `payload.a + payload.b`, `payload.n + 1`, `1 + payload.n`, `payload.a + "z"`,
		`"con" + "stant"`, `1 + 2`, `1.5 + 2`,
		`reduce(labels, #acc + #, "")`, `reduce(labels, #acc + len(#), 0)`, `map(labels, upper(#))`, `filter(labels, # startsWith "b")`,
		`all(labels, len(#) > 1)`, `any(labels, # == "ui")`, `none(labels, # == "x")`, `one(labels, # == "ui")`,
		`count(labels, len(#) > 2)`, `sum(1..10)`, `sum(1..10, # * 2)`, `find(labels, # != "bug")`, `findIndex(labels, # == "ui")`,
		`findLast(labels, true)`, `findLastIndex(labels, true)`, `groupBy(labels, len(#))`, `sortBy(labels, #)`, `sortBy(labels, len(#), "desc")`,
		`len(filter(labels, # != "ui"))`, `filter(labels, # != "ui")[0]`, `map(filter(labels, # != "ui"), # + "!")`,
		`all(labels, # != "") && all(labels, len(#) < 20)`, `reduce(1..5, #acc + #index, 0)`,
		`note matches "^Hello"`, `note matches ("^" + "Hello")`, `note matches (labels[0] + "|World")`, `nil matches ("x" + "")`, `note matches payload.nope`, `payload.a matches payload.a`, `upper(payload.a)`, `payload.a + payload.nope2 == nil`,
		`trim("  x  ")`, `let x = upper(note); x + x`, `1..3 | map(# + 1)`,
	} {
		t.Run(src, func(t *testing.T) {
			want, werr := expr.Eval(src, plain)
			p, err := expr.Compile(src, expr.Env(evalEnv{Envelope: &envelope.Envelope{}}), expr.MaxNodes(maxNodes), expr.Patch(costPatch{}))
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			r.meter.reset()
			got, gerr := r.vm.Run(p, ours)
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("error %v, expr's %v", gerr, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, expr gives %#v", got, want)
			}
		})
	}
	// Both refuse what the builtins refuse.
	for _, src := range []string{`repeat("a", -1)`, `fromBase64("!!")`, `fromJSON("{")`, `note matches ("[" + "")`} {
		p, err := expr.Compile(src, expr.Env(evalEnv{Envelope: &envelope.Envelope{}}), expr.Patch(costPatch{}))
		if err != nil {
			t.Fatalf("%s: compile: %v", src, err)
		}
		if _, err := r.vm.Run(p, ours); err == nil {
			t.Errorf("%s: no error", src)
		}
	}
}

// Conditions are type-checked as before: the metered builtins keep their
// argument types.
func TestMeteredBuiltinsTypeCheck(t *testing.T) {
	for src, want := range map[string]string{
		`upper(1) == ""`:           "cannot use int as argument (type string) to call upper",
		`len(split(note)) > 0`:     "not enough arguments to call split",
		`repeat(note, "2") == ""`:  "cannot use string as argument (type int) to call repeat",
		`upper(note) > 1`:          "invalid operation: > (mismatched types string and int)",
		`(note + note) > 1`:        "invalid operation: > (mismatched types string and int)",
		`all(labels, # + 1)`:       "mismatched types string and int",
		`filter(labels, #) == nil`: "predicate should return boolean (got string)",
	} {
		if _, err := compileCondition(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

func TestIndentedSize(t *testing.T) {
	for _, v := range []any{
		map[string]any{}, []any{}, "x", nil, 1.5,
		map[string]any{"a": []any{1, []any{2, map[string]any{}}, []any{}}, "b": "q\"u,o:t[e]{}", "c": map[string]any{"d": nil}},
		[]any{[]any{[]any{[]any{}}}},
	} {
		compact, _ := json.Marshal(v)
		indented, _ := json.MarshalIndent(v, "", "  ")
		if got := indentedSize(compact); got != len(indented) {
			t.Errorf("%s: indentedSize %d, json.MarshalIndent gives %d bytes", compact, got, len(indented))
		}
	}
}
