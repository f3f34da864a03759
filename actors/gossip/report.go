package gossip

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// A report is what one agent says about one service: its backends, each
// with the agent's verdict and the check an overwatch may repeat. It
// travels as the payload of a serf query (QueryReport), signed with the
// service's token.
//
// Layout (version 1; integers big-endian; str = 1-byte length + bytes):
//
//	u8   version (1)
//	str  agent node name (1..128 bytes)
//	str  agent region
//	str  service (1..255 bytes)
//	u64  seq: the agent's send time in unix nanoseconds, strictly
//	     increasing per agent (max(now, last+1))
//	u8   backend count, then per backend:
//	       u8  address family (4 or 6), then 4 or 16 address bytes
//	       u16 port
//	       u16 weight
//	       u16 priority
//	       str region
//	       u8  health (0 unknown, 1 healthy, 2 unhealthy)
//	       u8  check type (0 unset, 1 none, 2 http, 3 https, 4 tcp)
//	       str check path
//	       str check host
//	       u8  expected status count, then u16 per status
//	[32] HMAC-SHA256 over every byte above, keyed with the service token
//
// The MAC is the full 32 bytes: truncating it would save 16 bytes (half a
// backend) at the cost of a margin nobody has measured here.
//
// # Size limit
//
// Reports ride in serf queries, which memberlist gossips inside single
// UDP packets of at most 1400 bytes (UDPBufferSize) including encryption
// (29 bytes) and compound-message framing. Serf is configured with
// QuerySizeLimit = 1200 bytes for the whole encoded query. Its envelope
// (query name, tag filter, source node name and address, clocks, timeout)
// measures ~150 bytes plus the node name: with the longest node name (128
// bytes) 919 bytes of payload still fit, so MaxReportSize = 850 keeps a
// margin for an IPv6 source address and larger clock values. Encode
// refuses a larger report with an error naming the agent, the service,
// the size and the limit (the agent logs it and counts it in
// opengslb_agent_report_errors_total); Decode refuses one as ErrTooLarge
// before reading a byte of it (the overwatch answers "refused: too
// large").
//
// How many backends fit: the fixed part is 13 bytes plus the agent name,
// region and service, and the MAC is 32. An IPv4 backend costs 17 bytes
// plus its region, path and host and 2 per expected status: with region
// "us-east-1", path "/health", no host and one status it is 35 bytes, so
// about 22 such backends fit per service and agent; IPv6 adds 12 bytes
// each (about 16 fit). A service with more backends on one agent must be
// split across agents (or use shorter paths, hosts and regions).
const (
	// ReportVersion is the first byte of every report this code writes.
	ReportVersion = 1
	// MaxReportSize is the largest encoded report, MAC included.
	MaxReportSize = 850
	// QuerySizeLimit is serf's limit on an outgoing query, envelope
	// included; see the size notes above.
	QuerySizeLimit = 1200
	// MACSize is the length of the trailing HMAC-SHA256.
	MACSize = sha256.Size
	// MaxNodeName bounds agent (node) names: the wire format has room for
	// what config accepts as a node_id.
	MaxNodeName = config.MaxNodeIDLength
)

// minBackend is the fewest bytes a backend can take (IPv4, empty strings,
// no statuses); Decode refuses a count that could not fit before
// allocating for it.
const minBackend = 1 + 4 + 2 + 2 + 2 + 1 + 1 + 1 + 1 + 1 + 1

var (
	// ErrTooLarge: the report exceeds MaxReportSize.
	ErrTooLarge = errors.New("report too large")
	// ErrVersion: the report was written by a newer (or unknown) format.
	ErrVersion = errors.New("unsupported report version")
	// ErrBadMAC: the MAC does not match the token (wrong token or
	// tampered report).
	ErrBadMAC = errors.New("report MAC does not match the service token")
	// ErrNoToken: there is no token to sign or verify with.
	ErrNoToken = errors.New("empty service token")
)

// checkTypes maps CheckSpec.Type to its wire code; the index is the code.
var checkTypes = [...]string{"", "none", "http", "https", "tcp"}

func checkCode(t string) (uint8, bool) {
	for i, s := range checkTypes {
		if s == t {
			return uint8(i), true
		}
	}
	return 0, false
}

