package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
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
	b = appendJSONString(b, o.Rule)
	if o.Plugin != "" {
		b = append(b, `,"plugin":`...)
		b = appendJSONString(b, o.Plugin)
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, o.Status)
	if len(o.Result) > 0 {
		b = append(b, `,"result":`...)
		if b, err = appendRaw(b, o.Result); err != nil {
			return nil, err
		}
	}
	if o.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, o.Error)
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
	b = appendJSONString(b, l.Level)
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, l.Message)
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
	b = appendJSONString(b, c.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, c.Path)
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
		b = appendJSONString(b, c.Error)
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

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes strings (with
// its default HTML escaping): invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
