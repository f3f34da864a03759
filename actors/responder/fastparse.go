package responder

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"github.com/miekg/dns"
)

// parseFast reads the common query shape straight from the packet: one
// question whose labels are plain host-name characters, optionally one OPT
// record with at most an ECS option. It returns ok=false for anything else
// (compression in the question, escapes, other records, options it does not
// know, trailing bytes), and the caller falls back to miekg/dns's full
// parser, which then decides exactly as the TCP path does.
//
// The lower-case name is built in scratch and q.lower aliases it without a
// copy: q is valid only until scratch is reused, which is the next packet.
func parseFast(packet []byte, client netip.Addr, scratch []byte) (q query, ok bool) {
	if len(packet) < headerLen+5 {
		return q, false
	}
	flags := binary.BigEndian.Uint16(packet[2:])
	if flags&0x8000 != 0 || (flags>>11)&0xF != dns.OpcodeQuery {
		return q, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(packet[4:]), binary.BigEndian.Uint16(packet[6:]),
		binary.BigEndian.Uint16(packet[8:]), binary.BigEndian.Uint16(packet[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return q, false
	}
	q.id = binary.BigEndian.Uint16(packet)
	q.rd = flags&0x0100 != 0
	q.cd = flags&0x0010 != 0
	q.size = minUDPSize

	off := headerLen
	name := scratch[:0]
	for {
		if off >= len(packet) {
			return q, false
		}
		l := int(packet[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(packet) || len(name)+l+1 > 254 {
			return q, false // a pointer, a reserved label type, or too long
		}
		for _, c := range packet[off : off+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return q, false // needs escaping in presentation form
			}
			name = append(name, c)
		}
		name = append(name, '.')
		off += l
	}
	if len(name) == 0 {
		name = append(name, '.')
	}
	if off+4 > len(packet) {
		return q, false
	}
	q.qtype = binary.BigEndian.Uint16(packet[off:])
	q.qclass = binary.BigEndian.Uint16(packet[off+2:])
	off += 4
	q.question = packet[headerLen:off]
	q.lower = unsafe.String(unsafe.SliceData(name), len(name))

	if ar == 1 {
		if !parseOPT(packet[off:], &q) {
			return q, false
		}
	} else if off != len(packet) {
		return q, false
	}
	if !q.ecs {
		q.subnet = clientPrefix(client)
	}
	return q, true
}

// parseOPT reads an OPT record that must end the packet exactly.
func parseOPT(rr []byte, q *query) bool {
	if len(rr) < 11 || rr[0] != 0 || binary.BigEndian.Uint16(rr[1:]) != dns.TypeOPT {
		return false
	}
	q.edns = true
	q.size = min(max(int(binary.BigEndian.Uint16(rr[3:])), minUDPSize), maxUDPSize)
	// TTL field: extended rcode, version, flags (DO is the top bit).
	q.version = rr[6]
	q.do = rr[7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(rr[9:]))
	opts := rr[11:]
	if len(opts) != rdlen {
		return false
	}
	for len(opts) > 0 {
		if len(opts) < 4 {
			return false
		}
		code, olen := binary.BigEndian.Uint16(opts), int(binary.BigEndian.Uint16(opts[2:]))
		if 4+olen > len(opts) || code != dns.EDNS0SUBNET || q.ecs {
			return false
		}
		if !parseECS(opts[4:4+olen], q) {
			return false
		}
		opts = opts[4+olen:]
	}
	return true
}

// parseECS accepts only what miekg/dns would accept too (RFC 7871 §6):
// family 1 or 2, source and scope prefixes within the family, and exactly
// the address bytes the source prefix needs.
func parseECS(b []byte, q *query) bool {
	if len(b) < 4 {
		return false
	}
	family, source, scope := binary.BigEndian.Uint16(b), b[2], b[3]
	addr := b[4:]
	var full [16]byte
	var ip netip.Addr
	switch family {
	case 1:
		if source > 32 || scope > 32 || len(addr) > 4 {
			return false
		}
		copy(full[:4], addr)
		ip = netip.AddrFrom4([4]byte(full[:4]))
	case 2:
		if source > 128 || scope > 128 || len(addr) > 16 {
			return false
		}
		copy(full[:], addr)
		ip = netip.AddrFrom16(full)
	default:
		return false
	}
	if len(addr) != (int(source)+7)/8 {
		return false
	}
	p, err := ip.Prefix(int(source))
	if err != nil {
		return false
	}
	q.ecs, q.ecsFamily, q.ecsSource, q.subnet = true, family, source, p
	return true
}
