package config

import (
	"fmt"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Change is one difference between two configurations.
type Change struct {
	// Field is the key that changed, in display form: "dns.default_ttl",
	// "domains[webapp.gslb.example.com.].ttl",
	// "backends[webapp 10.0.1.10:80].weight". A domain or backend added
	// or removed as a whole is named without a sub-key, with Old (added)
	// or New (removed) empty and the other side summarising the entry.
	Field string
	// Old and New are the values as text; lists as "[a b]", durations as
	// written ("10s", "14d").
	Old, New string
	// Live is true when a running process can apply the change; a reload
	// that changes a field that is not live must be refused by name.
	Live bool
}

// String formats the change for a log line or a reload refusal.
func (c Change) String() string {
	switch {
	case c.Old == "" && c.New != "" && isEntry(c.Field):
		return c.Field + ": added"
	case c.New == "" && c.Old != "" && isEntry(c.Field):
		return c.Field + ": removed"
	}
	return fmt.Sprintf("%s: %q -> %q", c.Field, c.Old, c.New)
}

func isEntry(field string) bool { return strings.HasSuffix(field, "]") }

// liveFields are the keys (and everything below them) a running process
// applies without a restart: the zone actor rebuilds its snapshot and the
// health actor reconciles its checks from a new Config. Everything else —
// listeners, mode, data_dir, logging, identities — is bound at start-up.
// A field is restart-only until it is listed here, so a key added later
// cannot be silently ignored by a reload.
var liveFields = []string{
	"dns.zones",
	"dns.default_ttl",
	"dns.nameservers",
	"dns.hostmaster",
	"dns.negative_ttl",
	"domains",
	"backends",
	"overwatch.agent_tokens",
	"overwatch.validation",
	"overwatch.stale",
	// The zone actor and the signer read these from each new Config; an
	// algorithm change applies to keys generated afterwards.
	"overwatch.dnssec.algorithm",
	"overwatch.dnssec.denial",
	"overwatch.dnssec.signature_validity",
	// The sync actor re-reads its peers, timings, token and CA on every
	// apply (the HA guide adds peers with SIGHUP).
	"overwatch.dnssec.key_sync",
	"agent.backends",
	"agent.service_tokens",
	"agent.heartbeat",
	"hooks",
}

// Secrets (fields tagged secret:"true": tokens and gossip keys) are never
// shown: a change names the key, with these in place of the values.
const (
	secretShown   = "(secret)"
	secretChanged = "(secret changed)"
)

func isLive(field string) bool {
	for _, f := range liveFields {
		if field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[") {
			return true
		}
	}
	return false
}

// Diff compares two configurations field by field. Domains are matched by
// name and backends by service, address and port, so reordering them is no
// change; within a matched pair each field is compared. Changes come in
// the order of the types' fields, then of old's entries, then of entries
// only next has. A nil Config compares as an empty one.
func Diff(old, next *Config) []Change {
	if old == nil {
		old = &Config{}
	}
	if next == nil {
		next = &Config{}
	}
	var out []Change
	diffValue(&out, "", reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem(), false)
	return out
}

var (
	durationType = reflect.TypeFor[Duration]()
	domainsType  = reflect.TypeFor[[]Domain]()
	backendsType = reflect.TypeFor[[]Backend]()
)

func diffValue(out *[]Change, field string, a, b reflect.Value, secret bool) {
	t := a.Type()
	switch {
	case t == domainsType || t == backendsType:
		diffEntries(out, field, a, b)
		return
	case t.Kind() == reflect.Pointer:
		diffValue(out, field, derefOrZero(a), derefOrZero(b), secret)
		return
	case t.Kind() == reflect.Map:
		diffMap(out, field, a, b, secret)
		return
	case t.Kind() == reflect.Struct && t != durationType:
		for i := range t.NumField() {
			name, ok := fieldName(t.Field(i))
			if !ok {
				continue
			}
			diffValue(out, joinPath(field, name), a.Field(i), b.Field(i), secret || isSecret(t.Field(i)))
		}
		return
	}
	if x, y := render(a), render(b); x != y {
		if secret {
			x, y = hideSecrets(x, y)
		}
		*out = append(*out, Change{Field: field, Old: x, New: y, Live: isLive(field)})
	}
}

func isSecret(f reflect.StructField) bool { return f.Tag.Get("secret") == "true" }

// hideSecrets replaces two differing secret values: an empty one stays
// empty (nothing to hide, and "added"/"removed" read right), the old one
// becomes "(secret)" and the new one "(secret changed)", or "(secret)"
// when there was none before.
func hideSecrets(old, next string) (string, string) {
	switch {
	case old == "":
		return "", secretShown
	case next == "":
		return secretShown, ""
	}
	return secretShown, secretChanged
}

// diffMap compares a table keyed by data (a service name), key by key:
// "overwatch.agent_tokens[webapp]".
func diffMap(out *[]Change, field string, a, b reflect.Value, secret bool) {
	keys := make(map[string]reflect.Value)
	for _, m := range []reflect.Value{a, b} {
		for it := m.MapRange(); it.Next(); {
			keys[it.Key().String()] = it.Key()
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		x, y := mapValue(a, keys[k]), mapValue(b, keys[k])
		if x == y {
			continue
		}
		if secret {
			x, y = hideSecrets(x, y)
		}
		name := field + "[" + k + "]"
		*out = append(*out, Change{Field: name, Old: x, New: y, Live: isLive(name)})
	}
}

func mapValue(m, key reflect.Value) string {
	if v := m.MapIndex(key); v.IsValid() {
		return render(v)
	}
	return ""
}

func derefOrZero(v reflect.Value) reflect.Value {
	if v.IsNil() {
		return reflect.Zero(v.Type().Elem())
	}
	return v.Elem()
}

func fieldName(f reflect.StructField) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" || !f.IsExported() {
		return "", false
	}
	if name == "" {
		name = f.Name
	}
	return name, true
}

