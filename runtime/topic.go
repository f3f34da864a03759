package runtime

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// ErrSubscriberFull is reported in a TopicDropped event when a subscriber
// had no room and lost its oldest unread message.
var ErrSubscriberFull = errors.New("subscriber full")

// Topic is a small typed broadcast: every subscriber gets its own bounded
// channel and a copy of each published value.
//
// Publish never blocks, so one slow subscriber cannot stall the publisher
// or the others. A full subscriber loses its oldest unread message rather
// than the new one: what is broadcast here is mostly state, and a late
// reader is better served by the newest value than by a stale one. Each
// loss is counted and reported as a TopicDropped event.
type Topic[T any] struct {
	name    string
	events  func(Event)
	dropped atomic.Uint64

	// mu guards subs and is held across the non-blocking sends in Publish
	// so that an unsubscribe cannot close a channel being sent on.
	mu   sync.Mutex
	subs []chan T
}

// NewTopic returns a topic with no subscribers. events may be nil.
func NewTopic[T any](name string, events func(Event)) *Topic[T] {
	return &Topic[T]{name: name, events: events}
}

// Name is the topic's name as used in events.
func (t *Topic[T]) Name() string { return t.name }

// Dropped counts messages lost by full subscribers.
func (t *Topic[T]) Dropped() uint64 { return t.dropped.Load() }

// Subscribe returns a channel buffering up to capacity messages (at least
// one) and a function that unsubscribes and closes the channel. The cancel
// function is idempotent; call it when the subscriber stops (an actor's
// restart subscribes afresh).
func (t *Topic[T]) Subscribe(capacity int) (<-chan T, func()) {
	ch := make(chan T, max(capacity, 1))
	t.mu.Lock()
	t.subs = append(t.subs, ch)
	t.mu.Unlock()
	cancel := sync.OnceFunc(func() {
		t.mu.Lock()
		t.subs = slices.DeleteFunc(t.subs, func(c chan T) bool { return c == ch })
		t.mu.Unlock()
		close(ch)
	})
	return ch, cancel
}

// Publish hands msg to every current subscriber without blocking.
func (t *Topic[T]) Publish(msg T) {
	var lost int
	t.mu.Lock()
	for _, ch := range t.subs {
		lost += offerLatest(ch, msg)
	}
	t.mu.Unlock()
	for range lost {
		n := t.dropped.Add(1)
		emit(t.events, Event{Kind: TopicDropped, Topic: t.name, Dropped: n,
			Err: fmt.Errorf("topic %q: %w", t.name, ErrSubscriberFull)})
	}
}

// offerLatest puts msg on ch, evicting the oldest unread messages to make
// room, and returns how many were evicted. Callers hold a lock that keeps
// other senders out, so the only competitor is the reader, which only
// removes: the loop therefore ends. Between our two selects the reader may
// take the old message; then there is nothing to evict and the next put
// succeeds.
func offerLatest[T any](ch chan T, msg T) int {
	evicted := 0
	for {
		select {
		case ch <- msg:
			return evicted
		default:
		}
		select {
		case <-ch:
			evicted++
		default:
		}
	}
}
