// Package gossip provides the GossipActor: it owns this node's serf
// instance and turns serf events into messages and messages into serf
// queries.
//
// On an agent it reports, per service, the local backends and their health
// to every overwatch as a signed query (QueryReport): at once on any change
// and again every heartbeat.interval, and whenever an overwatch asks
// (QueryState). On an overwatch it verifies each report (the service
// token's HMAC, the agent's name, the replay guard) and hands it to the
// ZoneActor as messages.AgentReport; serf's member events become
// AgentAlive and AgentGone, and WarmupDone tells the zone when it has heard
// from every live agent. On both, every serf event also goes to the hook
// runner.
//
// The gossip encryption key (memberlist's SecretKey) keeps out nodes that
// do not hold it; the service tokens decide who may speak for a service.
package gossip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// Options are the actor's injectable dependencies and tuning. The zero
// value is the production setting.
type Options struct {
	// Now stamps reports' seq and messages, and is the replay guard's
	// clock. Default time.Now.
	Now func() time.Time
	// WarmupTimeout bounds an overwatch's wait for every live agent to
	// report before it sends WarmupDone anyway. Default: stale.threshold.
	WarmupTimeout time.Duration
	// RetryMin and RetryMax bound the jittered, doubling delay between
	// join attempts (defaults 1s and 30s).
	RetryMin, RetryMax time.Duration
	// ReportTimeout is how long an agent's report query collects answers.
	// Default: serf's query timeout (GossipInterval × 16 × ⌈log10(N+1)⌉,
	// 3.2s on a LAN of fewer than ten nodes).
	ReportTimeout time.Duration
	// ZoneTimeout bounds each send to the zone's mailbox (default 2s).
	ZoneTimeout time.Duration
	// Timings override memberlist's LAN timings (tests: LoopbackTimings).
	Timings Timings
}

func (o Options) withDefaults(cfg *config.Config) Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WarmupTimeout <= 0 {
		o.WarmupTimeout = staleThreshold(cfg)
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.ZoneTimeout <= 0 {
		o.ZoneTimeout = 2 * time.Second
	}
	return o
}

// Actor is the GossipActor. Construct it with NewOverwatch or NewAgent,
// then Run it under a supervisor.
type Actor struct {
	log   zerolog.Logger
	inbox *runtime.Mailbox[messages.GossipMsg]
	zone  runtime.Address[messages.ZoneMsg] // overwatch only
	hooks runtime.Address[messages.HookMsg]
	opts  Options
	set   settings

	ready     chan struct{}
	readyOnce sync.Once
	status    atomic.Pointer[Status]
	bindAddr  atomic.Pointer[string]
	draining  atomic.Bool

	// mu guards serf, the instance of the current Run, so Drain (another
	// goroutine) can leave through it. leaves counts Drain's Leave calls;
	// Run waits for them before it returns.
	mu     sync.Mutex
	serf   *serf.Serf
	leaves sync.WaitGroup

	// Owned by the Run goroutine. They outlive a Run so a restart keeps
	// what it was told: the health actor sends changes only, and the
	// replay guard must not forget.
	cfg      *config.Config
	gen      uint64
	tokens   map[string][]byte                            // service → token (agent: its own; overwatch: agent_tokens)
	plan     map[string][]messages.AgentBackend           // agent: service → configured backends
	health   map[messages.BackendKey]messages.HealthState // agent: local verdicts
	lastSeq  uint64                                       // agent: last seq sent
	guard    *ReplayGuard                                 // overwatch
	warmedUp bool                                         // overwatch: WarmupDone sent
}

// NewOverwatch returns the overwatch's gossip actor: it verifies agents'
// reports and sends them to zone, and every serf event to hooks. It checks
// cfg's [overwatch.gossip] (an error names the key) and starts nothing.
func NewOverwatch(log zerolog.Logger, inbox *runtime.Mailbox[messages.GossipMsg], zone runtime.Address[messages.ZoneMsg], hooks runtime.Address[messages.HookMsg], cfg *config.Config, opts Options) (*Actor, error) {
	set, err := overwatchSettings(cfg)
	if err != nil {
		return nil, err
	}
	if zone.IsZero() {
		return nil, errors.New("gossip: overwatch: no zone address")
	}
	a := newActor(log, inbox, hooks, set, cfg, opts)
	a.zone = zone
	a.guard = NewReplayGuard(staleThreshold(cfg))
	a.tokens = tokenMap(cfg.Overwatch.AgentTokens)
	return a, nil
}