// diffEntries compares a list of domains or backends as a set.
func diffEntries(out *[]Change, field string, a, b reflect.Value) {
	inB := make(map[string]reflect.Value, b.Len())
	for i := range b.Len() {
		inB[entryKey(b.Index(i))] = b.Index(i)
	}
	inA := make(map[string]bool, a.Len())
	for i := range a.Len() {
		key := entryKey(a.Index(i))
		inA[key] = true
		name := field + "[" + key + "]"
		if other, ok := inB[key]; ok {
			diffValue(out, name, a.Index(i), other, false)
		} else {
			*out = append(*out, Change{Field: name, Old: summary(a.Index(i)), Live: isLive(field)})
		}
	}
	for i := range b.Len() {
		if key := entryKey(b.Index(i)); !inA[key] {
			*out = append(*out, Change{Field: field + "[" + key + "]", New: summary(b.Index(i)), Live: isLive(field)})
		}
	}
}

// entryKey is what identifies a domain or a backend across two files.
func entryKey(v reflect.Value) string {
	switch e := v.Interface().(type) {
	case Domain:
		return e.Name
	case Backend:
		return e.Service + " " + net.JoinHostPort(e.Address, strconv.Itoa(int(e.Port)))
	}
	return fmt.Sprint(v.Interface())
}

// summary renders an entry as "key=value" pairs, nested tables dotted.
func summary(v reflect.Value) string {
	var parts []string
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			name, ok := fieldName(t.Field(i))
			if !ok {
				continue
			}
			f := v.Field(i)
			switch {
			case isSecret(t.Field(i)):
				if !f.IsZero() {
					parts = append(parts, prefix+name+"="+secretShown)
				}
			case f.Kind() == reflect.Struct && f.Type() != durationType:
				walk(prefix+name+".", f)
			default:
				parts = append(parts, prefix+name+"="+render(f))
			}
		}
	}
	walk("", v)
	return strings.Join(parts, " ")
}

func render(v reflect.Value) string {
	switch {
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = render(v.Index(i))
		}
		return "[" + strings.Join(items, " ") + "]"
	case v.Kind() == reflect.Struct && v.Type() != durationType:
		return "{" + summary(v) + "}" // hooks: "[{event=* command=/bin/x timeout=30s}]"
	}
	return fmt.Sprint(v.Interface())
}
