package runtime

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestMailboxBlockWaitsForContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{}
		m := NewMailbox[int]("zone", 2, Block, log.record)
		addr := m.Address()
		for i := range 2 {
			if err := addr.Send(context.Background(), i); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if m.Len() != 2 || m.Cap() != 2 {
			t.Fatalf("len/cap = %d/%d, want 2/2", m.Len(), m.Cap())
		}

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := addr.Send(ctx, 3)
		if !errors.Is(err, ErrMailboxFull) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("send to full mailbox: err = %v, want ErrMailboxFull and DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), `"zone"`) {
			t.Errorf("error %q does not name the mailbox", err)
		}
		if waited := time.Since(start); waited != 100*time.Millisecond {
			t.Errorf("waited %v, want the context's 100ms", waited)
		}
		if m.Dropped() != 1 {
			t.Errorf("Dropped = %d, want 1", m.Dropped())
		}
		ev := log.of(MailboxDropped, "")
		if len(ev) != 1 || ev[0].Mailbox != "zone" || ev[0].Policy != Block || ev[0].Dropped != 1 || !errors.Is(ev[0].Err, ErrMailboxFull) {
			t.Errorf("events = %+v, want one MailboxDropped for zone/block", ev)
		}
	})
}

func TestMailboxBlockWithoutDeadlineIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMailbox[int]("zone", 1, Block, nil)
		_ = m.Address().Send(context.Background(), 1)
		start := time.Now()
		err := m.Address().Send(context.Background(), 2)
		if !errors.Is(err, ErrMailboxFull) {
			t.Fatalf("err = %v, want ErrMailboxFull", err)
		}
		if waited := time.Since(start); waited != DefaultSendTimeout {
			t.Errorf("waited %v, want DefaultSendTimeout %v", waited, DefaultSendTimeout)
		}
	})
}

func TestMailboxBlockDeliversWhenRoomAppears(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMailbox[int]("zone", 1, Block, nil)
		_ = m.Address().Send(context.Background(), 1)
		done := make(chan error, 1)
		go func() { done <- m.Address().Send(context.Background(), 2) }()
		synctest.Wait() // the sender is parked on the full mailbox
		select {
		case err := <-done:
			t.Fatalf("send returned %v before there was room", err)
		default:
		}
		if got := <-m.Receive(); got != 1 {
			t.Fatalf("received %d, want 1", got)
		}
		if err := <-done; err != nil {
			t.Fatalf("blocked send: %v", err)
		}
		if got := <-m.Receive(); got != 2 {
			t.Fatalf("received %d, want 2", got)
		}
		if m.Dropped() != 0 {
			t.Errorf("Dropped = %d, want 0", m.Dropped())
		}
	})
}

func TestMailboxRejectFailsAtOnce(t *testing.T) {
	log := &eventLog{}
	m := NewMailbox[string]("health", 1, Reject, log.record)
	addr := m.Address()
	if err := addr.Send(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	err := addr.Send(context.Background(), "b")
	if !errors.Is(err, ErrMailboxFull) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want only ErrMailboxFull", err)
	}
	if !strings.Contains(err.Error(), `"health"`) {
		t.Errorf("error %q does not name the mailbox", err)
	}
	_ = addr.Send(context.Background(), "c")
	if m.Dropped() != 2 {
		t.Errorf("Dropped = %d, want 2", m.Dropped())
	}
	ev := log.of(MailboxDropped, "")
	if len(ev) != 2 || ev[1].Policy != Reject || ev[1].Dropped != 2 {
		t.Errorf("events = %+v, want two MailboxDropped for reject", ev)
	}
	if got := <-m.Receive(); got != "a" {
		t.Errorf("received %q, want the first message", got)
	}
}

func TestMailboxLatestReplacesUnread(t *testing.T) {
	log := &eventLog{}
	m := NewMailbox[int]("membership", 10, Latest, log.record)
	if m.Cap() != 1 {
		t.Fatalf("Cap = %d, want 1 for Latest whatever the capacity asked", m.Cap())
	}
	for i := 1; i <= 3; i++ {
		if err := m.Address().Send(context.Background(), i); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1", m.Len())
	}
	if got := <-m.Receive(); got != 3 {
		t.Fatalf("received %d, want the latest (3)", got)
	}
	if m.Dropped() != 2 {
		t.Errorf("Dropped = %d, want 2 replaced", m.Dropped())
	}
	ev := log.of(MailboxDropped, "")
	if len(ev) != 2 || !errors.Is(ev[0].Err, ErrReplaced) || ev[0].Policy != Latest {
		t.Errorf("events = %+v, want two replacements", ev)
	}
	// Reading empties the slot; the next send replaces nothing.
	_ = m.Address().Send(context.Background(), 4)
	if m.Dropped() != 2 {
		t.Errorf("Dropped = %d after sending to an empty slot, want 2", m.Dropped())
	}
}

// Every message sent to a Latest mailbox is either read or counted as
// replaced, however senders and the reader interleave.
func TestMailboxLatestAccountsForEveryMessage(t *testing.T) {
	m := NewMailbox[int]("state", 1, Latest, nil)
	const senders, each = 4, 500
	var received int
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-m.Receive():
				received++
			case <-stop:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for i := range each {
				_ = m.Address().Send(context.Background(), i)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-readerDone
	received += m.Len()
	if got := uint64(received) + m.Dropped(); got != senders*each {
		t.Fatalf("received %d + dropped %d = %d, want %d", received, m.Dropped(), got, senders*each)
	}
}

func TestMailboxClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, p := range []Policy{Block, Reject, Latest} {
			m := NewMailbox[int]("m-"+p.String(), 1, p, nil)
			_ = m.Address().Send(context.Background(), 1)
			m.Close()
			m.Close() // idempotent
			if err := m.Address().Send(context.Background(), 2); !errors.Is(err, ErrMailboxClosed) {
				t.Errorf("%v: send after close: err = %v, want ErrMailboxClosed", p, err)
			}
			if got := <-m.Receive(); got != 1 {
				t.Errorf("%v: queued message lost on close: got %d", p, got)
			}
			if m.Dropped() != 0 {
				t.Errorf("%v: Dropped = %d, want 0: a closed mailbox is not a full one", p, m.Dropped())
			}
		}

		// A sender waiting for room is woken by Close.
		m := NewMailbox[int]("zone", 1, Block, nil)
		_ = m.Address().Send(context.Background(), 1)
		done := make(chan error, 1)
		go func() { done <- m.Address().Send(context.Background(), 2) }()
		synctest.Wait()
		m.Close()
		if err := <-done; !errors.Is(err, ErrMailboxClosed) {
			t.Errorf("blocked sender: err = %v, want ErrMailboxClosed", err)
		}
	})
}

func TestAddressZeroValue(t *testing.T) {
	var a Address[int]
	if !a.IsZero() || a.Name() != "" {
		t.Fatalf("zero address: IsZero=%v Name=%q", a.IsZero(), a.Name())
	}
	if err := a.Send(context.Background(), 1); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("send on zero address: err = %v, want ErrNoMailbox", err)
	}
	m := NewMailbox[int]("zone", 1, Block, nil)
	if a := m.Address(); a.IsZero() || a.Name() != "zone" {
		t.Fatalf("address of mailbox: IsZero=%v Name=%q", a.IsZero(), a.Name())
	}
}

func TestMailboxUnknownPolicyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewMailbox with an unknown policy did not panic")
		}
	}()
	NewMailbox[int]("bad", 1, Policy(42), nil)
}
