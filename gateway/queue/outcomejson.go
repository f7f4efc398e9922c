package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hookgate/hookgate/internal/jsonstr"
)

// AppendOutcomesJSON appends the JSON encoding of outcomes to b: the same
// bytes as json.Marshal(outcomes), written without reflection (a worker
// records its outcomes once per delivery, and encoding/json spent 5-6 us
// on one outcome with a dry-run call). The free-form parts (raw results
// and bodies, log fields) still go through encoding/json.
func AppendOutcomesJSON(b []byte, outcomes []Outcome) ([]byte, error) {
	if outcomes == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range outcomes {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendOutcome(b, &outcomes[i]); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendOutcome(b []byte, o *Outcome) ([]byte, error) {
	var err error
	b = append(b, `{"rule":`...)
	b = jsonstr.Append(b, o.Rule, true)
	if o.Plugin != "" {
		b = append(b, `,"plugin":`...)
		b = jsonstr.Append(b, o.Plugin, true)
	}
	b = append(b, `,"status":`...)
	b = jsonstr.Append(b, o.Status, true)
	if len(o.Result) > 0 {
		b = append(b, `,"result":`...)
		if b, err = appendRaw(b, o.Result); err != nil {
			return nil, err
		}
	}
	if o.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonstr.Append(b, o.Error, true)
	}
	if len(o.Logs) > 0 {
		b = append(b, `,"logs":[`...)
		for i := range o.Logs {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendLogLine(b, &o.Logs[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if len(o.Calls) > 0 {
		b = append(b, `,"calls":[`...)
		for i := range o.Calls {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendCall(b, &o.Calls[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(o.Attempts), 10)
	b = append(b, `,"started":"`...)
	if b, err = o.Started.AppendText(b); err != nil { // what Time.MarshalJSON writes, unquoted
		return nil, fmt.Errorf("outcome of rule %s: started: %w", o.Rule, err)
	}
	b = append(b, '"')
	b = append(b, `,"duration_ns":`...)
	b = strconv.AppendInt(b, int64(o.Duration), 10)
	return append(b, '}'), nil
}

func appendLogLine(b []byte, l *LogLine) ([]byte, error) {
	b = append(b, `{"level":`...)
	b = jsonstr.Append(b, l.Level, true)
	b = append(b, `,"msg":`...)
	b = jsonstr.Append(b, l.Message, true)
	if len(l.Fields) > 0 {
		f, err := json.Marshal(l.Fields)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"fields":`...)
		b = append(b, f...)
	}
	return append(b, '}'), nil
}

func appendCall(b []byte, c *Call) ([]byte, error) {
	b = append(b, `{"method":`...)
	b = jsonstr.Append(b, c.Method, true)
	b = append(b, `,"path":`...)
	b = jsonstr.Append(b, c.Path, true)
	if len(c.Body) > 0 {
		b = append(b, `,"body":`...)
		var err error
		if b, err = appendRaw(b, c.Body); err != nil {
			return nil, err
		}
	}
	if c.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(c.Status), 10)
	}
	if c.Duration != 0 {
		b = append(b, `,"duration_ns":`...)
		b = strconv.AppendInt(b, int64(c.Duration), 10)
	}
	if c.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonstr.Append(b, c.Error, true)
	}
	if c.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	return append(b, '}'), nil
}

// appendRaw appends raw JSON as json.Marshal writes a json.RawMessage:
// checked, compacted, with <, >, &, U+2028 and U+2029 escaped.
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	start := buf.Len()
	if err := json.Compact(buf, raw); err != nil {
		return nil, fmt.Errorf("raw JSON: %w", err)
	}
	out := buf.Bytes()
	if !needsHTMLEscape(out[start:]) {
		return out, nil
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, out[start:])
	return append(out[:start], esc.Bytes()...), nil
}

func needsHTMLEscape(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '<' || c == '>' || c == '&':
			return true
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8: // U+2028, U+2029
			return true
		}
	}
	return false
}
