package signer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// load reads the key directory once. Per zone the winner of the
// convergence rule is active; a key with a Delete time is retiring until
// then (or removed, once past it). Any other key is one whose retirement
// was not yet stored when the process stopped (an adoption cut short): it
// retires now, since it may have been served.
func (a *Actor) load() error {
	if a.loaded {
		return nil
	}
	dir := KeyDirOf(a.cfg)
	keys, err := LoadKeys(dir)
	if err != nil {
		return err
	}
	now := a.opts.Now()
	var errs []error
	for _, k := range keys {
		switch cur, ok := a.keys[k.Zone]; {
		case !k.DeleteAt.IsZero():
			a.retiring[k.Zone] = append(a.retiring[k.Zone], k)
		case !ok:
			a.keys[k.Zone] = k
			exportKeyAge(k.Zone, k.Created)
			a.log.Info().Str("zone", k.Zone).Uint16("key_tag", k.Tag()).Time("created", k.Created).Msg("DNSSEC key loaded")
		default:
			// LoadKeys sorts by the rule, so cur wins.
			if err := a.retire(k, now); err != nil {
				errs = append(errs, err)
				continue
			}
			a.log.Warn().Str("zone", k.Zone).Uint16("key_tag", k.Tag()).Uint16("in_use", cur.Tag()).Time("delete_at", k.DeleteAt).
				Msg("another active key for this zone was stored (an adoption cut short?); it retires: published and signing until delete_at")
		}
	}
	a.expireRetired(now)
	a.loaded = true
	return errors.Join(errs...)
}

// fetchMissing asks the peers, through the sync actor, for keys of zones
// that have none, so the first overwatch to start is the one that makes
// them. No peer answering, or none holding a key, leaves the zones to
// ensureKeys to generate.
func (a *Actor) fetchMissing(ctx context.Context) error {
	if a.opts.Sync.IsZero() || len(a.missingZones()) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.FetchTimeout)
	defer cancel()
	keys, err := runtime.Ask(ctx, a.opts.Sync, func(r chan<- []messages.KeyMaterial) messages.SyncMsg {
		return messages.FetchKeys{Reply: r}
	})
	if err != nil {
		a.log.Warn().Err(err).Strs("zones", a.missingZones()).Msg("could not ask the peers for DNSSEC keys; generating keys for these zones")
		return nil
	}
	if len(keys) == 0 {
		a.log.Info().Strs("zones", a.missingZones()).Msg("no peer holds DNSSEC keys for these zones (or none answered): generating them here")
		return nil
	}
	reply := a.adopt(keys)
	return reply.Err
}

func (a *Actor) missingZones() []string {
	var out []string
	for _, z := range a.cfg.DNS.Zones {
		if _, ok := a.keys[dns.CanonicalName(z)]; !ok {
			out = append(out, dns.CanonicalName(z))
		}
	}
	return out
}

// export is every zone's active key with its private half, for peers.
func (a *Actor) export() []messages.KeyMaterial {
	out := make([]messages.KeyMaterial, 0, len(a.keys))
	for _, k := range a.keys {
		out = append(out, k.Material())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Zone < out[j].Zone })
	return out
}

