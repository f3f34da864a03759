package integration

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// High availability as clients and operators see it (ha_harness_test.go):
// three overwatches sharing one DNSSEC key, one agent, and a stub
// resolver listing the three as nameservers.

// haLookups is how many lookups each phase of a test makes.
const haLookups = 30

// One overwatch stopped: every lookup is still answered, the resolver
// moving on from the stopped one. Two stopped: the survivor alone answers
// every lookup, and its answers are signed with the shared key.
func TestHANodeFailure(t *testing.T) {
	h := startHA(t, "127.0.0.91")
	h.mustLookups(t, haLookups, "all three up")

	// The first listed nameserver goes: every lookup tries it first.
	h.nodes[0].stop(syscall.SIGTERM)
	h.mustLookups(t, haLookups, "ow1 stopped")

	h.nodes[1].stop(syscall.SIGTERM)
	h.mustLookups(t, haLookups, "ow1 and ow2 stopped")
	survivor := h.nodes[2]
	// The survivor still holds the agent's report, and the agent still
	// has an overwatch to report to.
	checkFor(t, time.Second, survivor.expectAddresses(webName, dns.TypeA, h.target.ip))
	if err := survivor.expectReady(); err != nil {
		t.Error(err)
	}
	h.expectSigned(t, survivor, h.tags[0])
	if tags := survivor.activeTags(t); !slices.Equal(tags, h.tags) {
		t.Errorf("the survivor signs with %v, the three shared %v", tags, h.tags)
	}
}

// Each overwatch restarted in turn (stop, start with the same file and
// data_dir, wait for ready), while a client looks the agent's name up
// all along: no lookup fails, each restarted node is ready again, and
// every node still signs with the key they shared before.
func TestHARollingRestart(t *testing.T) {
	h := startHA(t, "127.0.0.92")
	// At a lookup every 20ms the bound is far beyond the test's length.
	bg := h.startLookups(3000)
	for i := range h.nodes {
		start := time.Now()
		n := h.restart(i) // waits for GET /api/v1/ready 200
		t.Logf("%s ready %s after it was stopped", n.name, time.Since(start).Round(10*time.Millisecond))
		h.expectSigned(t, n, h.tags[0])
	}
	count, failed := bg.stop()
	t.Logf("%d lookups during the rolling restart", count)
	if len(failed) > 0 {
		t.Errorf("%d of %d lookups failed during the rolling restart:\n%s", len(failed), count, strings.Join(failed, "\n"))
	}
	if count < 50 {
		t.Errorf("only %d lookups during three restarts: the client was not looking all along", count)
	}
	checkFor(t, syncTimeout, expectSameKeys(t, h.nodes...))
	for _, n := range h.nodes {
		if tags := n.activeTags(t); !slices.Equal(tags, h.tags) {
			t.Errorf("%s signs with %v after the restarts, %v before", n.name, tags, h.tags)
		}
		if stored := storedKeys(t, n); !slices.Equal(stored, h.tags) {
			t.Errorf("%s stores keys %v after the restarts, %v before", n.name, stored, h.tags)
		}
	}
}

// All three stopped, then one started again alone, its peers still
// down, the agent still running. What an operator can expect:
//
//   - It serves DNS as soon as it has started, signed with the key it
//     stored: it makes no new key although no peer answers key sync,
//     and says so (sync_success 0, last_sync_error names the peers).
//   - The agent-backed name answers SERVFAIL until the agent has
//     reported to it (the cold start of the README: resolvers try the
//     next nameserver rather than cache an empty answer). The agent,
//     left without overwatches, keeps joining the addresses it lists
//     (backing off up to seconds), so that takes a few seconds; nothing
//     else (no empty answer, no other address) is served meanwhile.
//   - GET /api/v1/ready turns 200 when the agent has reported, and the
//     name is then answered at once, through the stub resolver too.
func TestHAFullStopThenOneAlone(t *testing.T) {
	h := startHA(t, "127.0.0.93")
	// The last to go is the one that comes back; its peers first.
	for _, i := range []int{2, 1, 0} {
		h.nodes[i].stop(syscall.SIGTERM)
	}
	stopped := time.Now()
	lone := h.nodes[0].restart(t)
	lone.name = "ow1"
	h.nodes[0] = lone
	t.Cleanup(h.stopAll)
	t.Logf("ow1 serving DNS again %s after the last overwatch stopped", time.Since(stopped).Round(10*time.Millisecond))

	// The key: the one stored, at once, without a peer.
	if tags := lone.activeTags(t); !slices.Equal(tags, h.tags) {
		t.Fatalf("ow1 alone signs with %v, the three shared %v", tags, h.tags)
	}
	if tags := dnskeyTag(t, lone.overwatch); tags != h.tags[0] {
		t.Errorf("ow1 alone serves DNSKEY %d, the shared key is %d", tags, h.tags[0])
	}

	// Until the agent reports: SERVFAIL, nothing else; then its backend.
	var servfails int
	checkFor(t, haRejoinTimeout, func() error {
		r, err := lone.exchange(q(webName, dns.TypeA))
		if err != nil {
			return permanent{err}
		}
		switch {
		case r.Rcode == dns.RcodeServerFailure:
			servfails++
			return errors.New("still SERVFAIL: the agent has not reported yet")
		case r.Rcode == dns.RcodeSuccess && slices.Equal(addresses(r), []string{h.target.ip}):
			return nil
		default:
			return permanent{fmt.Errorf("before the agent reported: rcode %s, answer %v; want SERVFAIL, then %s", dns.RcodeToString[r.Rcode], addresses(r), h.target.ip)}
		}
	})
	t.Logf("ow1 alone served the agent's backend %s after the last overwatch stopped (%d SERVFAIL answers before)",
		time.Since(stopped).Round(10*time.Millisecond), servfails)
	checkFor(t, 3*time.Second, lone.expectReady)
	if e, err := lone.findLog("warm-up done"); err != nil || e.str("reason") != "all agents reported" {
		t.Errorf("ow1: warm-up done %v (%v), want reason \"all agents reported\" (the agent found it again)", e, err)
	}
	h.mustLookups(t, haLookups, "ow1 alone after a full stop")
	h.expectSigned(t, lone, h.tags[0])

	// No key was made, and the failing sync says why.
	checkFor(t, syncTimeout, lone.expectMetric("opengslb_dnssec_sync_success", 0))
	if err := lone.expectMetric("opengslb_dnssec_keys_generated_total", 0)(); err != nil {
		t.Error(err)
	}
	st := lone.dnssecStatus(t).Sync
	if st.LastSyncError == nil || !strings.Contains(*st.LastSyncError, h.nodes[1].base) || !strings.Contains(*st.LastSyncError, h.nodes[2].base) {
		t.Errorf("last_sync_error with both peers down: %v; want both peers named", deref(st.LastSyncError))
	}
	if stored := storedKeys(t, lone); !slices.Equal(stored, h.tags) {
		t.Errorf("ow1 stores keys %v, the three shared %v", stored, h.tags)
	}
	if tags := lone.activeTags(t); !slices.Equal(tags, h.tags) {
		t.Errorf("ow1 alone signs with %v after sync rounds against dead peers, the three shared %v", tags, h.tags)
	}
}
