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
	// Retiring marks a key replaced by key sync: still published and
	// signing until DeleteAt, so resolvers that cached the old DNSKEY set
	// keep validating, but no longer the zone's key.
	Retiring bool
	DeleteAt time.Time
}

// ExportKeys asks for the private material of every zone's active key, to
// serve to a key-sync peer.
type ExportKeys struct {
	Reply chan<- []KeyMaterial
}

func (ExportKeys) signerMsg() {}

// KeyMaterial is one key as peers exchange it: the BIND .key record and
// .private text, so what travels is what is stored.
type KeyMaterial struct {
	Zone    string    `json:"zone"`
	KeyTag  uint16    `json:"key_tag"`
	Created time.Time `json:"created"`
	DNSKEY  string    `json:"dnskey"`  // presentation format
	Private string    `json:"private"` // BIND Private-key-format v1.3
	// Source names where it came from (a peer's URL), for logs; not sent.
	Source string `json:"-"`
}

// AdoptKeys offers keys fetched from peers. For each zone the signer keeps
// the keyset that wins the convergence rule (oldest creation, then lowest
// key tag) among its own and these; the loser keeps signing while it
// retires.
type AdoptKeys struct {
	Keys  []KeyMaterial
	Reply chan<- AdoptReply
}

func (AdoptKeys) signerMsg() {}

// AdoptReply lists what changed; Err is set when a key could not be stored,
// in which case nothing for that zone changed.
type AdoptReply struct {
	Adopted []KeyChange
	Err     error
}

// KeyChange is one zone moving from one key to another. From is 0 when the
// zone had no key yet (fetched at start-up).
type KeyChange struct {
	Zone     string
	From, To uint16
	Source   string
}
