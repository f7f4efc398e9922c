// Package plugins owns the Lua runtime that rules run: compiling each
// plugins/NAME.lua once, pooling sandboxed gopher-lua states, converting the
// envelope to Lua, running handle(event, params) under a deadline, and the
// modules every script gets (log, json, retry, kv). The GitLab binding is the
// sub-package plugins/gitlab.
package plugins
