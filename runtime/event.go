package runtime

import (
	"fmt"
	"time"
)

// Kind says what an Event reports.
type Kind int

// The zero Kind is deliberately invalid so an Event built by mistake is
// visible as "unknown".
const (
	_ Kind = iota
	// ActorStarted: Run is being called (Restarts says how many times
	// before).
	ActorStarted
	// ActorReady: the actor's Ready channel closed, or it has none.
	ActorReady
	// ActorNotReady: the actor did not get ready within StartTimeout or
	// finished before it was ready; the supervisor stops and Run fails.
	ActorNotReady
	// ActorFailed: Run returned an error or panicked (Stack is set for a
	// panic).
	ActorFailed
	// ActorRestarting: the actor will be run again after Backoff.
	ActorRestarting
	// ActorEscalated: the supervisor gives up on the actor and stops
	// everything.
	ActorEscalated
	// ActorDraining: Drain is being called.
	ActorDraining
	// ActorDrained: Drain returned (Err is set if it failed or timed out).
	ActorDrained
	// ActorStopped: Run returned for good (Err is what it returned).
	ActorStopped
	// ActorAbandoned: the actor did not stop within StopTimeout; its
	// goroutine is left running so the process can still exit.
	ActorAbandoned
	// MailboxDropped: a message was not delivered (rejected, timed out) or
	// an unread one was replaced; Dropped is the mailbox's running total.
	MailboxDropped
	// TopicDropped: a full subscriber lost its oldest unread message;
	// Dropped is the topic's running total.
	TopicDropped
)

var kindNames = [...]string{
	ActorStarted:    "actor_started",
	ActorReady:      "actor_ready",
	ActorNotReady:   "actor_not_ready",
	ActorFailed:     "actor_failed",
	ActorRestarting: "actor_restarting",
	ActorEscalated:  "actor_escalated",
	ActorDraining:   "actor_draining",
	ActorDrained:    "actor_drained",
	ActorStopped:    "actor_stopped",
	ActorAbandoned:  "actor_abandoned",
	MailboxDropped:  "mailbox_dropped",
	TopicDropped:    "topic_dropped",
}

// String returns a snake_case name suitable for a log field or metric
// label.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Event is everything the runtime has to say. Fields that do not apply to
// a Kind are zero. Events are values: the callback may keep them.
//
// Event callbacks are called synchronously, possibly from several
// goroutines at once, and never while the runtime holds a lock; they should
// be quick (log, bump a counter) and must not call back into the component
// that reported the event in a way that waits on it.
type Event struct {
	Kind       Kind
	Supervisor string // the supervisor reporting an actor event
	Actor      string
	Mailbox    string
	Topic      string
	Policy     Policy        // MailboxDropped
	Err        error         // the failure, or why a message was dropped
	Backoff    time.Duration // ActorRestarting
	Restarts   int           // restarts of this actor so far
	Stack      []byte        // ActorFailed after a panic
	Dropped    uint64        // running total for the mailbox or topic
}

// emit calls fn if it is set; a nil callback means nobody is listening.
func emit(fn func(Event), e Event) {
	if fn != nil {
		fn(e)
	}
}
