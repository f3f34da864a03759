package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Policy says what Send does when a mailbox is full. It is chosen where
// the actors are wired, because it is a property of the conversation (can
// this message be lost?), not of the receiving actor.
type Policy int

const (
	// Block waits for room until the sender's context is done, for
	// commands that must not be lost. A context without a deadline gets
	// DefaultSendTimeout, so a stuck receiver can never stall a sender
	// forever.
	Block Policy = iota
	// Reject fails at once with ErrMailboxFull, for high-rate events where
	// the sender must not slow down and a counter is enough.
	Reject
	// Latest keeps one slot: a new message replaces an unread one, for
	// state (membership, health tables, config) where only the newest
	// value matters. Send never fails for lack of room.
	Latest
)

func (p Policy) String() string {
	switch p {
	case Block:
		return "block"
	case Reject:
		return "reject"
	case Latest:
		return "latest"
	}
	return fmt.Sprintf("policy(%d)", int(p))
}

// DefaultSendTimeout bounds a Block send whose context has no deadline.
const DefaultSendTimeout = 5 * time.Second

var (
	// ErrMailboxFull: the message was not delivered because there was no
	// room (Reject at once, Block when the context ended first).
	ErrMailboxFull = errors.New("mailbox full")
	// ErrMailboxClosed: the mailbox was closed; nothing more is accepted.
	ErrMailboxClosed = errors.New("mailbox closed")
	// ErrNoMailbox: Send on the zero Address, i.e. wiring forgot to hand
	// the actor this address.
	ErrNoMailbox = errors.New("no mailbox")
	// ErrReplaced is reported in a MailboxDropped event when Latest
	// replaced an unread message; Send itself succeeds.
	ErrReplaced = errors.New("unread message replaced")
)

// Mailbox is a bounded, typed queue read by one actor. The wiring creates
// it and keeps it, so it outlives restarts of the actor that reads it: the
// address handed to senders stays valid and queued messages survive.
type Mailbox[T any] struct {
	name    string
	policy  Policy
	ch      chan T
	events  func(Event)
	dropped atomic.Uint64

	// latestMu serialises Latest senders so the evict-then-put loop cannot
	// be starved by another sender filling the slot in between.
	latestMu sync.Mutex

	closed    chan struct{}
	closeOnce sync.Once
}

// NewMailbox returns a mailbox holding up to capacity messages (at least
// one; Latest always holds exactly one). events may be nil.
//
// An unknown policy is a wiring bug and panics, so it is found at start-up
// rather than when the mailbox first fills.
func NewMailbox[T any](name string, capacity int, policy Policy, events func(Event)) *Mailbox[T] {
	switch policy {
	case Block, Reject:
	case Latest:
		capacity = 1
	default:
		panic(fmt.Sprintf("runtime: mailbox %q: unknown policy %d", name, int(policy)))
	}
	// An unbuffered mailbox would make Reject fail unless the receiver is
	// parked at that very moment, which is never what the wiring meant.
	capacity = max(capacity, 1)
	return &Mailbox[T]{
		name:   name,
		policy: policy,
		ch:     make(chan T, capacity),
		events: events,
		closed: make(chan struct{}),
	}
}

// Address returns the send-only handle to give to senders.
func (m *Mailbox[T]) Address() Address[T] { return Address[T]{m: m} }

// Receive is the channel the owning actor reads. It is never closed, even
// by Close, because senders may race with closing; the actor stops on its
// context instead.
func (m *Mailbox[T]) Receive() <-chan T { return m.ch }

// Len is the number of queued messages, for a depth gauge.
func (m *Mailbox[T]) Len() int { return len(m.ch) }

// Cap is the number of messages the mailbox holds when full.
func (m *Mailbox[T]) Cap() int { return cap(m.ch) }

// Name is the mailbox's name as used in errors and events.
func (m *Mailbox[T]) Name() string { return m.name }

// Policy is the full-mailbox policy chosen at construction.
func (m *Mailbox[T]) Policy() Policy { return m.policy }

// Dropped counts messages the mailbox did not deliver: rejected when full,
// timed out waiting for room under Block, or replaced unread under Latest.
func (m *Mailbox[T]) Dropped() uint64 { return m.dropped.Load() }

// Close makes every later Send fail with ErrMailboxClosed and wakes Block
// senders that are waiting for room. Queued messages stay readable.
// Close is idempotent.
func (m *Mailbox[T]) Close() {
	m.closeOnce.Do(func() { close(m.closed) })
}

func (m *Mailbox[T]) send(ctx context.Context, msg T) error {
	select {
	case <-m.closed:
		return fmt.Errorf("send to %q: %w", m.name, ErrMailboxClosed)
	default:
	}
	switch m.policy {
	case Reject:
		select {
		case m.ch <- msg:
			return nil
		default:
			return m.drop(fmt.Errorf("send to %q: %w", m.name, ErrMailboxFull))
		}
	case Latest:
		m.sendLatest(msg)
		return nil
	default:
		return m.sendBlock(ctx, msg)
	}
}

func (m *Mailbox[T]) sendBlock(ctx context.Context, msg T) error {
	// Room now wins over a context that is already done: the message is
	// delivered rather than lost for a reason the receiver cannot see.
	select {
	case m.ch <- msg:
		return nil
	default:
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSendTimeout)
		defer cancel()
	}
	select {
	case m.ch <- msg:
		return nil
	case <-m.closed:
		return fmt.Errorf("send to %q: %w", m.name, ErrMailboxClosed)
	case <-ctx.Done():
		return m.drop(fmt.Errorf("send to %q: %w: %w", m.name, ErrMailboxFull, ctx.Err()))
	}
}

func (m *Mailbox[T]) sendLatest(msg T) {
	m.latestMu.Lock()
	replaced := offerLatest(m.ch, msg)
	m.latestMu.Unlock()
	// Report after unlocking: the callback must not run under our lock.
	for range replaced {
		m.drop(fmt.Errorf("send to %q: %w", m.name, ErrReplaced))
	}
}

// drop counts and reports an undelivered message and returns err so the
// caller can hand it to the sender.
func (m *Mailbox[T]) drop(err error) error {
	n := m.dropped.Add(1)
	emit(m.events, Event{Kind: MailboxDropped, Mailbox: m.name, Policy: m.policy, Err: err, Dropped: n})
	return err
}

// Address is a typed, send-only handle to a mailbox. Handing an actor an
// Address rather than the Mailbox lets the compiler show who may talk to
// whom, and that only the owner reads.
//
// The zero Address is valid to hold but Send on it fails with ErrNoMailbox,
// so an actor wired without a peer fails loudly instead of panicking.
type Address[T any] struct {
	m *Mailbox[T]
}

// Send delivers msg according to the mailbox's policy. Under Block it
// waits for room until ctx is done, or DefaultSendTimeout if ctx has no
// deadline. Errors name the mailbox and wrap ErrMailboxFull,
// ErrMailboxClosed or ErrNoMailbox (and the context's error when a Block
// send timed out).
func (a Address[T]) Send(ctx context.Context, msg T) error {
	if a.m == nil {
		return fmt.Errorf("send to zero address: %w", ErrNoMailbox)
	}
	return a.m.send(ctx, msg)
}

// Name is the name of the mailbox behind the address, or "" for the zero
// Address.
func (a Address[T]) Name() string {
	if a.m == nil {
		return ""
	}
	return a.m.name
}

// IsZero reports whether the address points nowhere.
func (a Address[T]) IsZero() bool { return a.m == nil }
