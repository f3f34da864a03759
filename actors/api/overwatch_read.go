package api

import (
	"cmp"
	"math"
	"net/http"
	"net/netip"
	"reflect"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/opengslb/opengslb/actors/zone"
	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// The JSON the read endpoints answer with. Optional values are pointers so
// they encode as null rather than as a zero that looks like data.

type backendJSON struct {
	Service  string `json:"service"`
	Address  string `json:"address"`
	Port     uint16 `json:"port"`
	Weight   int    `json:"weight"`
	Priority int    `json:"priority"`
	Region   string `json:"region"`
	// Source is "static" or the reporting agent; Agent repeats the agent
	// (null for static backends), the name the HA guide uses.
	Source string  `json:"source"`
	Agent  *string `json:"agent"`
	// ClaimedHealth is the agent's verdict (null for static backends);
	// ValidatedHealth is this overwatch's own check.
	ClaimedHealth   *string       `json:"claimed_health"`
	ValidatedHealth string        `json:"validated_health"`
	EffectiveState  string        `json:"effective_state"`
	Override        *overrideJSON `json:"override"`
	LastReport      *string       `json:"last_report"`
	AgeSeconds      *float64      `json:"age_seconds"`
	Stale           bool          `json:"stale"`
	Served          bool          `json:"served"`
}

type overrideJSON struct {
	Service string  `json:"service"`
	Backend string  `json:"backend"` // "addr:port", "" for the whole service
	State   string  `json:"state"`
	Reason  string  `json:"reason"`
	Expires *string `json:"expires"`
	Created *string `json:"created"`
	Source  string  `json:"source"`
}

type domainJSON struct {
	Name           string     `json:"name"`
	Service        string     `json:"service"`
	Routing        string     `json:"routing"`
	TTL            uint32     `json:"ttl"`
	Fallback       string     `json:"fallback"`
	FallbackActive bool       `json:"fallback_active"`
	Cold           bool       `json:"cold"`
	Answer         answerJSON `json:"answer"`
}

type answerJSON struct {
	A     []string `json:"A"`
	AAAA  []string `json:"AAAA"`
	Rcode string   `json:"rcode"`
}

type statusJSON struct {
	Node             string     `json:"node"`
	Region           string     `json:"region"`
	Version          string     `json:"version"`
	Ready            bool       `json:"ready"`
	ReadyDetail      string     `json:"ready_detail"`
	Serial           uint32     `json:"serial"`
	ConfigGeneration uint64     `json:"config_generation"`
	Domains          int        `json:"domains"`
	Backends         countsJSON `json:"backends"`
	Agents           int        `json:"agents"`
	Overrides        int        `json:"overrides"`
	Gossip           any        `json:"gossip,omitempty"`
}

type countsJSON struct {
	Healthy   int `json:"healthy"`
	Unhealthy int `json:"unhealthy"`
	Unknown   int `json:"unknown"`
	Stale     int `json:"stale"`
}

func (a *OverwatchActor) live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *OverwatchActor) ready(w http.ResponseWriter, _ *http.Request) {
	if reason := a.notReady(); reason != "" {
		writeError(w, http.StatusServiceUnavailable, "not ready", reason)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *OverwatchActor) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": a.src.Version, "go_version": goruntime.Version()})
}

func (a *OverwatchActor) status(w http.ResponseWriter, _ *http.Request) {
	reason := a.notReady()
	st := statusJSON{
		Node: a.src.Node, Region: a.src.Region, Version: a.src.Version,
		Ready: reason == "", ReadyDetail: reason,
	}
	if snap := a.snapshot(); snap != nil {
		st.Serial, st.ConfigGeneration, st.Domains = snap.Serial, snap.Generation, len(snap.Domains())
		for _, b := range distinctBackends(snap) {
			switch {
			case b.Stale:
				st.Backends.Stale++
			case b.State == messages.HealthHealthy.String():
				st.Backends.Healthy++
			case b.State == messages.HealthUnhealthy.String():
				st.Backends.Unhealthy++
			default:
				st.Backends.Unknown++
			}
		}
		st.Overrides = len(appliedOverrides(snap))
	}
	st.Agents = a.agentCount()
	if a.src.Gossip != nil {
		st.Gossip = a.src.Gossip()
	}
	writeJSON(w, http.StatusOK, st)
}