// NewAgent returns the agent's gossip actor: it reports the backends of
// cfg's [agent] to every overwatch, and every serf event and local health
// change to hooks. It checks cfg's [agent.gossip] (an error names the key)
// and starts nothing.
func NewAgent(log zerolog.Logger, inbox *runtime.Mailbox[messages.GossipMsg], hooks runtime.Address[messages.HookMsg], cfg *config.Config, opts Options) (*Actor, error) {
	set, err := agentSettings(cfg)
	if err != nil {
		return nil, err
	}
	a := newActor(log, inbox, hooks, set, cfg, opts)
	a.health = make(map[messages.BackendKey]messages.HealthState)
	if err := a.planAgent(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

func newActor(log zerolog.Logger, inbox *runtime.Mailbox[messages.GossipMsg], hooks runtime.Address[messages.HookMsg], set settings, cfg *config.Config, opts Options) *Actor {
	a := &Actor{
		log:   log.With().Str("actor", "gossip").Str("role", set.role).Str("node", set.node).Logger(),
		inbox: inbox,
		hooks: hooks,
		opts:  opts.withDefaults(cfg),
		set:   set,
		ready: make(chan struct{}),
		cfg:   cfg,
	}
	a.status.Store(&Status{Role: set.role, Node: set.node, Region: set.region})
	return a
}

// Name is the actor's name for the supervisor, logs and metrics.
func (a *Actor) Name() string { return "gossip" }

// Ready is closed, once for the life of the actor, when an overwatch's
// serf has started, or when an agent has joined at least one overwatch.
func (a *Actor) Ready() <-chan struct{} { return a.ready }

func (a *Actor) markReady() { a.readyOnce.Do(func() { close(a.ready) }) }

// Status is the latest snapshot the actor published; safe from any
// goroutine. Do not modify it.
func (a *Actor) Status() Status {
	st := *a.status.Load()
	st.Draining = a.draining.Load() // live: Drain does not wait for the loop
	return st
}

// BindAddr is the gossip address this node advertises (ip:port, the port
// serf actually bound when the configured one was 0), or "" before the
// first Run has started serf.
func (a *Actor) BindAddr() string {
	if p := a.bindAddr.Load(); p != nil {
		return *p
	}
	return ""
}

// Drain leaves the cluster gracefully: peers see this node leave at once
// (an agent's leave withdraws its backends at every overwatch) instead of
// failing after detection. It returns by ctx's deadline; a Leave still
// running then is waited for by Run. After Drain the actor sends no more
// reports and does not join again.
func (a *Actor) Drain(ctx context.Context) error {
	a.draining.Store(true)
	a.mu.Lock()
	s := a.serf
	if s == nil {
		a.mu.Unlock()
		return nil
	}
	a.leaves.Add(1)
	a.mu.Unlock()

	a.log.Info().Msg("leaving the gossip cluster")
	done := make(chan error, 1)
	go func() {
		defer a.leaves.Done()
		done <- s.Leave()
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("gossip: leave: %w", err)
		}
		a.log.Info().Msg("left the gossip cluster")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gossip: leave: %w", ctx.Err())
	}
}

// Run creates serf (so a restart starts from a fresh instance), serves
// until ctx ends, then shuts serf down — without leaving, unless Drain
// did: a Run that stops without Drain looks like a failure to peers, which
// is what a crash is. No goroutine it started outlives it.
func (a *Actor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	bindIP, err := resolveHost(ctx, a.set.bindHost)
	if err != nil {
		return fmt.Errorf("gossip: %s.bind_address: %w", a.set.prefix, err)
	}
	advIP := ""
	if a.set.advHost != "" {
		if advIP, err = resolveHost(ctx, a.set.advHost); err != nil {
			return fmt.Errorf("gossip: %s.advertise_address: %w", a.set.prefix, err)
		}
	}
	serfEvents := make(chan serf.Event, serfEventBuffer)
	s, err := serf.Create(a.serfConfig(serfEvents, bindIP, advIP))
	if err != nil {
		return fmt.Errorf("gossip: start serf on %s: %w", net.JoinHostPort(bindIP, strconv.Itoa(a.set.bindPort)), err)
	}
	local := s.LocalMember()
	addr := net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))
	a.bindAddr.Store(&addr)

	r := &run{
		a:        a,
		ctx:      ctx,
		serf:     s,
		events:   make(chan serf.Event),
		joins:    make(chan joinResult, 1),
		acks:     make(chan ackResult, 64),
		verdicts: make(chan failureVerdict, 16),
		failed:   make(chan error, 1),
		services: make(map[string]*serviceState),
		agents:   make(map[string]*agentState),
	}
	stopPump, pumpDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pumpDone)
		pump(serfEvents, r.events, stopPump, r.dropEvent)
	}()
	a.mu.Lock()
	a.serf = s
	a.mu.Unlock()

	defer func() {
		cancel()
		a.mu.Lock()
		a.serf = nil
		a.mu.Unlock()
		if err := s.Shutdown(); err != nil {
			a.log.Warn().Err(err).Msg("serf shutdown")
		}
		r.wg.Wait()
		close(stopPump)
		<-pumpDone
		a.leaves.Wait()
		r.stopTimers()
		// This node no longer sees anyone: its gauges say so.
		countMembers(nil)
		if a.set.role == RoleOverwatch {
			agentsRegistered.Set(0)
		}
		st := r.snapshot()
		st.Running = false
		a.status.Store(st)
	}()

	a.log.Info().Str("gossip", addr).Strs("join", a.set.join).Msg("serf started")
	return r.loop()
}

