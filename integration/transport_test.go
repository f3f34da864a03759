package integration

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The responder answers UDP with its own parser for the common query shape
// and hands everything else, and all of TCP, to miekg/dns. The tests here
// send the same bytes over both transports and require the same decision,
// so a shortcut in the UDP path cannot quietly answer differently.

// noReply bounds the wait for a reply that may rightly never come (a
// datagram with QR set is dropped).
const noReply = 300 * time.Millisecond

// rawUDP sends packet in one datagram and returns the reply, or nil if
// none came within wait.
func rawUDP(addr string, packet []byte, wait time.Duration) ([]byte, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Write(packet); err != nil {
		return nil, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	buf := make([]byte, dns.MaxMsgSize)
	n, err := conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// rawTCP sends packet with its length prefix on a new connection and
// returns the reply, or nil if none came within wait (or the server closed
// the connection without one).
func rawTCP(addr string, packet []byte, wait time.Duration) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(binary.BigEndian.AppendUint16(nil, uint16(len(packet)))); err != nil {
		return nil, err
	}
	if _, err := conn.Write(packet); err != nil {
		return nil, err
	}
	var prefix [2]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil
		}
		return nil, err
	}
	reply := make([]byte, binary.BigEndian.Uint16(prefix[:]))
	if _, err := io.ReadFull(conn, reply); err != nil {
		return nil, fmt.Errorf("reply cut short: %w", err)
	}
	return reply, nil
}

// decision renders a reply as what a client acts on, independent of
// round-robin order: header fields, question, the sorted sections and the
// OPT record. A reply that does not unpack is rendered as its bytes.
func decision(reply []byte) string {
	if reply == nil {
		return "no reply"
	}
	m := new(dns.Msg)
	if err := m.Unpack(reply); err != nil {
		return fmt.Sprintf("unparseable reply (%v): %s", err, hex.EncodeToString(reply))
	}
	var b strings.Builder
	if m.Rcode == dns.RcodeFormatError || m.Rcode == dns.RcodeNotImplemented {
		// A rejected query: miekg/dns copies the query's header bits
		// (even TC and AD) into its reply and may reset the opcode, the
		// UDP path's reply clears the bits and echoes the opcode. Only
		// the rejection itself is compared.
		fmt.Fprintf(&b, "id=%d rcode=%s qr=%v\n", m.Id, dns.RcodeToString[m.Rcode], m.Response)
		return b.String()
	}
	fmt.Fprintf(&b, "id=%d opcode=%s rcode=%s qr=%v aa=%v tc=%v rd=%v ra=%v ad=%v cd=%v z=%v\n",
		m.Id, dns.OpcodeToString[m.Opcode], dns.RcodeToString[m.Rcode], m.Response, m.Authoritative, m.Truncated,
		m.RecursionDesired, m.RecursionAvailable, m.AuthenticatedData, m.CheckingDisabled, m.Zero)
	for _, q := range m.Question {
		fmt.Fprintf(&b, "question: %s\n", q.String())
	}
	for _, s := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", m.Answer}, {"authority", m.Ns}} {
		for _, line := range section(s.rrs) {
			fmt.Fprintf(&b, "%s: %s\n", s.name, line)
		}
	}
	var extra []string
	for _, rr := range m.Extra {
		extra = append(extra, strings.ReplaceAll(rr.String(), "\n", " "))
	}
	slices.Sort(extra)
	for _, line := range extra {
		fmt.Fprintf(&b, "additional: %s\n", line)
	}
	return b.String()
}

// packetCase is one query as bytes.
type packetCase struct {
	name   string
	packet []byte
}

