// Package runtimetest holds what the tests of every actor share: waiting
// for a condition with a bound instead of sleeping (nats' checkFor).
package runtimetest

import (
	"testing"
	"time"
)

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test if it does not within bound: a hang fails instead of stalling CI.
func WaitFor(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