// run is the state of one Run: it is rebuilt from serf on every start.
type run struct {
	a      *Actor
	ctx    context.Context
	serf   *serf.Serf
	wg     sync.WaitGroup // joiner and query collectors
	events chan serf.Event
	joins  chan joinResult
	acks   chan ackResult
	// verdicts carry whether an agent's failure was corroborated.
	verdicts chan failureVerdict
	failed   chan error
	dirty    bool

	tick     *time.Ticker // agent: heartbeat; overwatch: stale check
	tickFor  time.Duration
	warmup   *time.Timer
	hookLost uint64
	// eventsLost counts serf events pump dropped; pump's goroutine adds.
	eventsLost atomic.Uint64

	// joining
	joining      bool
	joined       bool
	joinAttempts int
	joinErr      string
	peers        int // alive peers: overwatches other than this node

	// isolated: every other overwatch this node knows has failed.
	isolated bool

	services map[string]*serviceState // agent
	agents   map[string]*agentState   // overwatch
}

func (r *run) loop() error {
	if r.a.set.role == RoleAgent {
		r.startAgent()
	} else {
		r.startOverwatch()
	}
	r.publish()
	for {
		var tick <-chan time.Time
		if r.tick != nil {
			tick = r.tick.C
		}
		var warmup <-chan time.Time
		if r.warmup != nil {
			warmup = r.warmup.C
		}
		select {
		case <-r.ctx.Done():
			return nil
		case <-r.serf.ShutdownCh():
			return fmt.Errorf("gossip: serf shut down on its own; another node may use the name %q: give each node its own %s.identity.node_id", r.a.set.node, identityTable(r.a.set.role))
		case err := <-r.failed:
			return err
		case e := <-r.events:
			r.handleEvent(e)
		case msg := <-r.a.inbox.Receive():
			r.handleMsg(msg)
		case j := <-r.joins:
			r.handleJoin(j)
		case ack := <-r.acks:
			r.handleAck(ack)
		case v := <-r.verdicts:
			r.handleVerdict(v)
		case <-tick:
			r.onTick()
		case <-warmup:
			r.warmup = nil
			r.warmupTimeout()
		}
		if r.dirty {
			r.publish()
		}
	}
}

func (r *run) stopTimers() {
	if r.tick != nil {
		r.tick.Stop()
	}
	if r.warmup != nil {
		r.warmup.Stop()
	}
}

// setTick (re)starts the periodic tick at d.
func (r *run) setTick(d time.Duration) {
	if r.tick != nil && r.tickFor == d {
		return
	}
	if r.tick != nil {
		r.tick.Stop()
	}
	r.tick, r.tickFor = time.NewTicker(d), d
}

