package gossip

import (
	"errors"
	"math"
	"time"
)

// MaxClockSkew is how far in the future (by this node's clock) a report's
// seq may lie. Agents and overwatches are expected to run NTP; a minute
// forgives a drifting clock without letting a captured report live long.
const MaxClockSkew = time.Minute

// Replay refusals. ErrTooOld and ErrFuture wrap ErrReplay, so
// errors.Is(err, ErrReplay) covers all three; their texts are the reasons
// an overwatch answers the agent with.
var (
	ErrReplay = errors.New("replay")
	ErrTooOld = wrapReplay("too old")
	ErrFuture = wrapReplay("in the future")
)

type replayError struct{ detail string }

func wrapReplay(detail string) error        { return &replayError{detail} }
func (e *replayError) Error() string        { return "replay: " + e.detail }
func (e *replayError) Is(target error) bool { return target == ErrReplay }

// ReplayGuard refuses reports an overwatch has already seen, or could have.
// It holds, per (agent, service), the last seq it accepted, and accepts
// only a larger one; and because a seq is the agent's send time in unix
// nanoseconds, it also refuses one older than the window (the stale
// threshold) or more than MaxClockSkew ahead of the local clock.
//
// The time bound is what makes forgetting safe: an entry older than the
// window can be pruned, since anything it would refuse the window refuses
// too; and an overwatch that restarts with an empty guard still refuses
// every report captured more than a window ago.
//
// Residual risk, by design: someone who holds the gossip key (every agent
// does) and captured a report can replay it to an overwatch that has not
// accepted anything newer from that agent for that service — in practice
// only within one window after the overwatch (re)started, or while the
// agent's own newer reports are not getting through. The replayed report
// is authentic, merely old (at most one window), and the agent's next
// report (sent at once when the overwatch asks with "opengslb-state")
// replaces it. Tokens are per service, not per agent, so an agent that
// holds a service's token can speak for that service under any agent
// name; the overwatch binds the report's agent name to serf's source node,
// which only the gossip key protects. A clock that jumps backwards on an
// agent makes its reports refused until it catches up with the last seq
// accepted (at most one window after the overwatch forgets it).
//
// A ReplayGuard is not safe for concurrent use: the actor's goroutine owns
// it.
type ReplayGuard struct {
	window time.Duration
	// horizon is the largest window ever set: Prune forgets only what
	// every window since would refuse, so growing the window on a reload
	// cannot re-admit a report whose entry was already pruned.
	horizon time.Duration
	last    map[guardKey]uint64
}

type guardKey struct{ agent, service string }

// NewReplayGuard returns a guard with the given window (the stale
// threshold); a window of zero or less means 30s.
func NewReplayGuard(window time.Duration) *ReplayGuard {
	g := &ReplayGuard{last: make(map[guardKey]uint64)}
	g.SetWindow(window)
	return g
}

// SetWindow changes the window, for a reloaded stale threshold.
func (g *ReplayGuard) SetWindow(window time.Duration) {
	if window <= 0 {
		window = defaultStale
	}
	g.window = window
	g.horizon = max(g.horizon, window)
}

// Window is the current window.
func (g *ReplayGuard) Window() time.Duration { return g.window }

// Check says whether a report with seq from agent for service may be
// accepted now. It changes nothing: call Accept once the report has been
// delivered, so a report that could not be delivered may come again.
func (g *ReplayGuard) Check(agent, service string, seq uint64, now time.Time) error {
	if seq <= g.last[guardKey{agent, service}] {
		return ErrReplay
	}
	if seq > math.MaxInt64 {
		return ErrFuture
	}
	sent := time.Unix(0, int64(seq))
	switch {
	case sent.Before(now.Add(-g.window)):
		return ErrTooOld
	case sent.After(now.Add(MaxClockSkew)):
		return ErrFuture
	}
	return nil
}

// Accept records seq as the last accepted for (agent, service).
func (g *ReplayGuard) Accept(agent, service string, seq uint64) {
	k := guardKey{agent, service}
	if seq > g.last[k] {
		g.last[k] = seq
	}
}

// Prune forgets entries whose last seq is older than the window: the
// window alone already refuses everything they would. It keeps the guard's
// size proportional to the agents actually reporting.
func (g *ReplayGuard) Prune(now time.Time) {
	cutoff := now.Add(-g.horizon).UnixNano()
	for k, seq := range g.last {
		if seq <= math.MaxInt64 && int64(seq) < cutoff {
			delete(g.last, k)
		}
	}
}

// Len is the number of (agent, service) pairs remembered.
func (g *ReplayGuard) Len() int { return len(g.last) }
