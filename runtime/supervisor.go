package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

var (
	// ErrDoNotRestart, returned (wrapped) by Run, means the actor has
	// finished for good; it is not a failure and is not restarted.
	ErrDoNotRestart = errors.New("do not restart")
	// ErrFatal, returned (wrapped) by Run, means restarting cannot help
	// (bad configuration, lost key material): the supervisor escalates at
	// once.
	ErrFatal = errors.New("fatal")
	// ErrEscalated is wrapped by the error Supervisor.Run returns when it
	// gave up on an actor; the error also names the actor and wraps the
	// actor's last error.
	ErrEscalated = errors.New("escalated")
	// ErrNotReady is wrapped by the error Supervisor.Run returns when an
	// actor did not get ready within StartTimeout.
	ErrNotReady = errors.New("not ready")
	// ErrStopTimeout is wrapped for each actor that did not drain or stop
	// within StopTimeout.
	ErrStopTimeout = errors.New("stop timeout")
	// ErrAlreadyRun: Supervisor.Run was called a second time.
	ErrAlreadyRun = errors.New("already run")
)

// Options tune a Supervisor. Zero values get the defaults noted below.
type Options struct {
	// MinBackoff and MaxBackoff bound the jittered, doubling delay before
	// a failed actor is run again (default 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a run must last for its failure to reset
	// the back-off to MinBackoff (default 30s).
	StableAfter time.Duration
	// More than Intensity failures of one actor within Period escalates
	// (default 5 within 1m): a fault that restarts cannot cure is handed
	// up, ultimately to systemd, instead of looping forever.
	Intensity int
	Period    time.Duration
	// StartTimeout bounds the wait for each Readier (default 30s).
	StartTimeout time.Duration
	// StopTimeout bounds each Drain and each actor's stop (default 10s).
	StopTimeout time.Duration
	// Events receives everything the supervisor has to report; may be nil.
	Events func(Event)
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 10*time.Second)
	def(&o.StableAfter, 30*time.Second)
	def(&o.Period, time.Minute)
	def(&o.StartTimeout, 30*time.Second)
	def(&o.StopTimeout, 10*time.Second)
	if o.Intensity <= 0 {
		o.Intensity = 5
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	return o
}

// Supervisor runs actors one-for-one: a failed actor is restarted on its
// own, the others keep running. It also owns the order of the process's
// life: start in the order added, each gated on readiness; on shutdown
// drain everything, then stop in reverse order.
type Supervisor struct {
	name  string
	opts  Options
	ready chan struct{}

	mu       sync.Mutex
	children []*child
	ran      bool
}

// child is one actor and the handles the supervisor keeps on its restart
// loop.
type child struct {
	actor  Actor
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the restart loop has returned
}

// escalation is a restart loop giving up; err is the error Run returns.
type escalation struct{ err error }

// NewSupervisor returns a supervisor with no actors. It starts nothing.
func NewSupervisor(name string, opts Options) *Supervisor {
	return &Supervisor{name: name, opts: opts.withDefaults(), ready: make(chan struct{})}
}

// Name is the supervisor's name as used in errors and events.
func (s *Supervisor) Name() string { return s.name }

