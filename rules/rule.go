// Package rules owns hookgate's rule engine: loading TOML rule files,
// compiling their expr-lang conditions against the envelope, and matching
// an envelope against the loaded set to decide which plugins run with
// which params. It also offers the pieces for hot reload (Holder, Watch).
//
// Comment commands are parsed with the envelope (gateway/envelope/command):
// rules read them as the commands and command fields.
//
// The rule format, the fields a condition can read and the helpers are
// documented for admins in docs/rules.md.
package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule is one [[rule]] table of a rule file, validated and compiled. A Rule
// is immutable once loaded and shared by concurrent matches.
type Rule struct {
	// Name is unique across all loaded files.
	Name string
	// Description is free text for people (and `hookgate check` output).
	Description string
	// Enabled is false for rules switched off with enabled = false; such
	// rules are still checked when loading but never match.
	Enabled bool
	// On lists the envelope kinds the rule applies to; empty means all.
	On []string
	// When is the condition's source text; "" means always true.
	When string
	// Plugin is the plugin to run: plugins/<Plugin>.lua.
	Plugin string
	// Params is the rule's params table, handed to the plugin. It is shared
	// by every match of the rule: callers must not modify it.
	Params map[string]any
	// Stop means no later rule runs for an event this rule matched.
	Stop bool
	// Projects are globs of project paths (see docs/rules.md); empty means
	// every project.
	Projects []string
	// RequireAccess is the minimum GitLab access level (10 guest .. 50
	// owner) of the user who caused the event; 0 means no check.
	RequireAccess int
	// AllowBots lets events by the bot user and system notes match.
	AllowBots bool
	// OnEdit lets edited notes (action "update") match.
	OnEdit bool

	// File and Line say where the rule's [[rule]] header is.
	File string
	Line int

	cond *condition // nil when When is ""
}

// String returns "name (file:line)".
func (r *Rule) String() string {
	return fmt.Sprintf("%s (%s:%d)", r.Name, r.File, r.Line)
}

// GitLab access levels, as the members API reports them.
const (
	AccessGuest      = 10
	AccessPlanner    = 15
	AccessReporter   = 20
	AccessDeveloper  = 30
	AccessMaintainer = 40
	AccessOwner      = 50
)

var accessNames = map[string]int{
	"guest":      AccessGuest,
	"planner":    AccessPlanner,
	"reporter":   AccessReporter,
	"developer":  AccessDeveloper,
	"maintainer": AccessMaintainer,
	"owner":      AccessOwner,
}

// AccessName returns the role name of level ("developer" for 30), or the
// number when it is not a named level ("no access" for 0).
func AccessName(level int) string {
	if level <= 0 {
		return "no access"
	}
	for name, l := range accessNames {
		if l == level {
			return name
		}
	}
	return strconv.Itoa(level)
}

// parseAccess reads a require_access value: a role name or an integer
// level from 10 to 50.
func parseAccess(v any) (int, error) {
	switch x := v.(type) {
	case string:
		if l, ok := accessNames[strings.ToLower(x)]; ok {
			return l, nil
		}
		return 0, fmt.Errorf("require_access %q is not one of guest, planner, reporter, developer, maintainer, owner", x)
	case int64:
		if x < AccessGuest || x > AccessOwner {
			return 0, fmt.Errorf("require_access %d is out of range (10 guest .. 50 owner)", x)
		}
		return int(x), nil
	default:
		return 0, fmt.Errorf("require_access must be a role name or an integer, not %s", tomlType(v))
	}
}
