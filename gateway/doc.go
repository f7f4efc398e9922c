// Package gateway owns the running service: the fiber receiver that
// authenticates, normalizes and durably enqueues each GitLab delivery, the
// worker pool that processes queued deliveries through rules and plugins,
// reloads, and the lifecycle that ties them together (start, SIGHUP, SIGTERM).
//
// Sub-packages hold the parts that stand alone: envelope (normalization),
// auth (secrets and signatures), queue (the durable queue and delivery log)
// and config.
package gateway
