package messages

import (
	"time"

	"github.com/miekg/dns"
)

// SignerMsg is what the SignerActor accepts.
type SignerMsg interface{ signerMsg() }

func (ConfigApplied) signerMsg() {}

// SignRequest asks for the signatures of the record sets a snapshot will
// serve, zone by zone. The sender must not modify the records afterwards.
type SignRequest struct {
	Zones []ZoneToSign
	Reply chan<- SignReply
}

func (SignRequest) signerMsg() {}

// ZoneToSign is one zone's record sets. The records of one set share owner,
// class, type and TTL; the order within a set does not matter.
type ZoneToSign struct {
	Zone   string // lower case, fully qualified
	RRsets [][]dns.RR
}

// SignReply answers a SignRequest: one SignedZone per requested zone, in
// the same order, or the reason nothing could be signed.
type SignReply struct {
	Zones []SignedZone
	Err   error
}

// SignedZone carries what a zone's apex publishes for DNSSEC and the
// signatures of the requested record sets.
type SignedZone struct {
	Zone string
	// DNSKEY, CDS and CDNSKEY are the apex's key record sets, signed.
	DNSKEY, CDS, CDNSKEY SignedRRset
	Keys                 []KeyInfo
	// Sigs holds the RRSIGs of each requested set, parallel to RRsets.
	Sigs [][]dns.RR
	// RefreshAt is when the earliest of these signatures should be made
	// again; a snapshot must be rebuilt by then.
	RefreshAt time.Time
}

// SignedRRset is a record set with its RRSIGs.
type SignedRRset struct {
	RRs  []dns.RR
	Sigs []dns.RR
}

// KeyInfo describes one DNSSEC key a zone is signed with.
type KeyInfo struct {
	Zone      string
	KeyTag    uint16
	Algorithm uint8
	Flags     uint16
	Created   time.Time
	// DNSKEY is the public key record, for DS records and the API.
	DNSKEY *dns.DNSKEY
}
