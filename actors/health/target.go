package health

import (
	"context"
	"hash/fnv"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// Defaults for a health check whose fields are zero. config.Load fills in
// its own defaults; these only keep a hand-built Config from probing in a
// busy loop or never deciding.
const (
	defaultInterval = 10 * time.Second
	defaultTimeout  = 5 * time.Second
	defaultRise     = 2
	defaultFall     = 3
	defaultPath     = "/"

	// resendDelay paces resending a "none" target's verdict that the zone
	// refused; probing targets resend after their next check instead.
	resendDelay = time.Second
	noneDetail  = "no health check (type none)"
)

// spec is one backend to check: its key and its normalized health check.
// Two specs with equal keys and equal checks are the same target, so a
// reload that leaves them alone leaves the running target alone.
type spec struct {
	key messages.BackendKey
	hc  config.HealthCheck
}

// normalize fills defaults and clears the fields a check type ignores, so
// that only a change that alters probing restarts a target.
func normalize(hc config.HealthCheck) config.HealthCheck {
	if hc.Type == "" {
		hc.Type = config.CheckHTTP
	}
	if hc.Interval.Duration <= 0 {
		hc.Interval.Duration = defaultInterval
	}
	if hc.Timeout.Duration <= 0 {
		hc.Timeout.Duration = min(defaultTimeout, hc.Interval.Duration)
	}
	if hc.SuccessThreshold <= 0 {
		hc.SuccessThreshold = defaultRise
	}
	if hc.FailureThreshold <= 0 {
		hc.FailureThreshold = defaultFall
	}
	switch hc.Type {
	case config.CheckHTTP, config.CheckHTTPS:
		if hc.Path == "" {
			hc.Path = defaultPath
		}
		if len(hc.ExpectedStatus) == 0 {
			hc.ExpectedStatus = []int{200}
		}
		if hc.Type == config.CheckHTTP {
			hc.InsecureSkipVerify = false
		}
	case config.CheckTCP:
		hc = config.HealthCheck{Type: hc.Type, Interval: hc.Interval, Timeout: hc.Timeout,
			SuccessThreshold: hc.SuccessThreshold, FailureThreshold: hc.FailureThreshold}
	case config.CheckNone:
		hc = config.HealthCheck{Type: hc.Type}
	}
	return hc
}

func sameCheck(a, b config.HealthCheck) bool {
	return a.Type == b.Type && a.Path == b.Path && a.Host == b.Host &&
		a.Interval == b.Interval && a.Timeout == b.Timeout &&
		a.FailureThreshold == b.FailureThreshold && a.SuccessThreshold == b.SuccessThreshold &&
		slices.Equal(a.ExpectedStatus, b.ExpectedStatus) &&
		a.InsecureSkipVerify == b.InsecureSkipVerify
}

// firstOffset spreads first checks over the interval: a hash of the key, so
// targets configured together do not all fire at once, and the same backend
// gets the same slot on every node and after every restart.
func firstOffset(key messages.BackendKey, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key.String()))
	return time.Duration(h.Sum64() % uint64(interval))
}

// target is one running check. Its state machine lives in its goroutine;
// the Run goroutine only holds the handle to stop it.
type target struct {
	spec
	log     zerolog.Logger
	metrics *targetMetrics
	prober  prober
	report  Reporter
	now     func() time.Time
	cancel  context.CancelFunc
	done    chan struct{}
}

// run probes until ctx ends. The first check waits for the key's offset
// within the interval, later ones follow every interval (a ticker drops the
// ticks a slow check overran, so checks of one target never overlap).
func (t *target) run(ctx context.Context) {
	defer t.prober.close()
	m := newMachine(t.hc.SuccessThreshold, t.hc.FailureThreshold)
	t.metrics.setState(m.state)
	if t.hc.Type == config.CheckNone {
		// Nothing to probe: healthy from the start, by configuration. The
		// verdict is still sent until the zone takes it.
		m.state = messages.HealthHealthy
		t.metrics.setState(m.state)
		t.logChange(m.state, noneDetail)
		for !t.send(ctx, m.state, noneDetail) {
			retry := time.NewTimer(resendDelay)
			select {
			case <-ctx.Done():
				retry.Stop()
				return
			case <-retry.C:
			}
		}
		<-ctx.Done()
		return
	}

	first := time.NewTimer(firstOffset(t.key, t.hc.Interval.Duration))
	defer first.Stop()
	select {
	case <-ctx.Done():
		return
	case <-first.C:
	}
	tick := time.NewTicker(t.hc.Interval.Duration)
	defer tick.Stop()

	unsent := false // a change the zone has not accepted yet
	for {
		start := time.Now()
		ok, detail := t.prober.probe(ctx)
		if ctx.Err() != nil {
			return // stopped mid-check: the result says nothing about the backend
		}
		t.metrics.duration.UpdateDuration(start)
		if ok {
			t.metrics.success.Inc()
		} else {
			t.metrics.failure.Inc()
		}
		changed := m.observe(ok)
		t.log.Debug().Bool("ok", ok).Str("detail", detail).Stringer("state", m.state).Msg("check")
		if changed {
			t.metrics.setState(m.state)
			t.logChange(m.state, detail)
		}
		if changed || unsent {
			unsent = !t.send(ctx, m.state, detail)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *target) logChange(s messages.HealthState, detail string) {
	t.log.Info().Stringer("state", s).Str("detail", detail).Msg("backend health changed")
}

// send hands a state change to the zone. It returns false if the zone did
// not take it (a full Block mailbox gives up after its timeout); the caller
// then sends the current state again later rather than leave the zone with
// a stale verdict.
func (t *target) send(ctx context.Context, s messages.HealthState, detail string) bool {
	err := t.report(ctx, messages.BackendHealth{Key: t.key, State: s, Detail: detail, At: t.now()})
	if err == nil {
		return true
	}
	if ctx.Err() != nil {
		return true // stopping: nobody is waiting for this verdict any more
	}
	t.log.Error().Err(err).Stringer("state", s).Msg("cannot hand backend health on")
	return false
}
