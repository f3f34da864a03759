package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

type double struct {
	n     int
	reply chan<- int
}

func TestAskReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMailbox[double]("calc", 1, Block, nil)
		go func() {
			req := <-m.Receive()
			req.reply <- req.n * 2
		}()
		got, err := Ask(context.Background(), m.Address(), func(reply chan<- int) double {
			return double{n: 21, reply: reply}
		})
		if err != nil || got != 42 {
			t.Fatalf("Ask = %d, %v; want 42, nil", got, err)
		}
	})
}

func TestAskTimesOutWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMailbox[double]("calc", 1, Block, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := Ask(ctx, m.Address(), func(reply chan<- int) double { return double{reply: reply} })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), `"calc"`) {
			t.Errorf("error %q does not name the mailbox", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("waited %v, want the context's 1s", waited)
		}
		// The request was delivered; a late reply does not block the
		// receiver, thanks to the reply slot.
		req := <-m.Receive()
		req.reply <- 1
	})
}

func TestAskWithoutDeadlineUsesDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMailbox[double]("calc", 1, Block, nil)
		start := time.Now()
		_, err := Ask(context.Background(), m.Address(), func(reply chan<- int) double { return double{reply: reply} })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != DefaultAskTimeout {
			t.Errorf("waited %v, want DefaultAskTimeout %v", waited, DefaultAskTimeout)
		}
	})
}

func TestAskSendFailures(t *testing.T) {
	build := func(reply chan<- int) double { return double{reply: reply} }

	m := NewMailbox[double]("calc", 1, Reject, nil)
	_ = m.Address().Send(context.Background(), double{})
	if _, err := Ask(context.Background(), m.Address(), build); !errors.Is(err, ErrMailboxFull) || !strings.Contains(err.Error(), `"calc"`) {
		t.Errorf("ask full mailbox: err = %v, want ErrMailboxFull naming calc", err)
	}

	if _, err := Ask(context.Background(), Address[double]{}, build); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("ask zero address: err = %v, want ErrNoMailbox", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	empty := NewMailbox[double]("calc", 1, Block, nil)
	if _, err := Ask(ctx, empty.Address(), build); !errors.Is(err, context.Canceled) {
		t.Errorf("ask with cancelled ctx: err = %v, want Canceled", err)
	}
}
