package queue

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func outcomeCases() [][]Outcome {
	started := time.Date(2026, 12, 6, 1, 2, 3, 456789000, time.UTC)
	return [][]Outcome{
		nil,
		{},
		{{Rule: "r", Status: "ok", Started: started}},
		{{Rule: "packit-build", Plugin: "packit_build", Status: "ok", Result: json.RawMessage(` { "a" : [1, 2.5e3, "<x>&"] , "b":null } `),
			Logs: []LogLine{{Level: "info", Message: "building \"it\"\n\t<now>"}, {Level: "warn", Message: "x", Fields: map[string]any{"z": 1, "a": []any{"b", true, nil}, "h": "<&>"}}},
			Calls: []Call{{Method: "POST", Path: "/projects/1/merge_requests/2/notes", Body: json.RawMessage(`{"body":"/retest \u2028 done"}`), DryRun: true},
				{Method: "GET", Path: "/x", Status: 503, Duration: 1500 * time.Microsecond, Error: "gitlab: 503"}},
			Attempts: 2, Started: started.In(time.FixedZone("x", 3600)), Duration: 1234567},
			{Rule: "second", Status: "error", Error: "bad \x00\x01\x1f\x7f \xff\xfe \u2029 é 日本 \b\f\r", Started: time.Time{}, Duration: -1}},
		{{Rule: "", Status: "", Attempts: math.MaxInt32, Result: json.RawMessage(`"\u2028<"`)}},
	}
}

// AppendOutcomesJSON writes what json.Marshal writes.
func TestAppendOutcomesJSONMatchesMarshal(t *testing.T) {
	for i, o := range outcomeCases() {
		want, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendOutcomesJSON(nil, o)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if string(got) != string(want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// What json.Marshal refuses is refused too.
func TestAppendOutcomesJSONRefuses(t *testing.T) {
	for name, o := range map[string]Outcome{
		"bad result": {Rule: "r", Result: json.RawMessage(`{"a":`)},
		"bad body":   {Rule: "r", Calls: []Call{{Body: json.RawMessage(`nope`)}}},
		"bad field":  {Rule: "r", Logs: []LogLine{{Fields: map[string]any{"f": math.Inf(1)}}}},
		"bad time":   {Rule: "r", Started: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := json.Marshal([]Outcome{o}); err == nil {
			t.Fatalf("%s: json.Marshal accepts it; the case is wrong", name)
		}
		if b, err := AppendOutcomesJSON(nil, []Outcome{o}); err == nil {
			t.Errorf("%s: accepted as %s", name, b)
		}
	}
}

func FuzzAppendOutcomesJSON(f *testing.F) {
	f.Add("rule", "plugin", "error \"<>&\u2028", "msg\n", `{"a":1}`, "/p", int64(12345))
	f.Add("\xff", "", "\x00", "", `[ 1 , "<" ]`, "", int64(-1))
	f.Fuzz(func(t *testing.T, rule, plugin, errText, msg, raw, path string, n int64) {
		o := []Outcome{{
			Rule: rule, Plugin: plugin, Status: "ok", Error: errText, Attempts: int(n % 1000),
			Result:   json.RawMessage(raw),
			Logs:     []LogLine{{Level: "info", Message: msg, Fields: map[string]any{msg: errText}}},
			Calls:    []Call{{Method: "POST", Path: path, Body: json.RawMessage(raw), Status: int(n % 600), Duration: time.Duration(n)}},
			Started:  time.Unix(0, n).UTC(),
			Duration: time.Duration(n),
		}}
		want, werr := json.Marshal(o)
		got, gerr := AppendOutcomesJSON(nil, o)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("json.Marshal error %v, AppendOutcomesJSON error %v", werr, gerr)
		}
		if werr == nil && string(got) != string(want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
