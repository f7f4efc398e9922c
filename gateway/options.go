package gateway

import (
	"github.com/hookgate/hookgate/plugins"
)

// Option changes how New (and DryRun) builds a gateway. Options are for
// programs that embed hookgate; the command line uses none.
type Option func(*options)

// options is what the Options set.
type options struct {
	modules []plugins.Module
}

// WithModules gives every plugin state these Lua modules, besides the
// built-in ones (gitlab, log, json, kv): for example a module that talks to
// a company's internal service. They are kept across reloads. A module
// whose name is not an identifier or clashes with a global (gitlab, log,
// string, ...) makes New fail. See plugins.Module for what Open must do.
func WithModules(mods ...plugins.Module) Option {
	return func(o *options) { o.modules = append(o.modules, mods...) }
}

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}