func (r *run) onTick() {
	if r.a.set.role == RoleAgent {
		r.sendAll("heartbeat")
	} else {
		r.staleCheck()
	}
}

// spawn runs fn on a goroutine of this Run. A panic becomes Run's error,
// so it is a counted restart rather than a crash.
func (r *run) spawn(what string, fn func()) {
	r.wg.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				err := fmt.Errorf("gossip: %s: %w: %v\n%s", what, runtime.ErrPanic, p, debug.Stack())
				select {
				case r.failed <- err:
				default:
				}
			}
		}()
		fn()
	})
}

func (r *run) handleMsg(msg messages.GossipMsg) {
	switch m := msg.(type) {
	case messages.ConfigApplied:
		r.applyConfig(m)
	case messages.BackendHealth:
		if r.a.set.role != RoleAgent {
			unexpectedMessages.Inc()
			r.a.log.Warn().Str("backend", m.Key.String()).Msg("backend health sent to an overwatch's gossip actor: ignored")
			return
		}
		r.backendHealth(m)
	default:
		unexpectedMessages.Inc()
		r.a.log.Warn().Str("type", fmt.Sprintf("%T", msg)).Msg("unexpected message: ignored")
	}
}

// applyConfig takes what a reload may change: tokens, backends, timers.
// Node name, addresses and key are bound at start; the reload path refuses
// changes to them, and a Config that changes them anyway is only logged.
func (r *run) applyConfig(m messages.ConfigApplied) {
	a := r.a
	if m.Config == nil {
		a.log.Warn().Uint64("generation", m.Generation).Msg("config applied without a config: ignored")
		return
	}
	if m.Generation < a.gen {
		a.log.Warn().Uint64("generation", m.Generation).Uint64("current", a.gen).Msg("stale config generation: ignored")
		return
	}
	var set settings
	var err error
	if a.set.role == RoleAgent {
		set, err = agentSettings(m.Config)
	} else {
		set, err = overwatchSettings(m.Config)
	}
	if err != nil {
		a.log.Error().Err(err).Uint64("generation", m.Generation).Msg("config without usable gossip settings: ignored")
		return
	}
	if !set.equal(a.set) {
		a.log.Warn().Uint64("generation", m.Generation).
			Msg("gossip node name, region, addresses or key changed: they apply on restart only; keeping the running ones")
	}
	if a.set.role == RoleAgent {
		if err := a.planAgent(m.Config); err != nil {
			a.log.Error().Err(err).Uint64("generation", m.Generation).Msg("agent config refused: keeping the previous one")
			return
		}
	}
	a.cfg, a.gen = m.Config, m.Generation
	a.set.join = set.join // used by the next round of joining
	r.dirty = true
	if a.set.role == RoleAgent {
		r.setTick(heartbeat(a.cfg))
		r.sendAll("config applied")
		return
	}
	a.tokens = tokenMap(m.Config.Overwatch.AgentTokens)
	a.guard.SetWindow(staleThreshold(m.Config))
	r.setTick(staleTickFor(staleThreshold(m.Config)))
	a.log.Info().Uint64("generation", m.Generation).Int("services", len(a.tokens)).Msg("agent tokens applied")
}

func tokenMap(in map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(in))
	for k, v := range in {
		out[k] = []byte(v)
	}
	return out
}

// handleEvent dispatches one serf event; each also goes to the hooks.
func (r *run) handleEvent(e serf.Event) {
	now := r.a.opts.Now()
	switch ev := e.(type) {
	case serf.MemberEvent:
		members := make([]messages.HookMember, 0, len(ev.Members))
		for _, m := range ev.Members {
			members = append(members, hookMember(m))
		}
		r.hook(messages.HookEvent{Event: ev.Type.String(), Members: members, At: now})
		r.memberEvent(ev)
	case serf.UserEvent:
		r.hook(messages.HookEvent{Event: "user", UserEvent: ev.Name, Payload: ev.Payload, At: now})
	case *serf.Query:
		r.hook(messages.HookEvent{Event: "query", UserEvent: ev.Name, Payload: ev.Payload, At: now})
		switch {
		case r.a.set.role == RoleOverwatch && ev.Name == QueryReport:
			r.handleReport(ev)
		case r.a.set.role == RoleAgent && ev.Name == QueryState:
			r.handleStateQuery(ev)
		}
	default:
		r.a.log.Debug().Str("type", fmt.Sprintf("%T", e)).Msg("unknown serf event")
	}
}