// Report is a decoded report. Its MAC has not been checked until Verify
// returns nil: nothing in it may be trusted before that.
type Report struct {
	Version  uint8
	Agent    string
	Region   string
	Service  string
	Seq      uint64
	Backends []messages.AgentBackend

	signed []byte // the bytes the MAC covers
	mac    []byte
}

// Encode writes r's agent, region, service, seq and backends (Address and
// Received are not part of a report: the overwatch fills them in) and signs
// them with token.
func Encode(r messages.AgentReport, token []byte) ([]byte, error) {
	if len(token) == 0 {
		return nil, fmt.Errorf("gossip: encode report of agent %q for service %q: %w", r.Agent, r.Service, ErrNoToken)
	}
	if r.Agent == "" || len(r.Agent) > MaxNodeName {
		return nil, fmt.Errorf("gossip: encode report for service %q: agent name %q must be 1..%d bytes", r.Service, r.Agent, MaxNodeName)
	}
	if r.Service == "" {
		return nil, fmt.Errorf("gossip: encode report of agent %q: empty service name", r.Agent)
	}
	if len(r.Backends) > 255 {
		return nil, fmt.Errorf("gossip: report of agent %q for service %q has %d backends, over the limit of 255 (and far over the %d-byte size limit)",
			r.Agent, r.Service, len(r.Backends), MaxReportSize)
	}
	w := &writer{buf: make([]byte, 0, 256)}
	w.u8(ReportVersion)
	w.str("agent name", r.Agent)
	w.str("region", r.Region)
	w.str("service", r.Service)
	w.u64(r.Seq)
	w.u8(uint8(len(r.Backends)))
	for i, b := range r.Backends {
		field := fmt.Sprintf("backend %d (%s)", i, netip.AddrPortFrom(b.Address, b.Port))
		addr := b.Address.Unmap()
		switch {
		case addr.Is4():
			w.u8(4)
			a4 := addr.As4()
			w.buf = append(w.buf, a4[:]...)
		case addr.Is6():
			w.u8(6)
			a16 := addr.As16()
			w.buf = append(w.buf, a16[:]...)
		default:
			w.fail("%s: invalid address", field)
		}
		w.u16(b.Port)
		w.intU16(field+" weight", b.Weight)
		w.intU16(field+" priority", b.Priority)
		w.str(field+" region", b.Region)
		if b.Health > messages.HealthUnhealthy {
			w.fail("%s: unknown health state %d", field, b.Health)
		}
		w.u8(uint8(b.Health))
		code, ok := checkCode(b.Check.Type)
		if !ok {
			w.fail("%s: unknown check type %q", field, b.Check.Type)
		}
		w.u8(code)
		w.str(field+" check path", b.Check.Path)
		w.str(field+" check host", b.Check.Host)
		if len(b.Check.ExpectedStatus) > 255 {
			w.fail("%s: %d expected statuses, over the limit of 255", field, len(b.Check.ExpectedStatus))
		}
		w.u8(uint8(len(b.Check.ExpectedStatus)))
		for _, s := range b.Check.ExpectedStatus {
			w.intU16(field+" expected status", s)
		}
	}
	if w.err != nil {
		return nil, fmt.Errorf("gossip: encode report of agent %q for service %q: %w", r.Agent, r.Service, w.err)
	}
	if size := len(w.buf) + MACSize; size > MaxReportSize {
		return nil, fmt.Errorf("gossip: report of agent %q for service %q is %d bytes (%d backends), over the %d-byte limit of one gossip packet: %w",
			r.Agent, r.Service, size, len(r.Backends), MaxReportSize, ErrTooLarge)
	}
	mac := hmac.New(sha256.New, token)
	mac.Write(w.buf)
	return mac.Sum(w.buf), nil
}

