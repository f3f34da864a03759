package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultAskTimeout bounds an Ask whose context has no deadline.
const DefaultAskTimeout = 5 * time.Second

// ErrNoReply is an Ask whose request was delivered but not answered in
// time: unlike a failed send, the receiver may still act on it.
var ErrNoReply = errors.New("no reply")

// Ask sends a request built around a fresh one-slot reply channel and waits
// for the reply. The receiver answers with a single send on the channel,
// which never blocks because of the slot, so a receiver is never stuck on a
// requester that gave up.
//
// Ask always has a deadline: ctx's, or DefaultAskTimeout if it has none,
// because an unanswered request must not hang its caller. The deadline
// covers both the send (under Block) and the wait for the reply. Errors
// name the mailbox. Actors must never ask each other in a cycle: two
// actors each waiting on the other's reply would deadlock until timeout.
func Ask[Req, Resp any](ctx context.Context, to Address[Req], build func(reply chan<- Resp) Req) (Resp, error) {
	var zero Resp
	if to.m == nil {
		return zero, fmt.Errorf("ask zero address: %w", ErrNoMailbox)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAskTimeout)
		defer cancel()
	}
	reply := make(chan Resp, 1)
	if err := to.Send(ctx, build(reply)); err != nil {
		return zero, fmt.Errorf("ask: %w", err)
	}
	select {
	case resp := <-reply:
		return resp, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("ask %q: %w: %w", to.m.name, ErrNoReply, ctx.Err())
	}
}
