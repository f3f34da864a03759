package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrPanic is wrapped by the error recorded when an actor's Run panicked.
var ErrPanic = errors.New("panic")

// supervise is one actor's one-for-one restart loop. It owns the actor's
// back-off and failure history, so no state is shared with other loops or
// with the supervisor beyond the escalation channel.
func (s *Supervisor) supervise(c *child, escalate chan<- escalation) {
	defer close(c.done)
	b := Backoff{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff}
	var failures []time.Time
	restarts := 0
	for {
		s.emit(Event{Kind: ActorStarted, Actor: c.name, Restarts: restarts})
		began := time.Now()
		stack, err := runOnce(c.ctx, c.actor)
		if stack != nil || (err != nil && c.ctx.Err() == nil) {
			s.emit(Event{Kind: ActorFailed, Actor: c.name, Err: err, Stack: stack, Restarts: restarts})
		}
		// Once the supervisor has cancelled us, whatever Run returned is
		// the stop, not a failure to act on.
		if c.ctx.Err() != nil || err == nil || (errors.Is(err, ErrDoNotRestart) && !errors.Is(err, ErrFatal)) {
			s.emit(Event{Kind: ActorStopped, Actor: c.name, Err: err, Restarts: restarts})
			return
		}

		now := time.Now()
		cutoff := now.Add(-s.opts.Period)
		for len(failures) > 0 && !failures[0].After(cutoff) {
			failures = failures[1:]
		}
		failures = append(failures, now)
		var why string
		switch {
		case errors.Is(err, ErrFatal):
			why = "fatal error"
		case len(failures) > s.opts.Intensity:
			why = fmt.Sprintf("%d failures within %s", len(failures), s.opts.Period)
		}
		if why != "" {
			esc := fmt.Errorf("supervisor %q: actor %q %w (%s): %w", s.name, c.name, ErrEscalated, why, err)
			s.emit(Event{Kind: ActorEscalated, Actor: c.name, Err: esc, Restarts: restarts})
			escalate <- escalation{err: esc}
			return
		}

		if now.Sub(began) >= s.opts.StableAfter {
			b.Reset()
		}
		delay := b.Next()
		restarts++
		s.emit(Event{Kind: ActorRestarting, Actor: c.name, Err: err, Backoff: delay, Restarts: restarts})
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-c.ctx.Done():
			timer.Stop()
			s.emit(Event{Kind: ActorStopped, Actor: c.name, Err: err, Restarts: restarts})
			return
		}
	}
}

// runOnce calls Run and turns a panic into an error plus its stack, so a
// bug in one actor costs a counted restart rather than the process.
func runOnce(ctx context.Context, a Actor) (stack []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			stack = debug.Stack()
			if re, ok := r.(error); ok {
				err = fmt.Errorf("actor %q: %w: %w", a.Name(), ErrPanic, re)
			} else {
				err = fmt.Errorf("actor %q: %w: %v", a.Name(), ErrPanic, r)
			}
		}
	}()
	return nil, a.Run(ctx)
}