// backendStates are the values ?state= takes on /overwatch/backends.
var backendStates = []string{
	"healthy", "unhealthy", "unknown", "stale", "served",
	messages.OverrideDrain, messages.OverrideDown, messages.OverrideUp,
}

func (a *OverwatchActor) backends(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	state := r.URL.Query().Get("state")
	if state != "" && !slices.Contains(backendStates, state) {
		writeError(w, http.StatusBadRequest, "invalid state", "state must be one of "+strings.Join(backendStates, ", ")+", not "+state)
		return
	}
	out := []backendJSON{}
	snap := a.snapshot()
	if snap != nil {
		overrides := indexOverrides(appliedOverrides(snap))
		now := a.now()
		for _, b := range distinctBackends(snap) {
			if service != "" && b.Service != service {
				continue
			}
			if state != "" && !backendIs(b, state) {
				continue
			}
			out = append(out, backendView(b, overrides, now))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"backends": out})
}

func backendIs(b zone.BackendView, state string) bool {
	switch state {
	case "stale":
		return b.Stale
	case "served":
		return b.Served
	case messages.OverrideDrain, messages.OverrideDown, messages.OverrideUp:
		return b.Override == state
	default:
		return b.State == state
	}
}

func backendView(b zone.BackendView, overrides map[string]messages.Override, now time.Time) backendJSON {
	out := backendJSON{
		Service: b.Service, Address: b.Address, Port: b.Port, Weight: b.Weight, Priority: b.Priority,
		Region: b.Region, Source: b.Source, ValidatedHealth: b.Validated, EffectiveState: b.State,
		Stale: b.Stale, Served: b.Served,
	}
	if b.Source == "static" {
		// This node's own check is the only verdict a static backend has.
		out.ValidatedHealth = b.State
	} else {
		out.Agent = ptr(b.Source)
		out.ClaimedHealth = ptr(b.Claimed)
	}
	if !b.LastReport.IsZero() {
		out.LastReport = ptr(rfc3339(b.LastReport))
		age := math.Round(now.Sub(b.LastReport).Seconds()*1000) / 1000
		out.AgeSeconds = &age
	}
	if b.Override != "" {
		if o, ok := overrideFor(overrides, b); ok {
			v := overrideView(o)
			out.Override = &v
		} else {
			out.Override = &overrideJSON{Service: b.Service, State: b.Override}
		}
	}
	return out
}

