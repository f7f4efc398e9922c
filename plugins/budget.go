package plugins

import (
	"context"
	"errors"
	"fmt"
)

// Budgets of the conversions of Lua data into Go, one per conversion (a
// log line's fields, one call's arguments, one json.encode, a run's
// result, an error value). The values a budget counts include every visit
// of a shared table or string: a Lua table is a graph, and a small one (a
// table holding one subtable 24 times, six levels deep) is 24^6 values
// once expanded into Go maps or JSON.
const (
	// MaxConvertDepth caps the nesting of every conversion but log
	// fields: tables inside tables, the outermost counting one.
	MaxConvertDepth = maxJSONDepth
	// MaxArgValues and MaxArgBytes bound the arguments of one call of a
	// module function (SDK modules, gitlab): values visited, and bytes of
	// strings and keys (8 per other value). 8 MiB is the largest string a
	// binding hands a script (gitlab.file), so a plugin can pass it on.
	MaxArgValues = 1 << 16
	MaxArgBytes  = 8 << 20
	// MaxLogFieldValues bounds the fields of one log line; their bytes
	// are bounded by MaxLogBytes (strings counted as kept, at most
	// MaxLogMessageBytes each).
	MaxLogFieldValues = 1 << 16
	// MaxResultBytes caps the JSON of a run's result, kept in the
	// delivery log with every attempt.
	MaxResultBytes = 64 << 10
	// MaxErrorBytes caps the text of a run's error, kept in the delivery
	// log; longer text is cut and marked (see Truncate). An error table
	// whose JSON is longer is reported by its type instead.
	MaxErrorBytes = 8 << 10
)

// Budget bounds one conversion of Lua data into Go values or JSON: the
// values it visits, the bytes it produces, how deep tables nest, and a
// deadline (Ctx, looked at every ctxCheckEvery values). A table or string reached
// through several references is counted at every visit, so what a
// conversion costs is what it produces, whatever the Lua side shares.
//
// A Budget is used once, by one goroutine; the zero value of a Max field
// means no limit. Bindings that read their arguments themselves (flat
// option tables, lists of strings) count them with Add; nested data goes
// through ToGo.
type Budget struct {
	// What names the conversion in errors: "log.info: fields",
	// "company.ticket: arguments".
	What string
	// MaxValues caps the values visited: tables, scalars (not keys).
	MaxValues int
	// MaxBytes caps the bytes produced: the JSON text, or for Go values
	// the bytes of strings and keys plus 8 per number, boolean or nil.
	MaxBytes int
	// MaxDepth caps the nesting of tables.
	MaxDepth int
	// Ctx, when set, ends the conversion once it is done (the run's
	// deadline).
	Ctx context.Context

	values, bytes int
}

// ArgBudget is the budget of one module function call's arguments
// (MaxArgValues, MaxArgBytes, MaxConvertDepth), ending with ctx.
func ArgBudget(ctx context.Context, what string) *Budget {
	return &Budget{What: what, MaxValues: MaxArgValues, MaxBytes: MaxArgBytes, MaxDepth: MaxConvertDepth, Ctx: ctx}
}

// LimitError is a conversion that went past its budget. Its message
// names the conversion and the limit: "log.info: fields: too large (max
// 65536 values)".
type LimitError struct {
	What  string
	Max   int
	Units string // "values", "bytes"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: too large (max %d %s)", e.What, e.Max, e.Units)
}

// Add counts values and bytes a binding read from its arguments itself,
// failing with a *LimitError past the budget, or with the context's error
// once it is done.
func (b *Budget) Add(values, bytes int) error {
	if err := b.visit(values); err != nil {
		return err
	}
	return b.spend(bytes)
}

// Used reports the values and bytes counted so far.
func (b *Budget) Used() (values, bytes int) { return b.values, b.bytes }

// visit counts n values, looking at the context each ctxCheckEvery.
func (b *Budget) visit(n int) error {
	before := b.values
	b.values += n
	if b.MaxValues > 0 && b.values > b.MaxValues {
		return &LimitError{What: b.What, Max: b.MaxValues, Units: "values"}
	}
	if b.Ctx != nil && (before/ctxCheckEvery != b.values/ctxCheckEvery || n == 0) {
		if err := b.Ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", b.What, err)
		}
	}
	return nil
}

// room fails, without counting, when n more values could not fit: a
// table's entries are checked before they are sorted or walked.
func (b *Budget) room(n int) error {
	if b.MaxValues > 0 && b.values+n > b.MaxValues {
		return &LimitError{What: b.What, Max: b.MaxValues, Units: "values"}
	}
	return nil
}

// fits fails, without counting, when n more bytes could not fit: checked
// before a long string is copied.
func (b *Budget) fits(n int) error {
	if b.MaxBytes > 0 && b.bytes+n > b.MaxBytes {
		return &LimitError{What: b.What, Max: b.MaxBytes, Units: "bytes"}
	}
	return nil
}

// spend counts n bytes produced.
func (b *Budget) spend(n int) error {
	if err := b.fits(n); err != nil {
		return err
	}
	b.bytes += n
	return nil
}

// fail gives a conversion error its final form: limits and the context's
// end as they are, anything else prefixed with What.
func (b *Budget) fail(err error) error {
	if IsLimit(err) || isCtxErr(err) {
		return err
	}
	return fmt.Errorf("%s: %w", b.What, err)
}

// IsLimit reports whether err is (or wraps) a conversion past its budget.
func IsLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}

// isCtxErr reports whether err is a context's end.
func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
