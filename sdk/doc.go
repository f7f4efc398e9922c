// Package sdk owns what plugin authors and Go programs that embed hookgate
// use, beyond the runtime itself:
//
//   - lua/hookgate.d.lua: LuaLS type annotations of the event, handle and
//     every function the runtime gives scripts, so editors complete and
//     check plugin code (a test keeps them in sync with the runtime);
//   - sdk/plugintest: a harness for Go tests of plugins (load a plugin,
//     feed an event, get its result, logs and recorded GitLab calls) and
//     RunDir, which checks a folder of sample events against expected
//     dry-run results;
//   - sdk/samples: the sample-folder check behind RunDir and
//     `hookgate test --dir`;
//   - NewModule: a Lua module made of plain Go functions, for programs that
//     embed hookgate with gateway.New(cfg, log, gateway.WithModules(...)).
//
// See docs/sdk.md.
package sdk
