package gossip

import (
	"cmp"
	"log"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/rs/zerolog"
)

// Timings override memberlist's and serf's LAN timings; a zero field keeps
// the default. Production leaves them alone; tests on loopback shrink them
// (LoopbackTimings) so failure detection and leave take milliseconds.
type Timings struct {
	ProbeInterval    time.Duration // memberlist default 1s
	ProbeTimeout     time.Duration // default 500ms
	SuspicionMult    int           // default 4
	GossipInterval   time.Duration // default 200ms
	PushPullInterval time.Duration // default 30s
	// TCPTimeout bounds a join's dial and a push/pull exchange (default
	// 10s); Run waits for an in-flight join this long at most when it
	// stops.
	TCPTimeout time.Duration
	// BroadcastTimeout and LeavePropagateDelay bound a graceful leave
	// (serf defaults 5s and 1s).
	BroadcastTimeout    time.Duration
	LeavePropagateDelay time.Duration
	// ReconnectInterval is how often serf tries failed members again
	// (default 30s).
	ReconnectInterval time.Duration
}

// LoopbackTimings are fast timings for serf nodes on 127.0.0.1 in tests:
// a killed node is declared failed within about a second, yet a loaded
// 2-core machine running -race does not suspect a live one.
func LoopbackTimings() Timings {
	return Timings{
		ProbeInterval:       300 * time.Millisecond,
		ProbeTimeout:        250 * time.Millisecond,
		SuspicionMult:       3,
		GossipInterval:      20 * time.Millisecond,
		PushPullInterval:    2 * time.Second,
		TCPTimeout:          time.Second,
		BroadcastTimeout:    3 * time.Second,
		LeavePropagateDelay: 100 * time.Millisecond,
		ReconnectInterval:   500 * time.Millisecond,
	}
}

// Query names this package speaks.
const (
	// QueryReport carries one encoded report from an agent to every
	// overwatch; each answers "ok" or "refused: <reason>".
	QueryReport = "opengslb-report"
	// QueryState asks agents to send every report again at once.
	QueryState = "opengslb-state"
)

// Tag names on every member.
const (
	tagRole   = "role"
	tagRegion = "region"
)

// serfEventBuffer is serf's event channel. It is drained at once by pump,
// and it is larger than serf's internal 1024-event queue so that serf's
// forwarding goroutine can never block on it after pump stops.
const serfEventBuffer = 2048

// maxQueuedEvents bounds pump's queue when the actor's loop falls behind.
// Past it, new events are dropped and counted: serf must never stall.
const maxQueuedEvents = 8192

// serfConfig builds serf's configuration for this node; it starts nothing.
// bindIP and advIP are the configured hosts, resolved ("" advIP: advertise
// what is bound).
func (a *Actor) serfConfig(events chan<- serf.Event, bindIP, advIP string) *serf.Config {
	logger := log.New(serfLog{a.log.With().Str("component", "serf").Logger()}, "", 0)

	ml := memberlist.DefaultLANConfig()
	ml.Name = a.set.node
	ml.BindAddr = bindIP
	ml.BindPort = a.set.bindPort
	ml.AdvertiseAddr = advIP
	ml.AdvertisePort = a.set.advPort
	if advIP == "" {
		ml.AdvertisePort = a.set.bindPort // memberlist then uses the port it bound
	}
	ml.SecretKey = append([]byte(nil), a.set.key...)
	ml.Logger = logger
	ml.LogOutput = nil
	t := a.timings()
	setDur(&ml.ProbeInterval, t.ProbeInterval)
	setDur(&ml.ProbeTimeout, t.ProbeTimeout)
	setDur(&ml.GossipInterval, t.GossipInterval)
	setDur(&ml.PushPullInterval, t.PushPullInterval)
	setDur(&ml.TCPTimeout, t.TCPTimeout)
	if t.SuspicionMult > 0 {
		ml.SuspicionMult = t.SuspicionMult
	}

	c := serf.DefaultConfig()
	c.NodeName = a.set.node
	c.Tags = map[string]string{tagRole: a.set.role, tagRegion: a.set.region}
	c.EventCh = events
	c.MemberlistConfig = ml
	c.Logger = logger
	c.LogOutput = nil
	c.SnapshotPath = "" // no snapshot: membership is rebuilt by joining
	c.QuerySizeLimit = QuerySizeLimit
	c.DisableCoordinates = true // nothing here uses network coordinates
	setDur(&c.BroadcastTimeout, t.BroadcastTimeout)
	setDur(&c.LeavePropagateDelay, t.LeavePropagateDelay)
	setDur(&c.ReconnectInterval, t.ReconnectInterval)
	return c
}

// defaultReconnect replaces serf's 30s: a healed partition, or a peer
// back from a crash, is rejoined within about this long, for one TCP dial
// per interval while a member is failed.
const defaultReconnect = 10 * time.Second

// timings are the configured failure-detector timings, with the actor's
// Options (tests) taking precedence field by field.
func (a *Actor) timings() Timings {
	t, c := a.opts.Timings, a.set.timing
	t.ProbeInterval = cmp.Or(t.ProbeInterval, c.ProbeInterval.Duration)
	t.ProbeTimeout = cmp.Or(t.ProbeTimeout, c.ProbeTimeout.Duration)
	t.ReconnectInterval = cmp.Or(t.ReconnectInterval, c.ReconnectInterval.Duration, defaultReconnect)
	t.SuspicionMult = cmp.Or(t.SuspicionMult, c.SuspicionMult)
	return t
}

func setDur(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

// serfLog turns serf's and memberlist's log lines ("[WARN] serf: ...")
// into zerolog events at debug, keeping their own level as a field: they
// are chatty about normal churn ("Shutdown without a Leave"), and
// everything an operator must see is logged by the actor itself.
type serfLog struct{ log zerolog.Logger }

func (w serfLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := ""
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, line = strings.ToLower(line[1:i]), strings.TrimSpace(line[i+1:])
		}
	}
	w.log.Debug().Str("serf_level", level).Msg(line)
	return len(p), nil
}

// pump moves serf's events into a bounded queue that out delivers to the
// actor's loop, so serf never waits for the actor (a slow reader of serf's
// channel stalls serf itself). When stop closes it empties in once more
// and returns; serfEventBuffer leaves room for whatever serf still
// forwards.
func pump(in <-chan serf.Event, out chan<- serf.Event, stop <-chan struct{}, drop func(serf.Event)) {
	var queue []serf.Event
	for {
		var send chan<- serf.Event
		var head serf.Event
		if len(queue) > 0 {
			send, head = out, queue[0]
		}
		select {
		case e := <-in:
			if len(queue) >= maxQueuedEvents {
				drop(e)
				continue
			}
			queue = append(queue, e)
		case send <- head:
			queue[0] = nil
			queue = queue[1:]
		case <-stop:
			for {
				select {
				case <-in:
				default:
					return
				}
			}
		}
	}
}