func (r *run) memberEvent(ev serf.MemberEvent) {
	r.dirty = true
	countMembers(r.serf.Members())
	if r.a.set.role == RoleOverwatch {
		for _, m := range ev.Members {
			if m.Name != r.a.set.node && m.Tags[tagRole] == RoleAgent {
				r.agentMember(ev.Type, m)
			}
		}
		agentsRegistered.Set(float64(r.registered()))
		r.checkWarmup()
	}
	r.checkPeers()
}

// checkPeers starts a round of joining when the last alive overwatch (other
// than this node) is gone: serf reconnects to failed members by itself, but
// never to members that left, and an overwatch that restarts leaves. An
// agent must then find its overwatches again; an overwatch its peers.
func (r *run) checkPeers() {
	n := aliveOverwatches(r.serf, r.a.set.node)
	was := r.peers
	r.peers = n
	if was > 0 && n == 0 {
		r.a.log.Warn().Strs("join", r.a.set.join).Msg("no overwatch is alive any more: joining again")
		r.startJoin()
	}
}

// aliveOverwatches counts the alive overwatches other than self. It asks
// serf directly: its member table is current as soon as a join returns,
// while the member events that report it may still be on their way.
func aliveOverwatches(s *serf.Serf, self string) int {
	n := 0
	for _, m := range s.Members() {
		if m.Name != self && m.Status == serf.StatusAlive && m.Tags[tagRole] == RoleOverwatch {
			n++
		}
	}
	return n
}

func overwatchAlive(s *serf.Serf, self string) bool { return aliveOverwatches(s, self) > 0 }

func countMembers(members []serf.Member) {
	var alive, failed, left int
	for _, m := range members {
		switch m.Status {
		case serf.StatusAlive:
			alive++
		case serf.StatusFailed:
			failed++
		case serf.StatusLeft, serf.StatusLeaving:
			left++
		}
	}
	membersAlive.Set(float64(alive))
	membersFailed.Set(float64(failed))
	membersLeft.Set(float64(left))
}

func memberAddr(m serf.Member) string {
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

func hookMember(m serf.Member) messages.HookMember {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		tags[k] = v
	}
	return messages.HookMember{Name: m.Name, Addr: memberAddr(m), Role: m.Tags[tagRole], Tags: tags, Status: m.Status.String()}
}

// doneCtx is already cancelled: a Send with it never waits, whatever the
// mailbox's policy, so hooks can never stall gossip even if the wiring
// gave them a blocking mailbox.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

func (r *run) hook(ev messages.HookEvent) {
	if r.a.hooks.IsZero() {
		return
	}
	if err := r.a.hooks.Send(doneCtx, ev); err != nil {
		hookDropped.Inc()
		r.hookLost++
		// The first loss and then every hundredth: a stuck hook runner
		// must not turn gossip into a log flood.
		if r.hookLost%100 == 1 {
			r.a.log.Warn().Err(err).Str("event", ev.Event).Uint64("lost", r.hookLost).Msg("hook event dropped")
		}
	}
}

func (r *run) dropEvent(e serf.Event) {
	eventsDropped.Inc()
	// The first loss and then every hundredth, as for hook events.
	if lost := r.eventsLost.Add(1); lost%100 == 1 {
		r.a.log.Error().Str("event", e.String()).Int("queued", maxQueuedEvents).Uint64("lost", lost).Msg("gossip actor is behind: serf event dropped")
	}
}

func identityTable(role string) string {
	if role == RoleAgent {
		return "agent"
	}
	return "overwatch"
}

// toZone sends to the zone, bounded by ZoneTimeout.
func (r *run) toZone(msg messages.ZoneMsg) error {
	ctx, cancel := context.WithTimeout(r.ctx, r.a.opts.ZoneTimeout)
	defer cancel()
	return r.a.zone.Send(ctx, msg)
}

