package runtime

import (
	"math/rand/v2"
	"time"
)

// backoff is an exponential delay between restarts. A failing actor is
// retried soon (it may have hit a transient error) but ever more slowly, so
// a persistent fault does not burn CPU and flood the logs.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the delay before the next restart and doubles the base.
//
// The delay is jittered within [base/2, base] so that actors failing for a
// shared reason (a peer down) do not all retry in lockstep. Jitter below
// the base, rather than above it, keeps MaxBackoff a true ceiling, and while
// the base doubles each delay is at least the previous one (the next floor
// is this base).
func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur > b.max/2:
		b.cur = b.max
	default:
		b.cur *= 2
	}
	return jitter(b.cur)
}

// reset starts the sequence again at min, after the actor has proven
// stable; an actor that fails once a day should not wait MaxBackoff.
func (b *backoff) reset() { b.cur = 0 }

func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
