package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as time.ParseDuration text, so an encoded config
// decodes back to the same value.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads time.ParseDuration text ("5s", "1m30s", "168h").
// Negative durations are refused. The error names the text, not the key:
// Load adds " for <key>" and the position.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q", text)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", text)
	}
	*d = Duration(v)
	return nil
}

// Byte multiples understood by Size: decimal (KB = 1000) and binary
// (KiB = 1024) units. Unit letters are matched case-insensitively.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"tb":  1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// Int64 returns s as a plain byte count.
func (s Size) Int64() int64 { return int64(s) }

// String formats s with the largest binary unit that divides it exactly
// ("25MiB"), or as plain bytes ("1234").
func (s Size) String() string {
	n := int64(s)
	for _, u := range []struct {
		name string
		mul  int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mul == 0 {
			return strconv.FormatInt(n/u.mul, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// MarshalText writes s in the form String gives; it decodes back exactly.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a byte count: digits with an optional unit, e.g.
// "26214400", "25MiB", "512KB", "1GiB", "10 MB". KB, MB, GB, TB are powers
// of 1000; KiB, MiB, GiB, TiB powers of 1024. Negative sizes and sizes
// beyond int64 are refused.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := parseSize(string(text))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// UnmarshalTOML accepts a TOML integer (bytes) or a string with a unit.
func (s *Size) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("negative size %d", x)
		}
		*s = Size(x)
		return nil
	case string:
		return s.UnmarshalText([]byte(x))
	default:
		return fmt.Errorf("invalid size %v: want an integer or a string like \"25MiB\"", v)
	}
}

func parseSize(text string) (int64, error) {
	t := strings.TrimSpace(text)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q", text)
	}
	mul, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("invalid size %q", text)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mul {
		return 0, fmt.Errorf("size %q is too large", text)
	}
	return n * mul, nil
}

// Secret is resolved during Load; these are the forms its text may take.
const (
	envPrefix  = "env:"
	filePrefix = "file:"
)

// secretValue sits behind a pointer so that no fmt verb (not even %d or
// %#v on an enclosing struct) can print the value: fmt shows nested
// pointers as addresses.
type secretValue struct {
	value string // resolved value; empty until resolved for env:/file:
	raw   string // the text as written: a literal, "env:NAME" or "file:PATH"
}

// NewSecret returns a Secret holding value as a literal (for tests and for
// secrets made at run time, e.g. a generated webhook token).
func NewSecret(value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{s: &secretValue{value: value, raw: value}}
}

// Value returns the secret itself. Use it only where the secret is needed
// (comparison, an Authorization header); never log it.
func (s Secret) Value() string {
	if s.s == nil {
		return ""
	}
	return s.s.value
}

// IsSet reports whether the secret has a non-empty value.
func (s Secret) IsSet() bool { return s.Value() != "" }

// Source says where the value came from without showing it: "env:NAME",
// "file:PATH", "literal", or "" when unset.
func (s Secret) Source() string {
	if s.s == nil || s.s.raw == "" {
		return ""
	}
	if strings.HasPrefix(s.s.raw, envPrefix) || strings.HasPrefix(s.s.raw, filePrefix) {
		return s.s.raw
	}
	return "literal"
}

// String returns "[redacted]", or "" when the secret is empty.
func (s Secret) String() string {
	if s.s == nil || (s.s.value == "" && s.s.raw == "") {
		return ""
	}
	return "[redacted]"
}

// GoString redacts like String, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// MarshalText redacts like String, so JSON or TOML dumps of a Config never
// carry a secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText stores the text as written. A literal is usable at once;
// "env:NAME" and "file:PATH" are read by Load (see resolve), which knows
// the config file's folder and can name the key in errors.
func (s *Secret) UnmarshalText(text []byte) error {
	raw := string(text)
	if raw == "" {
		*s = Secret{}
		return nil
	}
	v := &secretValue{raw: raw}
	if !strings.HasPrefix(raw, envPrefix) && !strings.HasPrefix(raw, filePrefix) {
		v.value = raw
	}
	*s = Secret{s: v}
	return nil
}
