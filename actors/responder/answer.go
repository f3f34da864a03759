// Package responder is the authoritative DNS server: miekg/dns listeners
// whose query path reads the current zone snapshot and writes prepared
// record sets, without locks, messages or per-record packing.
package responder

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/zone"
)

// Payload sizes: 512 without EDNS (RFC 1035), and 1232 as our largest UDP
// answer, the DNS Flag Day 2020 value that avoids IP fragmentation.
const (
	minUDPSize = 512
	maxUDPSize = 1232
	headerLen  = 12
)

// query is what the answer path needs from a request, extracted once.
type query struct {
	id     uint16
	opcode int
	rd, cd bool
	name   string // as the client wrote it (presentation form)
	// question, when set, is the question section exactly as received
	// (name, type, class); it is copied instead of packing name.
	question []byte
	lower    string // lower case, fully qualified: the snapshot's key
	qtype    uint16
	qclass   uint16
	edns     bool
	version  uint8
	do       bool
	size     int // the largest response the client accepts over this transport
	// ECS as the client sent it (RFC 7871), and the subnet weighted
	// routing seeds from: the ECS subnet, or the client's own prefix.
	ecs       bool
	ecsFamily uint16
	ecsSource uint8
	subnet    netip.Prefix
}

// hasQuestion reports whether the query carried a question to echo.
func (q *query) hasQuestion() bool { return q.question != nil || q.name != "" }

// parseQuery reads the parts of req the answer depends on. udp tells the
// transport, client the packet's source address.
func parseQuery(req *dns.Msg, client netip.Addr, udp bool) query {
	q := query{id: req.Id, opcode: req.Opcode, rd: req.RecursionDesired, cd: req.CheckingDisabled, size: dns.MaxMsgSize}
	if len(req.Question) > 0 {
		q.name = req.Question[0].Name
		q.qtype = req.Question[0].Qtype
		q.qclass = req.Question[0].Qclass
		q.lower = lowerName(q.name)
	}
	if udp {
		q.size = minUDPSize
	}
	if opt := req.IsEdns0(); opt != nil {
		q.edns = true
		q.version = opt.Version()
		q.do = opt.Do()
		if udp {
			q.size = min(max(int(opt.UDPSize()), minUDPSize), maxUDPSize)
		}
		for _, o := range opt.Option {
			s, ok := o.(*dns.EDNS0_SUBNET)
			if !ok {
				continue
			}
			addr, ok := netip.AddrFromSlice(s.Address)
			if !ok {
				continue
			}
			if p, err := addr.Unmap().Prefix(int(s.SourceNetmask)); err == nil {
				q.ecs, q.ecsFamily, q.ecsSource, q.subnet = true, s.Family, s.SourceNetmask, p
			}
		}
	}
	if !q.ecs {
		q.subnet = clientPrefix(client)
	}
	return q
}

// clientPrefix is the prefix weighted routing seeds from when there is no
// ECS: the client's /24 or /56, so clients behind one resolver or one site
// share an answer.
func clientPrefix(client netip.Addr) netip.Prefix {
	client = client.Unmap()
	bits := 24
	if client.Is6() {
		bits = 56
	}
	p, _ := client.Prefix(bits)
	return p
}

// lowerName returns name in lower case and fully qualified, allocating only
// when it has to.
func lowerName(name string) string {
	clean := len(name) > 0 && name[len(name)-1] == '.'
	for i := 0; clean && i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			clean = false
		}
	}
	if clean {
		return name
	}
	return strings.ToLower(dns.Fqdn(name))
}

