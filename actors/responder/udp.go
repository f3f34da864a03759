package responder

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/zone"
)

// udpWorker answers the datagrams of one SO_REUSEPORT socket in a loop of
// its own. miekg/dns's server would start a goroutine and unpack a full
// Msg for every datagram; on the common query shape this loop does
// neither, and it still hands every other shape to miekg/dns's parser
// (see parseFast), so both transports decide alike.
type udpWorker struct {
	a       *Actor
	conn    *net.UDPConn
	in      []byte
	out     []byte
	scratch []byte
}

func newUDPWorker(a *Actor, conn *net.UDPConn) *udpWorker {
	return &udpWorker{
		a: a, conn: conn,
		in:      make([]byte, dns.MaxMsgSize),
		out:     make([]byte, 0, 4096),
		scratch: make([]byte, 0, 256),
	}
}

// serve reads until the socket is closed, which is how Run stops it.
func (w *udpWorker) serve() error {
	for {
		n, from, err := w.conn.ReadFromUDPAddrPort(w.in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		resp := w.handle(w.in[:n], from.Addr())
		if resp == nil {
			continue
		}
		if _, err := w.conn.WriteToUDPAddrPort(resp, from); err != nil {
			w.a.log.Debug().Err(err).Str("client", from.String()).Msg("response not sent")
		}
	}
}

// handle answers one datagram, or returns nil to drop it. A panic becomes
// SERVFAIL and a counted event, never a dead socket.
func (w *udpWorker) handle(packet []byte, client netip.Addr) (resp []byte) {
	started := time.Now()
	var q query
	defer func() {
		if r := recover(); r != nil {
			queryPanics.Inc()
			w.a.log.Error().Interface("panic", r).Uint16("qtype", q.qtype).Msg("query panicked; answered SERVFAIL")
			safe := query{id: q.id, opcode: q.opcode, size: minUDPSize}
			resp = writeResponse(w.out[:0], &safe, dns.RcodeServerFailure, false, zone.RRSet{}, nil, 0)
			countQuery(q.qtype, dns.RcodeServerFailure)
		}
	}()
	var ok bool
	if q, ok = parseFast(packet, client, w.scratch); !ok {
		var drop bool
		if q, resp, drop = w.slowParse(packet, client); drop || resp != nil {
			return resp
		}
	}
	resp = respond(w.a.store, &q, w.out[:0], started)
	w.out = resp[:0]
	return resp
}

// slowParse handles every query shape parseFast declines, with the same
// rules as miekg/dns's server: responses and garbage shorter than a header
// are dropped; what its accept function rejects gets FORMERR or NOTIMP;
// what does not unpack gets FORMERR.
func (w *udpWorker) slowParse(packet []byte, client netip.Addr) (q query, resp []byte, drop bool) {
	if len(packet) < headerLen {
		malformed.Inc()
		return q, nil, true
	}
	hdr := dns.Header{
		Id:      binary.BigEndian.Uint16(packet),
		Bits:    binary.BigEndian.Uint16(packet[2:]),
		Qdcount: binary.BigEndian.Uint16(packet[4:]),
		Ancount: binary.BigEndian.Uint16(packet[6:]),
		Nscount: binary.BigEndian.Uint16(packet[8:]),
		Arcount: binary.BigEndian.Uint16(packet[10:]),
	}
	reject := func(rcode int) (query, []byte, bool) {
		bare := query{id: hdr.Id, opcode: int(hdr.Bits>>11) & 0xF, size: minUDPSize}
		countQuery(0, rcode)
		return bare, writeResponse(w.out[:0], &bare, rcode, false, zone.RRSet{}, nil, 0), false
	}
	switch dns.DefaultMsgAcceptFunc(hdr) {
	case dns.MsgIgnore:
		return q, nil, true
	case dns.MsgReject:
		malformed.Inc()
		return reject(dns.RcodeFormatError)
	case dns.MsgRejectNotImplemented:
		return reject(dns.RcodeNotImplemented)
	}
	req := new(dns.Msg)
	if err := req.Unpack(packet); err != nil {
		malformed.Inc()
		return reject(dns.RcodeFormatError)
	}
	return parseQuery(req, client, true), nil, false
}
