// Package runtime is OpenGSLB's small actor runtime: typed bounded
// mailboxes, send-only addresses, request/reply with a deadline, a typed
// broadcast topic, and a supervisor that starts actors in dependency order,
// restarts them with back-off and stops them in reverse order after a
// lame-duck drain.
//
// It knows nothing about DNS and never logs: everything worth knowing is
// reported as an Event to a callback supplied by the caller, which turns
// events into log lines and metrics. That keeps the policy of what to log
// and count in one place (cmd) and keeps this package testable without
// capturing output.
package runtime