// answer writes the complete response to q into buf (reusing its capacity)
// and returns it with its rcode. It never fails: every problem becomes an
// rcode.
func answer(snap *zone.Snapshot, q *query, buf []byte) (resp []byte, rcode int) {
	if q.edns && q.version > 0 {
		// RFC 6891 §6.1.3: BADVERS, no question needed, OPT carries the
		// upper bits of the extended rcode.
		return writeResponse(buf, q, dns.RcodeBadVers, false, zone.RRSet{}, nil, 0), dns.RcodeBadVers
	}
	if q.opcode != dns.OpcodeQuery {
		// NOTIFY and the rest: nothing here is a secondary or updatable.
		return writeResponse(buf, q, dns.RcodeNotImplemented, false, zone.RRSet{}, nil, 0), dns.RcodeNotImplemented
	}
	if !q.hasQuestion() {
		return writeResponse(buf, q, dns.RcodeFormatError, false, zone.RRSet{}, nil, 0), dns.RcodeFormatError
	}
	if snap == nil {
		return writeResponse(buf, q, dns.RcodeServerFailure, false, zone.RRSet{}, nil, 0), dns.RcodeServerFailure
	}
	if q.qclass != dns.ClassINET && q.qclass != dns.ClassANY {
		return writeResponse(buf, q, dns.RcodeRefused, false, zone.RRSet{}, nil, 0), dns.RcodeRefused
	}
	z, node := snap.Lookup(q.lower)
	if z == nil {
		return writeResponse(buf, q, dns.RcodeRefused, false, zone.RRSet{}, nil, 0), dns.RcodeRefused
	}
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		// Zone transfer has no meaning for answers computed per query.
		return writeResponse(buf, q, dns.RcodeRefused, true, zone.RRSet{}, nil, 0), dns.RcodeRefused
	}
	// With the DO bit, a signed zone's answers carry their RRSIGs and its
	// negative answers the records that prove them (RFC 4035 §3.1).
	do := q.do && z.Signed()
	var authority [4]zone.RRSet
	auth := append(authority[:0], z.NegativeSOA.For(do))
	if node == nil {
		if do {
			auth = snap.NameErrorProof(z, q.lower, auth)
		}
		return writeResponse(buf, q, dns.RcodeNameError, true, zone.RRSet{}, auth, 0), dns.RcodeNameError
	}

	var (
		set      zone.RRSet
		ecsScope uint8
	)
	switch {
	case q.qtype == dns.TypeNSEC:
		set, _ = node.OwnNSEC(do)
	case node.Apex:
		switch q.qtype {
		case dns.TypeSOA, dns.TypeANY:
			// RFC 8482: one RRset answers ANY; the SOA is the smallest.
			set = z.SOA.For(do)
		case dns.TypeNS:
			set = z.NS.For(do)
		default:
			if r, ok := z.ApexSet(q.qtype); ok {
				set = r.For(do)
			}
		}
	case node.Domain != nil:
		d := node.Domain
		var a *zone.Answer
		switch q.qtype {
		case dns.TypeA:
			a = &d.A
		case dns.TypeAAAA:
			a = &d.AAAA
		case dns.TypeANY:
			a = &d.A
			if a.Empty() {
				a = &d.AAAA
			}
		}
		if a != nil {
			// Only a choice made per client needs the seed's hashing.
			var seed uint64
			if a.DependsOnClient {
				seed = zone.Seed(q.subnet.Addr().AsSlice(), uint8(q.subnet.Bits()), q.lower)
			}
			var ok bool
			set, ok = a.Pick(seed, do)
			if d.FallbackActive {
				d.CountFallback()
			}
			if !ok {
				return writeResponse(buf, q, dns.RcodeServerFailure, true, zone.RRSet{}, nil, 0), dns.RcodeServerFailure
			}
			if a.DependsOnClient && q.ecs {
				ecsScope = q.ecsSource
			}
		}
	}
	if set.Empty() {
		if do {
			auth = append(auth, node.NoDataProof())
		}
		return writeResponse(buf, q, dns.RcodeSuccess, true, zone.RRSet{}, auth, 0), dns.RcodeSuccess
	}
	return writeResponse(buf, q, dns.RcodeSuccess, true, set, nil, ecsScope), dns.RcodeSuccess
}

