// Package hooks provides the hook Runner: it runs the [[hooks]] commands of
// the configuration for gossip and health events, the way serf's agent runs
// its event handlers, so scripts written for serf work unchanged.
//
// Every hook has its own goroutine and bounded queue. A hook runs one event
// at a time, hooks do not wait for each other, and the Runner's inbox loop
// never waits for a command: a slow script delays only its own later runs,
// never gossip. When a hook's queue is full its oldest event is dropped,
// counted and logged.
package hooks

import (
	"context"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// Defaults for Options and config.Hook fields left zero.
const (
	DefaultQueueSize = 64
	DefaultShell     = "/bin/sh"
	DefaultTimeout   = 30 * time.Second
)

// Self describes this node to hook commands, as SERF_SELF_NAME,
// SERF_SELF_ROLE and one SERF_TAG_<NAME> per tag. Role is serf's "role" tag:
// when set it is also exported as SERF_TAG_ROLE, as serf does.
type Self struct {
	Name string
	Role string
	Tags map[string]string
}

// Options tune the Runner; zero values take defaults.
type Options struct {
	// QueueSize is how many events each hook holds while it is busy.
	// Default DefaultQueueSize.
	QueueSize int
	// Shell runs a hook's command as `Shell -c command`. Default
	// DefaultShell.
	Shell string
}

// Runner is the hook actor. Construct it with New, then Run it under a
// supervisor; its inbox should be wired with runtime.Reject so that a burst
// of events never stalls the gossip actor that sends them.
type Runner struct {
	log   zerolog.Logger
	inbox *runtime.Mailbox[messages.HookMsg]
	opts  Options
	// selfEnv is the part of every command's environment that describes
	// this node; it does not change for the life of the Runner.
	selfEnv []string

	// hooks and gen are the last applied [[hooks]] and their config
	// generation; only Run's goroutine touches them, and a restarted Run
	// rebuilds its workers from them.
	hooks []config.Hook
	gen   uint64

	// onRun, when set (by tests), is called by a worker after each run with
	// the run's result.
	onRun func(h config.Hook, ev messages.HookEvent, result string)
}

// New returns a Runner for hooks (the configuration in force at start-up)
// that takes events and ConfigApplied from inbox. It starts nothing.
func New(log zerolog.Logger, inbox *runtime.Mailbox[messages.HookMsg], self Self, hooks []config.Hook, opts Options) *Runner {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Shell == "" {
		opts.Shell = DefaultShell
	}
	return &Runner{
		log:     log.With().Str("actor", "hooks").Logger(),
		inbox:   inbox,
		opts:    opts,
		selfEnv: selfEnv(self.Name, self.Role, maps.Clone(self.Tags)),
		hooks:   slices.Clone(hooks),
	}
}

// Name is the actor's name for the supervisor, logs and metrics.
func (r *Runner) Name() string { return "hooks" }

// Run dispatches events to the hooks' workers until ctx ends, replacing the
// hooks on every newer ConfigApplied. It starts the workers on entry, so a
// supervisor may call it again after a failure, and returns only after
// every worker has exited and every command it started has been killed or
// has exited. A panic in a worker is returned as an error so the supervisor
// counts a restart.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	failed := make(chan error, 1)
	// Cancelling ctx kills running commands and discards queued events;
	// removed workers that are finishing a run are in wg too.
	defer func() {
		cancel()
		wg.Wait()
	}()

	workers := r.reconcile(ctx, &wg, failed, nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case msg := <-r.inbox.Receive():
			switch m := msg.(type) {
			case messages.HookEvent:
				r.dispatch(workers, m)
			case messages.ConfigApplied:
				if m.Config == nil {
					r.log.Warn().Uint64("generation", m.Generation).Msg("config applied without a config: ignored")
					continue
				}
				if m.Generation < r.gen {
					r.log.Warn().Uint64("generation", m.Generation).Uint64("current", r.gen).Msg("stale config generation: ignored")
					continue
				}
				r.hooks, r.gen = m.Config.Hooks, m.Generation
				workers = r.reconcile(ctx, &wg, failed, workers)
			default:
				unexpectedMessages.Inc()
				r.log.Warn().Str("type", fmt.Sprintf("%T", msg)).Msg("unexpected message: ignored")
			}
		}
	}
}