func packMsg(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	p, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// queryPackets is a spread of well-formed and ill-formed queries, each
// built as bytes so that the same bytes go over both transports.
func queryPackets(t testing.TB) []packetCase {
	t.Helper()
	msg := func(name string, qtype uint16, edit ...func(*dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Id = 0x4242
		m.RecursionDesired = false
		for _, e := range edit {
			e(m)
		}
		return packMsg(t, m)
	}
	edns := func(size uint16, do bool, opts ...dns.EDNS0) func(*dns.Msg) {
		return func(m *dns.Msg) {
			m.SetEdns0(size, do)
			m.IsEdns0().Option = append(m.IsEdns0().Option, opts...)
		}
	}
	ecs := func(family uint16, source, scope uint8, addr string) *dns.EDNS0_SUBNET {
		return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source, SourceScope: scope, Address: net.ParseIP(addr)}
	}
	set := func(f func(*dns.Msg)) func(*dns.Msg) { return f }
	// rawQuestion builds a header and a question from hand-made name bytes.
	rawQuestion := func(name []byte, qtype uint16, tail ...byte) []byte {
		p := []byte{0x42, 0x42, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
		p = append(p, name...)
		p = binary.BigEndian.AppendUint16(p, qtype)
		p = binary.BigEndian.AppendUint16(p, dns.ClassINET)
		return append(p, tail...)
	}
	header := func(flags, qd, an, ns, ar uint16, rest []byte) []byte {
		p := []byte{0x42, 0x42}
		for _, v := range []uint16{flags, qd, an, ns, ar} {
			p = binary.BigEndian.AppendUint16(p, v)
		}
		return append(p, rest...)
	}
	question := rawQuestion([]byte("\x02rr\x04gslb\x04test\x00"), dns.TypeA)[12:]
	long := strings.Repeat(strings.Repeat("a", 61)+".", 3) + "gslb.test." // 196 octets, in the zone
	return []packetCase{
		{"A", msg("rr.gslb.test.", dns.TypeA)},
		{"A mixed case", msg("rR.GsLb.TEST.", dns.TypeA)},
		{"AAAA", msg("rr.gslb.test.", dns.TypeAAAA)},
		{"MX is NODATA", msg("rr.gslb.test.", dns.TypeMX)},
		{"NXDOMAIN", msg("nope.gslb.test.", dns.TypeA)},
		{"empty non-terminal", msg("deep.gslb.test.", dns.TypeA)},
		{"apex SOA", msg("gslb.test.", dns.TypeSOA)},
		{"apex NS", msg("gslb.test.", dns.TypeNS)},
		{"apex ANY", msg("gslb.test.", dns.TypeANY)},
		{"domain ANY", msg("rr.gslb.test.", dns.TypeANY)},
		{"AXFR", msg("gslb.test.", dns.TypeAXFR)},
		{"IXFR", msg("gslb.test.", dns.TypeIXFR)},
		{"unknown type", msg("rr.gslb.test.", 65280)},
		{"outside the zone", msg("www.example.org.", dns.TypeA)},
		{"root NS", msg(".", dns.TypeNS)},
		{"class CH", msg("rr.gslb.test.", dns.TypeA, set(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }))},
		{"class ANY", msg("rr.gslb.test.", dns.TypeA, set(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassANY }))},
		{"class NONE", msg("rr.gslb.test.", dns.TypeA, set(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassNONE }))},
		{"RD and CD", msg("rr.gslb.test.", dns.TypeA, set(func(m *dns.Msg) { m.RecursionDesired, m.CheckingDisabled = true, true }))},
		{"AD and Z", msg("rr.gslb.test.", dns.TypeA, set(func(m *dns.Msg) { m.AuthenticatedData, m.Zero = true, true }))},
		{"long name", msg(long, dns.TypeA)},
		{"escaped dot in a label", msg(`a\.b.gslb.test.`, dns.TypeA)},
		{"zero byte in a label", msg(`\000.gslb.test.`, dns.TypeA)},
		{"space in a label", msg(`a\032b.rr.gslb.test.`, dns.TypeA)},
		{"EDNS", msg("rr.gslb.test.", dns.TypeA, edns(1232, false))},
		{"EDNS DO", msg("rr.gslb.test.", dns.TypeA, edns(1232, true))},
		{"EDNS size 0", msg("rr.gslb.test.", dns.TypeA, edns(0, false))},
		{"EDNS size 65535", msg("rr.gslb.test.", dns.TypeA, edns(65535, false))},
		{"EDNS version 1", msg("rr.gslb.test.", dns.TypeA, edns(1232, false), set(func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }))},
		{"EDNS version 1 with ECS", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 24, 0, "100.64.1.0")), set(func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }))},
		{"EDNS unknown flag", msg("rr.gslb.test.", dns.TypeA, edns(1232, false), set(func(m *dns.Msg) { m.IsEdns0().SetZ(0x1000) }))},
		{"ECS v4 /24 weighted", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 24, 0, "100.64.7.0")))},
		{"ECS v4 /32 weighted", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 32, 0, "100.64.7.9")))},
		{"ECS v4 /0 weighted", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 0, 0, "0.0.0.0")))},
		{"ECS v4 /20 weighted", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 20, 0, "100.64.16.0")))},
		{"ECS v6 /56 weighted", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(2, 56, 0, "2001:db8:1:200::")))},
		{"ECS v6 /0 weighted", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(2, 0, 0, "::")))},
		{"ECS round-robin", msg("rr.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 24, 0, "100.64.7.0")))},
		{"ECS NXDOMAIN", msg("nope.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 24, 0, "100.64.7.0")))},
		{"ECS with a scope in the query", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 24, 16, "100.64.7.0")))},
		{"ECS with host bits set", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 20, 0, "100.64.31.0")))},
		{"ECS and a cookie", msg("weighted.gslb.test.", dns.TypeA, edns(1232, false, ecs(1, 24, 0, "100.64.7.0"),
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}))},
		{"cookie only", msg("rr.gslb.test.", dns.TypeA, edns(1232, false, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}))},
		{"NSID", msg("rr.gslb.test.", dns.TypeA, edns(1232, false, &dns.EDNS0_NSID{Code: dns.EDNS0NSID}))},
		{"ECS family 3", rawQuestion([]byte("\x08weighted\x04gslb\x04test\x00"), dns.TypeA,
			0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 8, 0, 8, 0, 4, 0, 3, 0, 0)},
		{"ECS v4 /33", rawQuestion([]byte("\x08weighted\x04gslb\x04test\x00"), dns.TypeA,
			0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 13, 0, 8, 0, 9, 0, 1, 33, 0, 100, 64, 7, 9, 1)},
		{"ECS /24 with 4 address bytes", rawQuestion([]byte("\x08weighted\x04gslb\x04test\x00"), dns.TypeA,
			0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 12, 0, 8, 0, 8, 0, 1, 24, 0, 100, 64, 7, 0)},
		{"OPT with a short rdata", rawQuestion([]byte("\x02rr\x04gslb\x04test\x00"), dns.TypeA,
			0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 12, 0, 8)},
		{"OPT owner not root", rawQuestion([]byte("\x02rr\x04gslb\x04test\x00"), dns.TypeA,
			1, 'x', 0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0)},
		{"two OPT records", header(0, 1, 0, 0, 2, append(append(slices.Clone(question),
			0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0), 0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0))},
		{"compressed question", rawQuestion([]byte("\x02rr\xc0\x0c"), dns.TypeA)},
		{"pointer past the end", rawQuestion([]byte("\x02rr\xc0\xff"), dns.TypeA)},
		{"label type 0x40", rawQuestion([]byte("\x42rr\x04gslb\x04test\x00"), dns.TypeA)},
		{"trailing bytes", rawQuestion([]byte("\x02rr\x04gslb\x04test\x00"), dns.TypeA, 1, 2, 3)},
		{"question cut short", header(0, 1, 0, 0, 0, question[:len(question)-2])},
		{"no question", header(0, 0, 0, 0, 0, nil)},
		{"two questions", header(0, 2, 0, 0, 0, append(slices.Clone(question), question...))},
		{"answer record in a query", header(0, 1, 1, 0, 0, append(slices.Clone(question),
			0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 99))},
		{"QR set", header(0x8000, 1, 0, 0, 0, question)},
		{"opcode IQUERY", header(1<<11, 1, 0, 0, 0, question)},
		{"opcode STATUS", header(2<<11, 1, 0, 0, 0, question)},
		{"opcode NOTIFY", header(4<<11, 1, 0, 0, 0, question)},
		{"opcode UPDATE", header(5<<11, 1, 0, 0, 0, question)},
		{"opcode 15", header(15<<11, 1, 0, 0, 0, question)},
		{"rcode set in a query", header(3, 1, 0, 0, 0, question)},
	}
}