// writeResponse lays out header, question, answer, authority and OPT. When
// the result does not fit the client's UDP size it is replaced by a
// truncated response (TC, no records) so the client retries over TCP.
// ecsScope is the scope to echo when the query carried ECS: the source
// prefix when the answer depends on the client, else 0 (RFC 7871 §7.2.1).
func writeResponse(buf []byte, q *query, rcode int, authoritative bool, ans zone.RRSet, auth []zone.RRSet, ecsScope uint8) []byte {
	buf = buf[:0]
	buf = append(buf, make([]byte, headerLen)...)
	qdcount := uint16(0)
	if q.hasQuestion() && rcode != dns.RcodeBadVers {
		var ok bool
		if buf, ok = appendQuestion(buf, q); ok {
			qdcount = 1
		} else {
			buf = buf[:headerLen]
			rcode, ans, auth = dns.RcodeFormatError, zone.RRSet{}, nil
		}
	}
	afterQuestion := len(buf)
	buf = append(buf, ans.Wire...)
	nscount := uint16(0)
	for _, set := range auth {
		buf = append(buf, set.Wire...)
		nscount += set.Count
	}
	buf = appendOPT(buf, q, rcode, ecsScope)
	tc := false
	if len(buf) > q.size {
		// Signed answers are the ones that grow past a client's size: all
		// or nothing, so a validator never sees a set without its RRSIG.
		tc = true
		ans, nscount = zone.RRSet{}, 0
		buf = appendOPT(buf[:afterQuestion], q, rcode, ecsScope)
	}
	arcount := uint16(0)
	if q.edns {
		arcount = 1
	}
	flags := uint16(1<<15) | uint16(q.opcode&0xF)<<11 | uint16(rcode&0xF) // QR, opcode echoed
	if authoritative {
		flags |= 1 << 10
	}
	if tc {
		flags |= 1 << 9
	}
	if q.rd {
		flags |= 1 << 8
	}
	if q.cd {
		flags |= 1 << 4
	}
	binary.BigEndian.PutUint16(buf[0:], q.id)
	binary.BigEndian.PutUint16(buf[2:], flags)
	binary.BigEndian.PutUint16(buf[4:], qdcount)
	binary.BigEndian.PutUint16(buf[6:], ans.Count)
	binary.BigEndian.PutUint16(buf[8:], nscount)
	binary.BigEndian.PutUint16(buf[10:], arcount)
	return buf
}

// appendQuestion writes the question as the client sent it, so its case is
// preserved and prepared owner names (pointers to offset 12) echo it.
func appendQuestion(buf []byte, q *query) ([]byte, bool) {
	if q.question != nil {
		return append(buf, q.question...), true
	}
	start := len(buf)
	buf = append(buf, make([]byte, 256+4)...)
	n, err := dns.PackDomainName(q.name, buf, start, nil, false)
	if err != nil {
		return buf[:start], false
	}
	buf = buf[:n]
	buf = binary.BigEndian.AppendUint16(buf, q.qtype)
	buf = binary.BigEndian.AppendUint16(buf, q.qclass)
	return buf, true
}

// appendOPT adds our OPT record when the client used EDNS: our payload
// size, the extended rcode bits, DO echoed (RFC 3225) and ECS echoed with
// its scope (RFC 7871 §7.2.1).
func appendOPT(buf []byte, q *query, rcode int, ecsScope uint8) []byte {
	if !q.edns {
		return buf
	}
	buf = append(buf, 0) // root owner
	buf = binary.BigEndian.AppendUint16(buf, dns.TypeOPT)
	buf = binary.BigEndian.AppendUint16(buf, maxUDPSize)
	buf = append(buf, byte(rcode>>4), 0) // extended rcode, version 0
	var flags uint16
	if q.do {
		flags |= 1 << 15
	}
	buf = binary.BigEndian.AppendUint16(buf, flags)
	if !q.ecs {
		return binary.BigEndian.AppendUint16(buf, 0)
	}
	addr := q.subnet.Addr().AsSlice()
	addrLen := (int(q.ecsSource) + 7) / 8
	if addrLen > len(addr) {
		addrLen = len(addr)
	}
	optLen := 4 + addrLen
	buf = binary.BigEndian.AppendUint16(buf, uint16(4+optLen))
	buf = binary.BigEndian.AppendUint16(buf, dns.EDNS0SUBNET)
	buf = binary.BigEndian.AppendUint16(buf, uint16(optLen))
	buf = binary.BigEndian.AppendUint16(buf, q.ecsFamily)
	buf = append(buf, q.ecsSource, ecsScope)
	return append(buf, addr[:addrLen]...)
}