// distinctBackends lists each backend once, although every domain of a
// service shows it: same service, address, port and source is the same
// backend. It is served if any domain serves it (a fallback can serve it
// for one domain only). Sorted by service, address, port, source.
func distinctBackends(snap *zone.Snapshot) []zone.BackendView {
	type key struct {
		service, address, source string
		port                     uint16
	}
	seen := make(map[key]int)
	var out []zone.BackendView
	for _, d := range snap.Domains() {
		for _, b := range d.Backends {
			k := key{b.Service, b.Address, b.Source, b.Port}
			if i, ok := seen[k]; ok {
				out[i].Served = out[i].Served || b.Served
				continue
			}
			seen[k] = len(out)
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(x, y zone.BackendView) int {
		return cmp.Or(
			cmp.Compare(x.Service, y.Service),
			compareAddresses(x.Address, y.Address),
			cmp.Compare(x.Port, y.Port),
			cmp.Compare(x.Source, y.Source),
		)
	})
	return out
}

// compareAddresses orders addresses numerically (10.0.0.9 before
// 10.0.0.10), IPv4 before IPv6, and anything unparsable as text.
func compareAddresses(x, y string) int {
	ax, errx := netip.ParseAddr(x)
	ay, erry := netip.ParseAddr(y)
	if errx != nil || erry != nil {
		return cmp.Compare(x, y)
	}
	return ax.Compare(ay)
}

// appliedOverrides are the snapshot's overrides that were in force when
// it was built: one that had expired by then changed nothing.
func appliedOverrides(snap *zone.Snapshot) []messages.Override {
	var out []messages.Override
	for _, o := range snap.Overrides() {
		if o.Expires.IsZero() || snap.Built.IsZero() || snap.Built.Before(o.Expires) {
			out = append(out, o)
		}
	}
	return out
}

func indexOverrides(list []messages.Override) map[string]messages.Override {
	m := make(map[string]messages.Override, len(list))
	for _, o := range list {
		m[o.Key()] = o
	}
	return m
}

// overrideFor finds the override that applies to b, the backend's own
// before its service's, as the zone applies them.
func overrideFor(index map[string]messages.Override, b zone.BackendView) (messages.Override, bool) {
	if addr, err := netip.ParseAddr(b.Address); err == nil {
		key := messages.Override{Service: b.Service, Backend: netip.AddrPortFrom(addr, b.Port)}.Key()
		if o, ok := index[key]; ok {
			return o, true
		}
	}
	o, ok := index[b.Service]
	return o, ok
}

func overrideView(o messages.Override) overrideJSON {
	out := overrideJSON{Service: o.Service, State: o.State, Reason: o.Reason, Source: o.Source}
	if !o.WholeService() {
		out.Backend = o.Backend.String()
	}
	if !o.Expires.IsZero() {
		out.Expires = ptr(rfc3339(o.Expires))
	}
	if !o.Created.IsZero() {
		out.Created = ptr(rfc3339(o.Created))
	}
	return out
}

func (a *OverwatchActor) overrides(w http.ResponseWriter, _ *http.Request) {
	out := []overrideJSON{}
	if snap := a.snapshot(); snap != nil {
		for _, o := range appliedOverrides(snap) {
			out = append(out, overrideView(o))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"overrides": out})
}

func (a *OverwatchActor) agents(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"agents": a.agentList()})
}

// agentList is Agents() with "no gossip" and a nil list both shown as [].
func (a *OverwatchActor) agentList() any {
	if a.src.Agents == nil {
		return []any{}
	}
	list := a.src.Agents()
	if list == nil {
		return []any{}
	}
	if v := reflect.ValueOf(list); (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.IsNil() {
		return []any{}
	}
	return list
}

// agentCount counts what Agents returns; it is a list by contract, but any
// value that is not one counts as nothing rather than failing the status.
func (a *OverwatchActor) agentCount() int {
	v := reflect.ValueOf(a.agentList())
	switch v.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return v.Len()
	}
	return 0
}

func (a *OverwatchActor) domains(w http.ResponseWriter, _ *http.Request) {
	out := []domainJSON{}
	if snap := a.snapshot(); snap != nil {
		for _, d := range snap.Domains() {
			out = append(out, domainView(d))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"domains": out})
}

// domain answers one domain, named with or without the trailing dot and in
// any case, as DNS compares names.
func (a *OverwatchActor) domain(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(r.PathValue("name"))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	if snap := a.snapshot(); snap != nil {
		for _, d := range snap.Domains() {
			if strings.ToLower(d.Name) == name {
				writeJSON(w, http.StatusOK, domainView(d))
				return
			}
		}
	}
	writeError(w, http.StatusNotFound, "no such domain", name+" is not a configured domain")
}

func domainView(d *zone.Domain) domainJSON {
	rcode := "NOERROR"
	// What the responder does: a cold domain, or a fallback of servfail
	// with nothing healthy, answers SERVFAIL.
	if d.Cold || (d.FallbackActive && d.Fallback == config.FallbackServfail) {
		rcode = "SERVFAIL"
	}
	return domainJSON{
		Name: d.Name, Service: d.Service, Routing: d.Routing, TTL: d.TTL, Fallback: d.Fallback,
		FallbackActive: d.FallbackActive, Cold: d.Cold,
		Answer: answerJSON{A: orEmpty(d.A.Addresses), AAAA: orEmpty(d.AAAA.Addresses), Rcode: rcode},
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
