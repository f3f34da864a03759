package responder

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// The fast parser must read a query exactly as miekg/dns's parser does,
// or decline it. For every packet it accepts, the query it builds must
// equal parseQuery's in everything the answer depends on.
func checkFastMatchesSlow(t *testing.T, packet []byte) (accepted bool) {
	t.Helper()
	client := netip.MustParseAddr("192.0.2.7")
	fast, ok := parseFast(packet, client, make([]byte, 0, 256))
	if !ok {
		return false
	}
	req := new(dns.Msg)
	if err := req.Unpack(packet); err != nil {
		t.Fatalf("fast parser accepted a packet miekg/dns rejects (%v): %x", err, packet)
	}
	slow := parseQuery(req, client, true)
	type view struct {
		id            uint16
		opcode        int
		rd, cd        bool
		lower         string
		qtype, qclass uint16
		edns          bool
		version       uint8
		do            bool
		size          int
		ecs           bool
		ecsFamily     uint16
		ecsSource     uint8
		subnet        netip.Prefix
	}
	f := view{fast.id, fast.opcode, fast.rd, fast.cd, fast.lower, fast.qtype, fast.qclass, fast.edns, fast.version, fast.do, fast.size, fast.ecs, fast.ecsFamily, fast.ecsSource, fast.subnet}
	s := view{slow.id, slow.opcode, slow.rd, slow.cd, slow.lower, slow.qtype, slow.qclass, slow.edns, slow.version, slow.do, slow.size, slow.ecs, slow.ecsFamily, slow.ecsSource, slow.subnet}
	if f != s {
		t.Fatalf("fast and slow parse differ for %x:\nfast %+v\nslow %+v", packet, f, s)
	}
	// The question bytes copied verbatim must be what packing the
	// presentation name gives, so both paths write the same response.
	if got, want := string(appendQuestionBytes(&fast)), string(appendQuestionBytes(&slow)); got != want {
		t.Fatalf("question bytes differ: fast %x slow %x", got, want)
	}
	return true
}

func appendQuestionBytes(q *query) []byte {
	b, _ := appendQuestion(nil, q)
	return b
}

func TestFastParseMatchesMiekg(t *testing.T) {
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	q := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		return m
	}
	withECS := func(m *dns.Msg, family uint16, bits uint8, addr []byte) *dns.Msg {
		m.SetEdns0(4096, true)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: bits, Address: addr})
		return m
	}
	edns := func(m *dns.Msg, size uint16, do bool) *dns.Msg { m.SetEdns0(size, do); return m }

	accepted := []*dns.Msg{
		q("webapp.gslb.example.com.", dns.TypeA),
		q("WebApp.GSLB.example.COM.", dns.TypeAAAA),
		q(".", dns.TypeNS),
		q("under_score.gslb.example.com.", dns.TypeTXT),
		edns(q("webapp.gslb.example.com.", dns.TypeA), 512, false),
		edns(q("webapp.gslb.example.com.", dns.TypeA), 100, true),
		edns(q("webapp.gslb.example.com.", dns.TypeA), 65000, true),
		withECS(q("weighted.gslb.example.com.", dns.TypeA), 1, 24, []byte{198, 51, 100, 0}),
		withECS(q("weighted.gslb.example.com.", dns.TypeA), 2, 56, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
		withECS(q("weighted.gslb.example.com.", dns.TypeA), 1, 0, []byte{0, 0, 0, 0}),
	}
	for _, m := range accepted {
		if !checkFastMatchesSlow(t, pack(m)) {
			t.Errorf("fast parser declined a common query: %v", m.Question)
		}
	}

	tsig := q("webapp.gslb.example.com.", dns.TypeA)
	tsig.SetEdns0(1232, false)
	tsig.Extra = append(tsig.Extra, &dns.TXT{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{"x"}})
	cookie := edns(q("webapp.gslb.example.com.", dns.TypeA), 1232, false)
	cookie.IsEdns0().Option = append(cookie.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	response := q("webapp.gslb.example.com.", dns.TypeA)
	response.Response = true
	declined := map[string][]byte{
		"escaped dot in a label":     pack(q(`a\.b.gslb.example.com.`, dns.TypeA)),
		"two additional records":     pack(tsig),
		"an option it does not read": pack(cookie),
		"a response":                 pack(response),
		"trailing garbage":           append(pack(q("webapp.gslb.example.com.", dns.TypeA)), 0xff),
		"compressed question":        {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1},
		"truncated question":         pack(q("webapp.gslb.example.com.", dns.TypeA))[:20],
	}
	for name, packet := range declined {
		if checkFastMatchesSlow(t, packet) {
			t.Errorf("%s: fast parser accepted it; it must defer to miekg/dns", name)
		}
	}
}