// TestTransportsDecideAlike sends each query of queryPackets over UDP and
// over TCP: the replies must agree (UDP may truncate only what does not
// fit, and none of these answers is that large).
func TestTransportsDecideAlike(t *testing.T) {
	o := startDNS(t)
	for _, tc := range queryPackets(t) {
		t.Run(tc.name, func(t *testing.T) {
			compareTransports(t, o, tc.packet)
		})
	}
	assertNoPanics(t, o)
}

func compareTransports(t *testing.T, o *overwatch, packet []byte) {
	t.Helper()
	udp, err := rawUDP(o.ports.dns, packet, noReply)
	if err != nil {
		t.Fatalf("udp: %v", err)
	}
	tcp, err := rawTCP(o.ports.dns, packet, noReply)
	if err != nil {
		t.Fatalf("tcp: %v", err)
	}
	if u, c := decision(udp), decision(tcp); u != c {
		t.Errorf("query %x\nUDP reply:\n%s\nTCP reply:\n%s", packet, u, c)
	}
}

// TestTransportsDecideAlikeOnMutations flips bytes of well-formed queries
// (a fixed seed, so a failure reproduces) and requires that UDP and TCP
// still agree and that nothing panics.
func TestTransportsDecideAlikeOnMutations(t *testing.T) {
	o := startDNS(t)
	rng := rand.New(rand.NewPCG(7, 11))
	var seeds [][]byte
	for _, tc := range queryPackets(t) {
		if r, _ := rawUDP(o.ports.dns, tc.packet, noReply); r != nil && r[3]&0x0F == dns.RcodeSuccess {
			seeds = append(seeds, tc.packet) // mutate what parses, so mutations reach deep
		}
	}
	const mutations = 1000
	differ, silent := 0, 0
	for i := range mutations {
		p := slices.Clone(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(3) {
			switch pos := rng.IntN(len(p)); rng.IntN(4) {
			case 0:
				p = p[:max(pos+1, 12)] // cut short, but keep the header: shorter is dropped unanswered
			case 1:
				p[pos] ^= 1 << rng.UintN(8)
			default:
				p[max(pos, 2)] = byte(rng.UintN(256)) // keep the id, so replies can be matched
			}
		}
		p[2] &^= 0x80 // a query, else both transports rightly stay silent
		udp, err := rawUDP(o.ports.dns, p, noReply)
		if err != nil {
			t.Fatalf("udp: %v", err)
		}
		tcp, err := rawTCP(o.ports.dns, p, noReply)
		if err != nil {
			t.Fatalf("tcp: %v", err)
		}
		if udp == nil {
			silent++
		}
		if u, c := decision(udp), decision(tcp); u != c {
			differ++
			if differ <= 5 {
				t.Errorf("mutation %d: query %x\nUDP reply:\n%s\nTCP reply:\n%s", i, p, u, c)
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d mutated queries got different replies over UDP and TCP", differ, mutations)
	}
	t.Logf("%d of %d mutated queries got no reply", silent, mutations)
	assertNoPanics(t, o)
	// And the server still answers.
	if err := o.expectAddresses("rr.gslb.test.", dns.TypeA, "192.0.2.1", "192.0.2.2", "192.0.2.3")(); err != nil {
		t.Fatal(err)
	}
}

func assertNoPanics(t *testing.T, o *overwatch) {
	t.Helper()
	text, err := o.metricsText()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := metricValue(text, "opengslb_dns_panics_total"); n != 0 {
		t.Errorf("opengslb_dns_panics_total = %v, want 0", n)
	}
	for _, e := range o.logs() {
		if strings.Contains(e.str("message"), "panicked") {
			t.Errorf("panic logged: %v", e)
		}
	}
}
