package zone

import (
	"fmt"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// SignFunc signs a snapshot's record sets, zone by zone, and returns each
// zone's key sets: the ZoneActor asks the SignerActor, which owns the keys.
type SignFunc func(zones []messages.ZoneToSign) ([]messages.SignedZone, error)

// pendingSet is one record set waiting for its signatures, and what to do
// with them.
type pendingSet struct {
	rrs  []dns.RR
	done func(sigs []dns.RR) error
}

// signing gathers every set of a snapshot so that one request signs them.
type signing map[*Zone][]pendingSet

func (s signing) add(z *Zone, rrs []dns.RR, done func(sigs []dns.RR) error) {
	s[z] = append(s[z], pendingSet{rrs: rrs, done: done})
}

// signSnapshot signs everything the snapshot can answer with: the apex
// sets, every answer variant of every domain, and the NSEC3 or NSEC chain
// that proves what is absent. The signer's cache makes a rebuild sign only
// the sets that changed.
func signSnapshot(snap *Snapshot, in Input, apexes map[*Zone]apexSets) error {
	nsec3 := in.Denial != config.DenialNSEC
	jobs := make(signing)
	for _, z := range snap.zones {
		signApex(jobs, z, apexes[z], nsec3)
	}
	for _, d := range snap.domains {
		z := snap.names[d.Name].Zone
		d.A.sign(jobs, z, d.Name)
		d.AAAA.sign(jobs, z, d.Name)
	}
	ttl := negativeTTL(in.Config.DNS)
	for _, z := range snap.zones {
		rrs, err := buildChain(z, chainEntries(snap, z, nsec3), nsec3, ttl)
		if err != nil {
			return fmt.Errorf("zone %s: %w", z.Name, err)
		}
		for i, rr := range rrs {
			jobs.add(z, []dns.RR{rr}, func(sigs []dns.RR) error { return z.denial.attach(i, rr, sigs) })
		}
	}

	request := make([]messages.ZoneToSign, 0, len(snap.zones))
	for _, z := range snap.zones {
		sets := make([][]dns.RR, len(jobs[z]))
		for i, p := range jobs[z] {
			sets[i] = p.rrs
		}
		request = append(request, messages.ZoneToSign{Zone: z.Name, RRsets: sets})
	}
	reply, err := in.Sign(request)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if len(reply) != len(request) {
		return fmt.Errorf("sign: %d zones signed, %d asked", len(reply), len(request))
	}
	for i, z := range snap.zones {
		if err := z.attachSignatures(reply[i], jobs[z]); err != nil {
			return fmt.Errorf("sign zone %s: %w", z.Name, err)
		}
		if snap.refreshAt.IsZero() || reply[i].RefreshAt.Before(snap.refreshAt) {
			snap.refreshAt = reply[i].RefreshAt
		}
	}
	return nil
}

func signApex(jobs signing, z *Zone, sets apexSets, nsec3 bool) {
	z.apex = make(map[uint16]Records)
	jobs.add(z, []dns.RR{sets.soa}, func(sigs []dns.RR) error {
		var err error
		if z.SOA.Signed, err = packAfter(z.Name, withSigs([]dns.RR{sets.soa}, sigs), true); err != nil {
			return err
		}
		// The negative SOA is the same set at a lower TTL; its signature
		// keeps the original TTL, which validators restore (RFC 4035 §5.3.3).
		negative := withSigs([]dns.RR{sets.negativeSOA}, withTTL(sigs, sets.negativeSOA.Hdr.Ttl))
		z.NegativeSOA.Signed, err = packAfter(z.Name, negative, false)
		return err
	})
	jobs.add(z, sets.ns, func(sigs []dns.RR) error {
		var err error
		z.NS.Signed, err = packAfter(z.Name, withSigs(sets.ns, sigs), true)
		return err
	})
	if nsec3 {
		// RFC 9276 §3.1: no extra iterations, no salt.
		param := []dns.RR{&dns.NSEC3PARAM{
			Hdr:  dns.RR_Header{Name: z.Name, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0},
			Hash: dns.SHA1,
		}}
		jobs.add(z, param, func(sigs []dns.RR) error { return z.setApex(dns.TypeNSEC3PARAM, param, sigs) })
	}
}

// attachSignatures packs the signed forms of the zone's sets and its keys.
func (z *Zone) attachSignatures(signed messages.SignedZone, jobs []pendingSet) error {
	if signed.Zone != z.Name || len(signed.Sigs) != len(jobs) {
		return fmt.Errorf("the signer answered for %s with %d signature sets, %d asked", signed.Zone, len(signed.Sigs), len(jobs))
	}
	if len(signed.Keys) == 0 {
		return fmt.Errorf("the signer has no key for it")
	}
	for i, p := range jobs {
		if len(signed.Sigs[i]) == 0 {
			return fmt.Errorf("no signature for %s %s", p.rrs[0].Header().Name, dns.TypeToString[p.rrs[0].Header().Rrtype])
		}
		if err := p.done(signed.Sigs[i]); err != nil {
			return err
		}
	}
	for qtype, set := range map[uint16]messages.SignedRRset{dns.TypeDNSKEY: signed.DNSKEY, dns.TypeCDS: signed.CDS, dns.TypeCDNSKEY: signed.CDNSKEY} {
		if err := z.setApex(qtype, set.RRs, set.Sigs); err != nil {
			return err
		}
	}
	z.Keys = signed.Keys
	return nil
}

func (z *Zone) setApex(qtype uint16, rrs, sigs []dns.RR) error {
	plain, err := packAfter(z.Name, rrs, true)
	if err != nil {
		return err
	}
	signed, err := packAfter(z.Name, withSigs(rrs, sigs), true)
	if err != nil {
		return err
	}
	z.apex[qtype] = Records{Plain: plain, Signed: signed}
	return nil
}

// sign queues the answer's sets: one for all rotations of a round-robin
// set, else one per variant (a weighted answer's single backends).
func (a *Answer) sign(jobs signing, z *Zone, owner string) {
	if len(a.rrsets) == 0 {
		return
	}
	a.signed = make([]RRSet, len(a.variants))
	if a.rotations {
		jobs.add(z, a.rrsets[0], func(sigs []dns.RR) error {
			for i, rrs := range a.rrsets {
				var err error
				if a.signed[i], err = packAfter(owner, withSigs(rrs, sigs), true); err != nil {
					return err
				}
			}
			return nil
		})
		return
	}
	for i, rrs := range a.rrsets {
		jobs.add(z, rrs, func(sigs []dns.RR) error {
			var err error
			a.signed[i], err = packAfter(owner, withSigs(rrs, sigs), true)
			return err
		})
	}
}

// chainEntries lists the zone's names with the types each holds, for the
// NSEC3 or NSEC type bitmaps.
func chainEntries(snap *Snapshot, z *Zone, nsec3 bool) []chainEntry {
	var out []chainEntry
	for name, n := range snap.names {
		if n.Zone != z {
			continue
		}
		var types []uint16
		switch {
		case n.Apex:
			types = []uint16{dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY}
			if nsec3 {
				types = append(types, dns.TypeNSEC3PARAM)
			} else {
				types = append(types, dns.TypeNSEC)
			}
		case n.Domain != nil:
			if !n.Domain.A.Empty() {
				types = append(types, dns.TypeA)
			}
			if !n.Domain.AAAA.Empty() {
				types = append(types, dns.TypeAAAA)
			}
			if len(types) > 0 || !nsec3 {
				types = append(types, dns.TypeRRSIG)
			}
			if !nsec3 {
				types = append(types, dns.TypeNSEC)
			}
		}
		slices.Sort(types)
		out = append(out, chainEntry{name: name, node: n, types: types})
	}
	return out
}

// withSigs returns a new slice of rrs followed by sigs, leaving both alone.
func withSigs(rrs, sigs []dns.RR) []dns.RR {
	out := make([]dns.RR, 0, len(rrs)+len(sigs))
	return append(append(out, rrs...), sigs...)
}

// withTTL returns copies of rrs with their header TTL set to ttl.
func withTTL(rrs []dns.RR, ttl uint32) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Ttl = ttl
	}
	return out
}

// RefreshAt is when the snapshot's earliest signature should be made
// again: the ZoneActor rebuilds by then. Zero for an unsigned snapshot.
func (s *Snapshot) RefreshAt() time.Time { return s.refreshAt }
