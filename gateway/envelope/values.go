package envelope

import (
	"math"
	"strconv"
	"strings"
)

// The helpers below read one JSON value leniently: a value of an unexpected
// type gives the zero value (or a sensible conversion) instead of an error,
// because one odd field must never make GitLab's delivery fail. They all
// accept a missing value (a missing field).

// object returns v's member key if that is a JSON object, else a missing
// value.
func object(v value, key string) value {
	m := v.get(key)
	if m.kind() != kindObject {
		return value{}
	}
	return m
}

// str returns v as a string: a JSON string as is (unescaped), a number as
// its JSON text, a boolean as "true" or "false"; null, objects and arrays
// give "". The result never shares memory with the parser.
func str(v value) string {
	switch v.kind() {
	case kindString:
		return string(v.stringBytes())
	case kindNumber:
		return string(v.text())
	case kindTrue:
		return "true"
	case kindFalse:
		return "false"
	}
	return ""
}

// enum is str for values that usually come from a small known set (kinds,
// actions, states, noteable types): known values are returned as constants,
// without allocating.
func enum(v value) string {
	if v.kind() != kindString {
		return str(v)
	}
	b := v.stringBytes()
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}

// interned holds the enumeration values GitLab sends most.
var interned = func() map[string]string {
	words := []string{
		// object_kind and event_name
		"push", "tag_push", "issue", "note", "merge_request", "pipeline",
		"build", "wiki_page", "deployment", "release", "emoji",
		"feature_flag", "milestone", "access_token", "work_item",
		"vulnerability", "repository_update", "project_create",
		"project_destroy", "project_rename", "project_transfer",
		"project_update", "user_add_to_team", "user_remove_from_team",
		"user_update_for_team", "user_add_to_group",
		"user_remove_from_group", "user_update_for_group", "user_create",
		"user_destroy", "user_rename", "user_failed_login", "key_create",
		"key_destroy", "group_create", "group_destroy", "group_rename",
		"subgroup_create", "subgroup_destroy",
		// actions
		"open", "close", "reopen", "update", "merge", "approved",
		"unapproved", "approval", "unapproval", "create", "delete",
		"award", "revoke",
		// states and noteable types
		"opened", "closed", "merged", "locked", "active",
		"MergeRequest", "Issue", "Commit", "Snippet",
	}
	m := make(map[string]string, len(words))
	for _, w := range words {
		m[w] = w
	}
	return m
}()

// num returns v as an int64: a JSON integer, a float with no fraction, or a
// string holding either; anything else (or out of range) gives 0.
func num(v value) int64 {
	var text string
	switch v.kind() {
	case kindNumber:
		if n, ok := v.int64(); ok {
			return n
		}
		f, err := v.float64()
		if err != nil {
			return 0
		}
		return wholeInt(f)
	case kindString:
		text = strings.TrimSpace(string(v.stringBytes()))
	default:
		return 0
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0
	}
	return wholeInt(f)
}

// wholeInt converts f to int64 when it is a whole number in range, else 0.
func wholeInt(f float64) int64 {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0
	}
	return int64(f)
}

// boolean returns v as a bool: JSON true, a non-zero number, or a string
// that strconv.ParseBool reads as true ("true", "1", "t", ...).
func boolean(v value) bool {
	switch v.kind() {
	case kindTrue:
		return true
	case kindNumber:
		f, err := v.float64()
		return err == nil && f != 0
	case kindString:
		ok, err := strconv.ParseBool(strings.TrimSpace(string(v.stringBytes())))
		return err == nil && ok
	}
	return false
}

// labelTitles returns the titles of a JSON array of labels, whose items are
// objects with a "title" or plain strings. It returns nil when v is not an
// array (so the caller can try another source) and a non-nil slice when it
// is one, even an empty one.
func labelTitles(v value) []string {
	if v.kind() != kindArray {
		return nil
	}
	titles := make([]string, 0, v.len())
	for it := range v.items() {
		var t string
		if it.kind() == kindObject {
			t = str(it.get("title"))
		} else {
			t = str(it)
		}
		if t != "" {
			titles = append(titles, t)
		}
	}
	return titles
}
