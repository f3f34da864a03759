package hooks

import (
	"context"
	"sync"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// worker runs one hook's events, one at a time, in arrival order.
type worker struct {
	key     hookKey
	hook    config.Hook
	filter  filter
	shell   string
	selfEnv []string
	log     zerolog.Logger
	queue   *queue
	// stop is closed by Run's goroutine when the hook leaves the
	// configuration: the worker finishes its current run and exits.
	stop  chan struct{}
	onRun func(config.Hook, messages.HookEvent, string)
}

// offer queues ev; when the queue is full the oldest event is dropped to
// make room, because the newest event describes the cluster best.
func (w *worker) offer(ev messages.HookEvent) {
	if old, dropped := w.queue.push(ev); dropped {
		countDropped(old.Event)
		w.log.Warn().Str("event", old.Event).Str("user_event", old.UserEvent).Int("queue_size", w.queue.max).
			Msg("hook queue full: oldest event dropped")
	}
}

// loop runs queued events until the hook is removed or ctx ends. Either
// way the events still queued are dropped, counted and logged; a removed
// hook's current run completes, while ctx ending kills it.
func (w *worker) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			w.discard("shutting down")
			return
		case <-w.stop:
			w.discard("hook removed")
			return
		case <-w.queue.ready:
		}
		for {
			// A stop or cancel that came during a run wins over the next
			// queued event.
			select {
			case <-ctx.Done():
			case <-w.stop:
			default:
				if ev, ok := w.queue.pop(); ok {
					w.run(ctx, ev)
					continue
				}
			}
			break
		}
	}
}

func (w *worker) discard(why string) {
	evs := w.queue.drain()
	if len(evs) == 0 {
		return
	}
	for _, ev := range evs {
		countDropped(ev.Event)
	}
	w.log.Warn().Int("events", len(evs)).Str("reason", why).Msg("queued hook events dropped")
}

// queue is a bounded FIFO with one producer (Run's goroutine) and one
// consumer (the worker). A mutex rather than a channel makes "drop the
// oldest" exact: with a channel the producer could take an event the
// consumer had just made room for.
type queue struct {
	mu    sync.Mutex
	items []messages.HookEvent
	max   int
	// ready holds a token when events may be waiting.
	ready chan struct{}
	// closed is set by drain: a removed hook's worker may be between its
	// stop check and its next pop, and must find nothing more to run.
	closed bool
}

func newQueue(size int) *queue {
	return &queue{items: make([]messages.HookEvent, 0, size), max: size, ready: make(chan struct{}, 1)}
}

// push appends ev and returns the event it evicted, if the queue was full.
func (q *queue) push(ev messages.HookEvent) (old messages.HookEvent, dropped bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ev, true // nobody will run it: count it as dropped
	}
	if len(q.items) >= q.max {
		old, dropped = q.items[0], true
		n := copy(q.items, q.items[1:])
		clear(q.items[n:])
		q.items = q.items[:n]
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // a token is already waiting
	}
	return old, dropped
}

func (q *queue) pop() (messages.HookEvent, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.items) == 0 {
		return messages.HookEvent{}, false
	}
	ev := q.items[0]
	n := copy(q.items, q.items[1:])
	clear(q.items[n:])
	q.items = q.items[:n]
	return ev, true
}

// drain empties the queue for good and returns what it held.
func (q *queue) drain() []messages.HookEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	q.closed = true
	return out
}
