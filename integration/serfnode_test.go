package integration

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// A serf node inside the test process: an attacker who holds the gossip
// key, as every agent does, and speaks serf directly rather than through
// opengslb. It can eavesdrop on agents' reports (a node tagged
// role=overwatch receives them) and send queries of its own. The wire
// names below are the protocol's, not imported from the product.
const (
	queryReport = "opengslb-report" // an agent's signed report, answered "ok" or "refused: <reason>"
)

// serfNode is one in-process serf member.
type serfNode struct {
	name   string
	s      *serf.Serf
	done   chan struct{} // closed when the event reader has returned
	mu     sync.Mutex
	queues map[string]chan []byte // source node → payloads of its reports
}

// joinSerf starts a serf node named name with the "role" tag role, bound
// to bind (host:port; port 0 for any), and joins it to join. It shuts down
// when the test ends.
func joinSerf(t testing.TB, name, role, key, bind string, join []string) *serfNode {
	t.Helper()
	secret, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		t.Fatal(err)
	}
	ml := memberlist.DefaultLANConfig()
	ml.Name = name
	ml.BindAddr = host
	ml.BindPort, _ = strconv.Atoi(port)
	ml.AdvertisePort = ml.BindPort
	ml.SecretKey = secret
	ml.LogOutput = io.Discard

	events := make(chan serf.Event, 1024)
	conf := serf.DefaultConfig()
	conf.NodeName = name
	conf.Tags = map[string]string{"role": role, "region": "test"}
	conf.MemberlistConfig = ml
	conf.LogOutput = io.Discard
	conf.EventCh = events
	// Reports are up to 850 bytes in a query of up to 1200 (the product's
	// limits); serf's default limit of 1024 would refuse to resend one.
	conf.QuerySizeLimit = 1200
	conf.QueryResponseSizeLimit = 1200
	s, err := serf.Create(conf)
	if err != nil {
		t.Fatalf("serf node %s on %s: %v", name, bind, err)
	}
	n := &serfNode{name: name, s: s, done: make(chan struct{}), queues: make(map[string]chan []byte)}
	go n.read(events)
	t.Cleanup(func() {
		// No leave: it would cost a second of propagation, and whether
		// the cluster sees this node leave or fail no longer matters.
		_ = s.Shutdown()
		<-n.done
	})
	if _, err := s.Join(join, true); err != nil {
		t.Fatalf("serf node %s: join %v: %v", name, join, err)
	}
	return n
}

// read drains serf's events at once (a slow reader stalls serf) and keeps
// the payloads of report queries, per sender, until serf shuts down.
func (n *serfNode) read(events <-chan serf.Event) {
	defer close(n.done)
	for {
		select {
		case <-n.s.ShutdownCh():
			return
		case e := <-events:
			q, ok := e.(*serf.Query)
			if !ok || q.Name != queryReport || q.SourceNode() == n.name {
				continue
			}
			select {
			case n.queue(q.SourceNode()) <- append([]byte(nil), q.Payload...):
			default: // nobody is listening for that many
			}
		}
	}
}

func (n *serfNode) queue(source string) chan []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queues[source]
	if q == nil {
		q = make(chan []byte, 64)
		n.queues[source] = q
	}
	return q
}

// capture returns the payload of the next report agent sends after the
// call (the node must be tagged role=overwatch to receive reports).
func (n *serfNode) capture(agent string, timeout time.Duration) ([]byte, error) {
	q := n.queue(agent)
	for len(q) > 0 { // reports sent before the call
		<-q
	}
	select {
	case p := <-q:
		return p, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no report from %s within %s", agent, timeout)
	}
}

// report sends payload as a report query to the overwatches and returns
// their answers by node name, once every node in want answered or the
// query timed out.
func (n *serfNode) report(payload []byte, want ...string) (map[string]string, error) {
	resp, err := n.s.Query(queryReport, payload, &serf.QueryParam{
		FilterTags: map[string]string{"role": "^overwatch$"},
		Timeout:    5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	answers := make(map[string]string)
	for r := range resp.ResponseCh() {
		answers[r.From] = string(r.Payload)
		done := true
		for _, w := range want {
			if _, ok := answers[w]; !ok {
				done = false
			}
		}
		if done {
			break
		}
	}
	return answers, nil
}