// Decode parses a report without trusting it: it checks only the shape.
// It never panics and allocates at most a small multiple of len(b), which
// it refuses beyond MaxReportSize. Call Verify with the service's token
// before using anything in the result.
func Decode(b []byte) (Report, error) {
	if len(b) > MaxReportSize {
		return Report{}, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrTooLarge, len(b), MaxReportSize)
	}
	if len(b) < 1+MACSize {
		return Report{}, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(b))
	}
	if b[0] != ReportVersion {
		return Report{}, fmt.Errorf("%w %d (this node reads version %d)", ErrVersion, b[0], ReportVersion)
	}
	// Own the bytes: the caller's buffer (serf's payload) may be reused.
	b = append([]byte(nil), b...)
	body := b[:len(b)-MACSize]
	r := &reader{b: body, off: 1}
	rep := Report{Version: b[0], signed: body, mac: b[len(b)-MACSize:]}
	rep.Agent = r.str("agent name")
	rep.Region = r.str("region")
	rep.Service = r.str("service")
	rep.Seq = r.u64("seq")
	n := int(r.u8("backend count"))
	if r.err == nil && n*minBackend > r.remaining() {
		r.fail("%d backends cannot fit in %d bytes", n, r.remaining())
	}
	if r.err == nil && n > 0 {
		rep.Backends = make([]messages.AgentBackend, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		rep.Backends = append(rep.Backends, readBackend(r, i))
	}
	if r.err == nil && r.remaining() != 0 {
		r.fail("%d trailing bytes before the MAC", r.remaining())
	}
	if r.err == nil && (rep.Agent == "" || len(rep.Agent) > MaxNodeName) {
		r.fail("agent name must be 1..%d bytes", MaxNodeName)
	}
	if r.err == nil && rep.Service == "" {
		r.fail("empty service name")
	}
	if r.err != nil {
		return Report{}, r.err
	}
	return rep, nil
}

func readBackend(r *reader, i int) messages.AgentBackend {
	what := fmt.Sprintf("backend %d", i)
	var b messages.AgentBackend
	switch fam := r.u8(what + " address family"); fam {
	case 4:
		if p := r.take(4, what+" address"); p != nil {
			b.Address = netip.AddrFrom4([4]byte(p))
		}
	case 6:
		if p := r.take(16, what+" address"); p != nil {
			b.Address = netip.AddrFrom16([16]byte(p))
			if b.Address.Is4In6() {
				// Encode writes these as IPv4: one encoding per report.
				r.fail("%s: IPv4-mapped address in an IPv6 field", what)
			}
		}
	default:
		r.fail("%s: address family %d", what, fam)
	}
	b.Port = r.u16(what + " port")
	b.Weight = int(r.u16(what + " weight"))
	b.Priority = int(r.u16(what + " priority"))
	b.Region = r.str(what + " region")
	h := r.u8(what + " health")
	if h > uint8(messages.HealthUnhealthy) {
		r.fail("%s: health state %d", what, h)
	}
	b.Health = messages.HealthState(h)
	code := r.u8(what + " check type")
	if int(code) >= len(checkTypes) {
		r.fail("%s: check type %d", what, code)
		code = 0
	}
	b.Check.Type = checkTypes[code]
	b.Check.Path = r.str(what + " check path")
	b.Check.Host = r.str(what + " check host")
	ns := int(r.u8(what + " status count"))
	if r.err == nil && ns*2 > r.remaining() {
		r.fail("%s: %d statuses cannot fit in %d bytes", what, ns, r.remaining())
	}
	if r.err == nil && ns > 0 {
		b.Check.ExpectedStatus = make([]int, ns)
		for j := range ns {
			b.Check.ExpectedStatus[j] = int(r.u16(what + " status"))
		}
	}
	return b
}

// Verify checks the report's MAC against token in constant time. A report
// that fails must be dropped whole: its every field is the sender's claim.
func (r Report) Verify(token []byte) error {
	if len(token) == 0 {
		return ErrNoToken
	}
	if len(r.mac) != MACSize {
		return ErrBadMAC
	}
	mac := hmac.New(sha256.New, token)
	mac.Write(r.signed)
	if !hmac.Equal(mac.Sum(nil), r.mac) {
		return ErrBadMAC
	}
	return nil
}

// AgentReport turns a verified report into the message for the zone;
// addr is the agent's gossip address as serf knows it.
func (r Report) AgentReport(addr string, received time.Time) messages.AgentReport {
	return messages.AgentReport{
		Agent:    r.Agent,
		Region:   r.Region,
		Address:  addr,
		Service:  r.Service,
		Seq:      r.Seq,
		Backends: r.Backends,
		Received: received,
	}
}