// joinResult is one join attempt, reported by the joiner to the loop.
type joinResult struct {
	attempt int
	n       int
	err     error
	retryIn time.Duration
	gaveUp  bool // the joiner stopped (draining) without success
}

// startJoin joins set.join in the background, with jittered exponential
// back-off while nobody answers. Joining never blocks the loop (a dial may
// take TCPTimeout).
func (r *run) startJoin() {
	addrs := r.a.set.join
	if r.joining || len(addrs) == 0 || r.a.draining.Load() {
		return
	}
	r.joining, r.joinAttempts, r.joinErr = true, 0, ""
	s, ctx, log := r.serf, r.ctx, r.a.log
	bo := runtime.Backoff{Min: r.a.opts.RetryMin, Max: r.a.opts.RetryMax}
	agent, self := r.a.set.role == RoleAgent, r.a.set.node
	r.spawn("join", func() {
		for attempt := 1; ; attempt++ {
			if r.a.draining.Load() {
				select {
				case r.joins <- joinResult{attempt: attempt, gaveUp: true}:
				case <-ctx.Done():
				}
				return
			}
			n, err := s.Join(addrs, true)
			if n > 0 && agent && !overwatchAlive(s, self) {
				// Only an overwatch that is on its way out answered (it
				// still listens while its leave spreads): keep trying.
				n, err = 0, errors.New("joined, but no overwatch is alive")
			}
			res := joinResult{attempt: attempt, n: n, err: err}
			if n == 0 {
				if err == nil {
					err = errors.New("no node answered")
					res.err = err
				}
				res.retryIn = bo.Next()
				joinFailures.Inc()
				ev := log.Info()
				what := "cannot join any other overwatch yet"
				if agent {
					ev, what = log.Warn(), "cannot join any overwatch"
				}
				ev.Str("error", flatErr(err)).Strs("addresses", addrs).Int("attempt", attempt).Dur("retry_in", res.retryIn).Msg(what)
			}
			select {
			case r.joins <- res:
			case <-ctx.Done():
				return
			}
			if n > 0 {
				return
			}
			t := time.NewTimer(res.retryIn)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	})
}

func (r *run) handleJoin(j joinResult) {
	r.dirty = true
	r.joinAttempts = j.attempt
	if j.gaveUp {
		r.joining = false
		return
	}
	if j.n == 0 {
		r.joinErr = flatErr(j.err)
		return
	}
	r.joining, r.joined, r.joinAttempts, r.joinErr = false, true, 0, ""
	ev := r.a.log.Info().Int("contacted", j.n).Strs("addresses", r.a.set.join)
	if j.err != nil {
		ev = ev.Str("partial", flatErr(j.err))
	}
	ev.Msg("joined the gossip cluster")
	if r.a.set.role == RoleAgent {
		r.a.markReady()
		r.sendAll("joined")
	} else {
		r.stateQuery("", "joined the cluster")
	}
}

// flatErr puts an error on one line: memberlist's join errors are
// multi-line lists ("1 error occurred:\n\t* ...").
func flatErr(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func (r *run) publish() {
	r.dirty = false
	r.a.status.Store(r.snapshot())
}

// snapshot builds the Status from this Run's state.
func (r *run) snapshot() *Status {
	a := r.a
	st := &Status{
		Role:         a.set.role,
		Node:         a.set.node,
		Region:       a.set.region,
		BindAddr:     a.BindAddr(),
		Running:      true,
		Joined:       r.joined,
		Draining:     a.draining.Load(),
		At:           a.opts.Now(),
		JoinAttempts: r.joinAttempts,
		JoinError:    r.joinErr,
	}
	for _, m := range r.serf.Members() {
		st.Members = append(st.Members, MemberStatus{
			Name: m.Name, Addr: memberAddr(m), Role: m.Tags[tagRole], Region: m.Tags[tagRegion], Status: m.Status.String(),
		})
	}
	slices.SortFunc(st.Members, func(x, y MemberStatus) int { return cmp.Compare(x.Name, y.Name) })
	if a.set.role == RoleAgent {
		st.Services = r.serviceStatus()
	} else {
		st.Agents = r.agentStatus()
		st.WarmedUp = a.warmedUp
		st.Isolated, st.HeldAgents = r.isolated, r.heldAgents()
	}
	return st
}
