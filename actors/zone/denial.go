package zone

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// denial is a signed zone's authenticated denial of existence: the NSEC3
// (or NSEC) chain over every name the zone has, each record packed with
// its RRSIG when the snapshot is built. The chain covers every name there
// is, so a query for any name, however random, is proved from records
// signed in advance: answering costs at most one SHA-1 and a binary search,
// never a signature.
type denial struct {
	nsec3 bool
	// signed[i] is chain record i followed by its RRSIG, and plain[i]
	// the record alone; both uncompressed, so valid anywhere in a message.
	signed []RRSet
	plain  []RRSet
	// NSEC3: hashes[i] is the hash of record i's owner, in chain order.
	hashes [][sha1.Size]byte
	// NSEC: names[i] is record i's owner, in canonical order.
	names []wireName
}

// noProof marks a node with no denial record (an unsigned zone).
const noProof = -1

// chainEntry is one name of a zone with the types it holds.
type chainEntry struct {
	name  string
	node  *Node
	types []uint16
	wire  wireName
	hash  [sha1.Size]byte
}

// buildChain orders a zone's names into its NSEC3 or NSEC chain, returns
// the records to sign (in chain order), and sets each node's proof and
// wildcard cover. ENTs are in an NSEC3 chain (RFC 5155 §7.1) and not in
// an NSEC one, where the record before them proves them (RFC 4035 §3.1.3.2).
func buildChain(z *Zone, entries []chainEntry, nsec3 bool, ttl uint32) ([]dns.RR, error) {
	d := &denial{nsec3: nsec3}
	for i := range entries {
		e := &entries[i]
		w, ok := newWireName(e.name)
		if !ok {
			return nil, fmt.Errorf("dnssec: name %s does not pack", e.name)
		}
		e.wire = w
		e.hash = nsec3Hash(w.wire)
	}
	var chain []chainEntry
	if nsec3 {
		chain = append(chain, entries...)
		sort.Slice(chain, func(i, j int) bool { return bytes.Compare(chain[i].hash[:], chain[j].hash[:]) < 0 })
	} else {
		for _, e := range entries {
			if e.node.Apex || e.node.Domain != nil {
				chain = append(chain, e)
			}
		}
		sort.Slice(chain, func(i, j int) bool { return canonicalCompare(chain[i].wire, chain[j].wire) < 0 })
	}
	rrs := make([]dns.RR, len(chain))
	for i, e := range chain {
		next := chain[(i+1)%len(chain)]
		if nsec3 {
			d.hashes = append(d.hashes, e.hash)
			rrs[i] = &dns.NSEC3{
				Hdr:  dns.RR_Header{Name: strings.ToLower(base32Hex.EncodeToString(e.hash[:])) + "." + z.Name, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
				Hash: dns.SHA1, HashLength: sha1.Size, NextDomain: base32Hex.EncodeToString(next.hash[:]),
				TypeBitMap: e.types,
			}
		} else {
			d.names = append(d.names, e.wire)
			rrs[i] = &dns.NSEC{
				Hdr:        dns.RR_Header{Name: e.name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
				NextDomain: next.name, TypeBitMap: e.types,
			}
		}
	}
	for _, e := range entries {
		e.node.proof = d.proveExisting(e)
		wild, ok := newWireName(wildcardOf(e.name))
		if !ok {
			return nil, fmt.Errorf("dnssec: wildcard of %s does not pack", e.name)
		}
		e.node.wildcard = d.cover(wild)
	}
	d.signed = make([]RRSet, len(rrs))
	d.plain = make([]RRSet, len(rrs))
	z.denial = d
	return rrs, nil
}

// proveExisting is the record that shows what e has: its own, or for an
// ENT in an NSEC chain the one before it, whose next name lies below it.
func (d *denial) proveExisting(e chainEntry) int {
	if d.nsec3 {
		i := sort.Search(len(d.hashes), func(i int) bool { return bytes.Compare(d.hashes[i][:], e.hash[:]) >= 0 })
		return i
	}
	return d.cover(e.wire)
}

// cover is the chain record whose owner is name or comes last before it,
// wrapping round to the last record for a name before the first.
func (d *denial) cover(name wireName) int {
	if d.nsec3 {
		h := nsec3Hash(name.wire)
		return d.coverHash(h)
	}
	i := sort.Search(len(d.names), func(i int) bool { return canonicalCompare(d.names[i], name) > 0 })
	if i == 0 {
		return len(d.names) - 1
	}
	return i - 1
}

func (d *denial) coverHash(h [sha1.Size]byte) int {
	i := sort.Search(len(d.hashes), func(i int) bool { return bytes.Compare(d.hashes[i][:], h[:]) > 0 })
	if i == 0 {
		return len(d.hashes) - 1
	}
	return i - 1
}

// wildcardOf is the wildcard name directly below name.
func wildcardOf(name string) string {
	if name == "." {
		return "*."
	}
	return "*." + name
}

// attach stores chain record i packed with and without its signatures.
func (d *denial) attach(i int, rr dns.RR, sigs []dns.RR) error {
	var err error
	if d.plain[i], err = packAfter(rr.Header().Name, []dns.RR{rr}, false); err != nil {
		return err
	}
	d.signed[i], err = packAfter(rr.Header().Name, append([]dns.RR{rr}, sigs...), false)
	return err
}

// appendProof appends chain record i unless dst already holds it.
func (d *denial) appendProof(dst []RRSet, seen *[3]int, n *int, i int) []RRSet {
	if i == noProof {
		return dst
	}
	for _, j := range seen[:*n] {
		if j == i {
			return dst
		}
	}
	if *n < len(seen) {
		seen[*n] = i
		*n++
	}
	return append(dst, d.signed[i])
}
