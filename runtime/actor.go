package runtime

import "context"

// Actor is anything long-running that the Supervisor keeps alive.
//
// Run blocks until ctx is cancelled or the actor fails, and leaves no
// goroutine behind when it returns. Because the supervisor calls Run again
// after a failure, Run must build its state on entry rather than in the
// constructor: a restart then starts from a clean slate instead of from the
// state that led to the failure. Mailboxes are owned by the wiring, not the
// actor, so a restart keeps its address and queued messages.
//
// Returning nil or an error wrapping ErrDoNotRestart means the actor has
// finished; any other error, or a panic, is a failure and leads to a
// restart; an error wrapping ErrFatal escalates at once.
type Actor interface {
	Name() string
	Run(ctx context.Context) error
}

// Readier is implemented by actors that need time before they can serve
// (a listener bound, a first snapshot built). The supervisor does not start
// the next actor until the returned channel is closed, so actors that
// depend on this one never see it half-started.
//
// Ready is called once, from the supervisor's goroutine, right after Run
// has been started; it must therefore be safe to call concurrently with
// Run and return the same channel for the life of the actor value.
type Readier interface {
	Ready() <-chan struct{}
}

// Drainer is implemented by actors that have a lame-duck step: stop taking
// new work but keep serving what they hold (the API refuses writes, gossip
// leaves the cluster, DNS keeps answering). The supervisor drains every
// actor, in reverse start order, before it stops any of them, so an actor
// that is still serving can rely on everything it depends on still running.
//
// Drain must return by ctx's deadline. It is called from another goroutine
// while the actor is still supervised, which may be between restarts, so
// it must not assume Run is there to answer it.
type Drainer interface {
	Drain(ctx context.Context) error
}