// adopt applies the convergence rule to the offered keys: for each zone
// this signer serves, the winner among its active key and the offers
// becomes active. The winner is stored before the loser is marked
// retiring, so a crash in between leaves both on disk and load() finishes
// the job. Offers that do not parse were rejected by the sync actor
// already; any that still fail here are skipped with a log line.
func (a *Actor) adopt(offers []messages.KeyMaterial) messages.AdoptReply {
	served := map[string]bool{}
	for _, z := range a.cfg.DNS.Zones {
		served[dns.CanonicalName(z)] = true
	}
	best := map[string]*Key{}
	source := map[*Key]string{}
	for _, m := range offers {
		k, err := ParseKey(m)
		if err != nil {
			a.log.Warn().Err(err).Str("zone", m.Zone).Str("peer", m.Source).Msg("offered DNSSEC key ignored")
			continue
		}
		if !served[k.Zone] {
			continue
		}
		if cur, ok := best[k.Zone]; !ok || k.Wins(cur) {
			best[k.Zone] = k
			source[k] = m.Source
		}
	}
	now := a.opts.Now()
	dir := KeyDirOf(a.cfg)
	var reply messages.AdoptReply
	var errs []error
	zones := make([]string, 0, len(best))
	for z := range best {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	for _, zone := range zones {
		k := best[zone]
		cur, had := a.keys[zone]
		if had && (cur.Tag() == k.Tag() && cur.DNSKEY.PublicKey == k.DNSKEY.PublicKey || !k.Wins(cur)) {
			continue
		}
		if err := WriteKey(dir, k); err != nil {
			errs = append(errs, err)
			continue
		}
		change := messages.KeyChange{Zone: zone, To: k.Tag(), Source: source[k]}
		if had {
			change.From = cur.Tag()
			if err := a.retire(cur, now); err != nil {
				// Both keys are stored as active; load() at the next
				// start retires the loser, so nothing is lost.
				a.log.Error().Err(err).Str("zone", zone).Uint16("key_tag", cur.Tag()).Msg("replaced key's retirement not stored; it retires at the next start")
			}
		}
		a.keys[zone] = k
		exportKeyAge(zone, k.Created)
		keysAdopted.Inc()
		reply.Adopted = append(reply.Adopted, change)
		ev := a.log.Info().Str("zone", zone).Uint16("key_tag", k.Tag()).Time("created", k.Created).Str("peer", change.Source)
		if had {
			ev.Uint16("replaced_key_tag", cur.Tag()).Time("replaced_created", cur.Created).Time("replaced_delete_at", cur.DeleteAt).
				Msg("DNSSEC key adopted from a peer (older, or lower key tag): the replaced key stays published and signing until replaced_delete_at; give the parent this key's DS")
		} else {
			ev.Str("ds", k.DS().String()).Msg("DNSSEC key fetched from a peer")
		}
	}
	reply.Err = errors.Join(errs...)
	return reply
}

// retire marks k replaced: published and signing until now+RetireAfter,
// stored so a restart keeps the schedule.
func (a *Actor) retire(k *Key, now time.Time) error {
	k.DeleteAt = now.Add(a.opts.RetireAfter).UTC().Truncate(time.Second)
	a.retiring[k.Zone] = append(a.retiring[k.Zone], k)
	return WriteKey(KeyDirOf(a.cfg), k)
}

// expireRetired drops retiring keys past their Delete time and removes
// their files; it reports whether any went.
func (a *Actor) expireRetired(now time.Time) bool {
	gone := false
	for zone, list := range a.retiring {
		kept := list[:0]
		for _, k := range list {
			if now.Before(k.DeleteAt) {
				kept = append(kept, k)
				continue
			}
			gone = true
			if err := RemoveKey(KeyDirOf(a.cfg), k); err != nil {
				a.log.Error().Err(err).Str("zone", zone).Uint16("key_tag", k.Tag()).Msg("retired key no longer served, but its files remain")
				continue
			}
			a.log.Info().Str("zone", zone).Uint16("key_tag", k.Tag()).Msg("retired DNSSEC key withdrawn and its files removed")
		}
		if len(kept) == 0 {
			delete(a.retiring, zone)
		} else {
			a.retiring[zone] = kept
		}
	}
	return gone
}

// signingKeys are the keys whose signatures a zone's sets carry and whose
// DNSKEYs the apex publishes: the active key first.
func (a *Actor) signingKeys(zone string) []*Key {
	return append([]*Key{a.keys[zone]}, a.retiring[zone]...)
}

// errNoZoneKey wraps a zone with no key in a sign request.
func errNoZoneKey(zone string) error {
	return fmt.Errorf("dnssec: zone %s is not in dns.zones of the signer's configuration", zone)
}
