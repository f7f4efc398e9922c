// Package scaletest holds the scale-out tests of hookgate on the NATS
// JetStream backend, in a package of their own so they run beside the
// other packages' tests: three replicas (real processes) sharing one
// stream while one of them is killed with SIGKILL, and the throughput of
// 1, 2 and 3 replicas whose plugin waits on a slow GitLab. The NATS server
// runs embedded in the test process (natstest). It has no code of its own.
package scaletest
