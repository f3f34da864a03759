package runtime

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential delay between retries: of a failed actor here,
// of a join or a reconnect in the actors. A failure is retried soon (it may
// be transient) but ever more slowly, so a persistent fault does not burn
// CPU and flood the logs. The zero value is unusable: set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next restart and doubles the base.
//
// The delay is jittered within [base/2, base] so that actors failing for a
// shared reason (a peer down) do not all retry in lockstep. Jitter below
// the base, rather than above it, keeps MaxBackoff a true ceiling, and while
// the base doubles each delay is at least the previous one (the next floor
// is this base).
func (b *Backoff) Next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.Min
	case b.cur > b.Max/2:
		b.cur = b.Max
	default:
		b.cur *= 2
	}
	return jitter(b.cur)
}

// Reset starts the sequence again at Min, after the actor has proven
// stable; an actor that fails once a day should not wait MaxBackoff.
func (b *Backoff) Reset() { b.cur = 0 }

func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