// dispatch queues ev on every hook it matches. It never waits: a busy hook
// holds the event in its queue, a full one drops its oldest.
func (r *Runner) dispatch(workers []*worker, ev messages.HookEvent) {
	if ev.Event == "" || (ev.Event == config.HookBackendHealth && ev.Backend == nil) {
		unexpectedMessages.Inc()
		r.log.Warn().Str("event", ev.Event).Msg("hook event without a name or backend: ignored")
		return
	}
	for _, w := range workers {
		if w.filter.matches(ev) {
			w.offer(ev)
		}
	}
}

// reconcile makes the workers match r.hooks and returns them in config
// order. A worker whose hook is unchanged keeps running with its queue; a
// removed or changed one is told to stop, which it does after its current
// run (dropping what it had queued), without Run waiting for it, because
// Run must never wait on a command.
func (r *Runner) reconcile(ctx context.Context, wg *sync.WaitGroup, failed chan<- error, old []*worker) []*worker {
	// A hook listed twice runs twice per event, as in serf: identical hooks
	// are told apart by their occurrence.
	byKey := make(map[hookKey]*worker, len(old))
	for _, w := range old {
		byKey[w.key] = w
	}
	seen := make(map[hookKey]int, len(r.hooks))
	out := make([]*worker, 0, len(r.hooks))
	for _, h := range r.hooks {
		base := keyOf(h)
		k := base
		k.n = seen[base]
		seen[base]++
		if w, ok := byKey[k]; ok {
			delete(byKey, k)
			out = append(out, w)
			continue
		}
		if h.Command == "" {
			r.log.Error().Str("hook_event", h.Event).Msg("hook without a command: not run")
			continue
		}
		f := parseFilter(h.Event)
		if !f.known() {
			r.log.Warn().Str("hook_event", h.Event).Str("command", h.Command).Msg("unknown hook event: the hook never runs")
		}
		out = append(out, r.start(ctx, wg, failed, k, h, f))
	}
	for _, w := range old {
		if byKey[w.key] == w {
			w.log.Info().Msg("hook removed: stops after its current run")
			close(w.stop)
			// The queue is dropped now rather than when the current run
			// ends, which may be a timeout away.
			w.discard("hook removed")
		}
	}
	return out
}

// start launches one hook's worker, counted in wg. A panic in it is
// recovered and handed to Run, which returns it as its error.
func (r *Runner) start(ctx context.Context, wg *sync.WaitGroup, failed chan<- error, k hookKey, h config.Hook, f filter) *worker {
	w := &worker{
		key:     k,
		hook:    h,
		filter:  f,
		shell:   r.opts.Shell,
		selfEnv: r.selfEnv,
		log:     r.log.With().Str("hook_event", h.Event).Str("command", h.Command).Logger(),
		queue:   newQueue(r.opts.QueueSize),
		stop:    make(chan struct{}),
		onRun:   r.onRun,
	}
	wg.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				err := fmt.Errorf("hooks: hook %q for %q: %w: %v\n%s", h.Command, h.Event, runtime.ErrPanic, p, debug.Stack())
				select {
				case failed <- err:
				default: // Run is already returning another panic
				}
			}
		}()
		w.loop(ctx)
	})
	return w
}

// hookKey identifies a hook across reloads: the same event, command and
// timeout is the same hook. It is spelled out rather than comparing
// config.Hook so a field added there later does not silently restart or
// keep hooks.
type hookKey struct {
	event, command string
	timeout        time.Duration
	n              int // occurrence among identical hooks
}

func keyOf(h config.Hook) hookKey {
	return hookKey{event: h.Event, command: h.Command, timeout: timeoutOf(h)}
}

// timeoutOf is the hook's timeout with the default applied, so that an
// explicit "30s" and an omitted timeout are the same hook.
func timeoutOf(h config.Hook) time.Duration {
	if h.Timeout.Duration <= 0 {
		return DefaultTimeout
	}
	return h.Timeout.Duration
}