// Ready is closed once every actor has started and is ready, so the
// process can report itself healthy. It is never closed if the start
// fails or is cancelled, so wait on it together with Run's result.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Add appends an actor; the order of Add calls is the dependency order.
// Adding after Run has been called is a wiring bug and panics.
func (s *Supervisor) Add(a Actor) {
	if a == nil {
		panic(fmt.Sprintf("runtime: supervisor %q: Add(nil)", s.name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ran {
		panic(fmt.Sprintf("runtime: supervisor %q: Add(%q) after Run", s.name, a.Name()))
	}
	s.children = append(s.children, &child{actor: a, name: a.Name()})
}

// Run starts the actors and supervises them until ctx is cancelled or an
// actor escalates, then drains and stops them all and returns.
//
// It returns nil after a clean shutdown. Otherwise the error joins, in
// this order: why the supervisor stopped (an error wrapping ErrEscalated or
// ErrNotReady, naming the actor and wrapping its last error), then any
// Drain failure and any actor that did not stop within StopTimeout
// (ErrStopTimeout). Such an actor's goroutine is abandoned so that Run, and
// the process, can still end; every other goroutine Run started has
// returned when it does.
//
// An actor that finishes (nil or ErrDoNotRestart) is not an error; Run
// keeps supervising the rest until ctx is cancelled. Run may be called only
// once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return fmt.Errorf("supervisor %q: %w", s.name, ErrAlreadyRun)
	}
	s.ran = true
	children := s.children
	s.mu.Unlock()

	seen := make(map[string]bool, len(children))
	for _, c := range children {
		if seen[c.name] {
			return fmt.Errorf("supervisor %q: duplicate actor name %q", s.name, c.name)
		}
		seen[c.name] = true
	}

	// Actors run under a context that ignores the caller's cancellation
	// (but keeps its values): cancelling ctx starts an ordered shutdown,
	// it must not stop every actor at once before they have drained.
	base := context.WithoutCancel(ctx)
	// One slot per actor: a restart loop escalates at most once and must
	// never block on a supervisor that is busy stopping.
	escalate := make(chan escalation, len(children))

	started, reason := s.start(ctx, base, children, escalate)
	if reason == nil && ctx.Err() == nil {
		close(s.ready)
		select {
		case <-ctx.Done():
		case e := <-escalate:
			reason = e.err
		}
	}
	return errors.Join(reason, s.stop(base, started))
}

// start runs the actors in order, waiting for each to be ready. It returns
// the actors it started and why it stopped early, if it did; a cancelled
// ctx is not an error.
func (s *Supervisor) start(ctx, base context.Context, children []*child, escalate chan escalation) ([]*child, error) {
	var started []*child
	for _, c := range children {
		if ctx.Err() != nil {
			return started, nil // shutting down: start nothing more
		}
		c.ctx, c.cancel = context.WithCancel(base)
		c.done = make(chan struct{})
		started = append(started, c)
		go s.supervise(c, escalate)
		if err := s.awaitReady(ctx, c, escalate); err != nil || ctx.Err() != nil {
			return started, err
		}
	}
	return started, nil
}

func (s *Supervisor) awaitReady(ctx context.Context, c *child, escalate chan escalation) error {
	r, ok := c.actor.(Readier)
	if !ok {
		s.emit(Event{Kind: ActorReady, Actor: c.name})
		return nil
	}
	ready := r.Ready()
	timer := time.NewTimer(s.opts.StartTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-ready:
		s.emit(Event{Kind: ActorReady, Actor: c.name})
		return nil
	case e := <-escalate:
		return e.err
	case <-ctx.Done():
		return nil
	case <-c.done:
		// The loop sends its escalation before it returns, so a pending
		// one is visible here and is the better explanation.
		select {
		case e := <-escalate:
			return e.err
		case <-ready:
			s.emit(Event{Kind: ActorReady, Actor: c.name})
			return nil
		default:
		}
		err = fmt.Errorf("supervisor %q: actor %q finished before it was ready: %w", s.name, c.name, ErrNotReady)
	case <-timer.C:
		err = fmt.Errorf("supervisor %q: actor %q not ready within %s: %w", s.name, c.name, s.opts.StartTimeout, ErrNotReady)
	}
	s.emit(Event{Kind: ActorNotReady, Actor: c.name, Err: err})
	return err
}

// stop drains, then stops, the started actors, both in reverse start
// order: the last started depends on the earlier ones, so it lets go of
// its work first while they are all still serving.
func (s *Supervisor) stop(base context.Context, started []*child) error {
	var errs []error
	for _, c := range reversed(started) {
		d, ok := c.actor.(Drainer)
		if !ok || isDone(c.done) {
			continue // nothing running to drain
		}
		if err := s.drain(base, c, d); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range reversed(started) {
		c.cancel()
		timer := time.NewTimer(s.opts.StopTimeout)
		select {
		case <-c.done:
		case <-timer.C:
			err := fmt.Errorf("supervisor %q: actor %q did not stop within %s, abandoned: %w", s.name, c.name, s.opts.StopTimeout, ErrStopTimeout)
			s.emit(Event{Kind: ActorAbandoned, Actor: c.name, Err: err})
			errs = append(errs, err)
		}
		timer.Stop()
	}
	return errors.Join(errs...)
}

// drain calls Drain with a StopTimeout deadline. Drain runs on its own
// goroutine so that one ignoring its context cannot hold up the shutdown;
// it gets a tenth of StopTimeout past its deadline to return its error
// before it is abandoned.
func (s *Supervisor) drain(base context.Context, c *child, d Drainer) error {
	s.emit(Event{Kind: ActorDraining, Actor: c.name})
	ctx, cancel := context.WithTimeout(base, s.opts.StopTimeout)
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- d.Drain(ctx) }()
	grace := time.NewTimer(s.opts.StopTimeout + s.opts.StopTimeout/10)
	defer grace.Stop()
	var err error
	select {
	case err = <-result:
		if err != nil {
			err = fmt.Errorf("supervisor %q: drain actor %q: %w", s.name, c.name, err)
		}
	case <-grace.C:
		err = fmt.Errorf("supervisor %q: drain actor %q did not return within %s, abandoned: %w", s.name, c.name, s.opts.StopTimeout, ErrStopTimeout)
	}
	s.emit(Event{Kind: ActorDrained, Actor: c.name, Err: err})
	return err
}

func (s *Supervisor) emit(e Event) {
	e.Supervisor = s.name
	emit(s.opts.Events, e)
}

func reversed(cs []*child) []*child {
	out := make([]*child, len(cs))
	for i, c := range cs {
		out[len(cs)-1-i] = c
	}
	return out
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
