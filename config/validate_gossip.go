package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// hookEvents are the events a hook may name, besides "user:NAME" and
// "query:NAME".
var hookEvents = []string{
	HookMemberJoin, HookMemberLeave, HookMemberFailed, HookMemberUpdate, HookMemberReap,
	HookUser, HookQuery, HookBackendHealth, HookAll,
}

// notInAgent refuses the overwatch's static tables in an agent's file.
func (v *validator) notInAgent() {
	if v.defined("domains") {
		v.p.add("domains", "belongs in an overwatch's file: an agent serves no DNS names")
	}
	if v.defined("backends") {
		v.p.add("backends", "belongs in an overwatch's file: an agent lists its backends in [[agent.backends]]")
	}
}

func (v *validator) overwatch(o *Overwatch) {
	v.nodeID("overwatch.identity.node_id", o.Identity.NodeID)
	v.tokens("overwatch.agent_tokens", o.AgentTokens)
	if o.Gossip == nil {
		if v.defined("overwatch.agent_tokens") {
			v.p.add("overwatch.agent_tokens", "agent_tokens need [overwatch.gossip]: agents report to an overwatch by gossip")
		}
	} else {
		g := o.Gossip
		v.listen("overwatch.gossip.bind_address", g.BindAddress)
		v.advertise("overwatch.gossip.advertise_address", g.AdvertiseAddress)
		v.gossipKey("overwatch.gossip.encryption_key", g.EncryptionKey)
		v.remotes("overwatch.gossip.join", g.Join)
		v.gossipTiming("overwatch.gossip", g.Timing())
	}

	val := o.Validation
	v.positive("overwatch.validation.check_interval", val.CheckInterval)
	if v.positive("overwatch.validation.check_timeout", val.CheckTimeout) &&
		val.CheckInterval.Duration > 0 && val.CheckTimeout.Duration > val.CheckInterval.Duration {
		v.p.add("overwatch.validation.check_timeout", "%s must not exceed check_interval (%s)", val.CheckTimeout, val.CheckInterval)
	}

	st := o.Stale
	v.positive("overwatch.stale.threshold", st.Threshold)
	if v.positive("overwatch.stale.remove_after", st.RemoveAfter) &&
		st.Threshold.Duration > 0 && st.RemoveAfter.Duration <= st.Threshold.Duration {
		v.p.add("overwatch.stale.remove_after", "%s must be longer than threshold (%s): a backend is withdrawn only after it went stale", st.RemoveAfter, st.Threshold)
	}
	v.dnssec(o.DNSSEC)
}

// minSignatureValidity keeps signatures valid long enough to be refreshed
// (at a quarter of their validity) without a rebuild storm.
const minSignatureValidity = time.Hour

func (v *validator) dnssec(d DNSSEC) {
	v.oneOf("overwatch.dnssec.algorithm", d.Algorithm, AlgorithmECDSAP256, AlgorithmED25519)
	v.oneOf("overwatch.dnssec.denial", d.Denial, DenialNSEC3, DenialNSEC)
	if d.SignatureValidity.Duration < minSignatureValidity {
		v.p.add("overwatch.dnssec.signature_validity", "%s is too short: at least %s, so signatures can be refreshed before they expire", d.SignatureValidity, minSignatureValidity)
	}
	v.keySync(d.KeySync)
}

func (v *validator) agent(a *Agent) {
	v.nodeID("agent.identity.node_id", a.Identity.NodeID)
	v.tokens("agent.service_tokens", a.ServiceTokens)

	g := a.Gossip
	v.listen("agent.gossip.bind_address", g.BindAddress)
	v.advertise("agent.gossip.advertise_address", g.AdvertiseAddress)
	v.gossipKey("agent.gossip.encryption_key", g.EncryptionKey)
	if len(g.OverwatchNodes) == 0 {
		v.p.add("agent.gossip.overwatch_nodes", "at least one overwatch (host:port) is required: an agent reports to overwatches by gossip")
	}
	v.remotes("agent.gossip.overwatch_nodes", g.OverwatchNodes)
	v.gossipTiming("agent.gossip", g.Timing())

	v.positive("agent.heartbeat.interval", a.Heartbeat.Interval)

	v.backendList("agent.backends", a.Backends, func(path, service string) {
		if _, ok := a.ServiceTokens[service]; !ok {
			v.p.add(path, "service %q has no token in [agent.service_tokens]", service)
		}
	})
}

// Memberlist's LAN defaults, which a zero GossipTiming field keeps; and a
// bound that keeps a typo from making failure detection take hours.
const (
	lanProbeInterval = time.Second
	lanProbeTimeout  = 500 * time.Millisecond
	maxSuspicionMult = 20
)

func (v *validator) gossipTiming(table string, t GossipTiming) {
	for _, f := range []struct {
		key string
		d   Duration
	}{{"probe_interval", t.ProbeInterval}, {"probe_timeout", t.ProbeTimeout}, {"reconnect_interval", t.ReconnectInterval}} {
		if v.defined(table + "." + f.key) {
			v.positive(table+"."+f.key, f.d)
		}
	}
	interval, timeout := cmp.Or(t.ProbeInterval.Duration, lanProbeInterval), cmp.Or(t.ProbeTimeout.Duration, lanProbeTimeout)
	if interval > 0 && timeout > 0 && timeout >= interval {
		key := table + ".probe_timeout"
		if !v.defined(key) {
			key = table + ".probe_interval"
		}
		v.p.add(key, "probe_timeout (%s) must be shorter than probe_interval (%s): a probe has to time out before the next one starts", timeout, interval)
	}
	if v.defined(table+".suspicion_mult") && (t.SuspicionMult < 1 || t.SuspicionMult > maxSuspicionMult) {
		v.p.add(table+".suspicion_mult", "%d is out of range: 1 to %d", t.SuspicionMult, maxSuspicionMult)
	}
}

// positive reports a duration that is not greater than 0; it returns
// whether d is valid.
func (v *validator) positive(path string, d Duration) bool {
	if d.Duration <= 0 {
		v.p.add(path, "must be greater than 0")
		return false
	}
	return true
}

func (v *validator) nodeID(path, id string) {
	err := checkNodeID(id)
	switch {
	case err == nil:
	case v.defined(path):
		v.p.add(path, "%v", err)
	case id == "":
		v.p.add(path, "required: the host name, its default, could not be read")
	default:
		v.p.add(path, "the host name, its default, is not a valid node name: %v; set node_id", err)
	}
}

// tokens checks a table of service tokens. A token is never quoted.
func (v *validator) tokens(path string, tokens map[string]string) {
	services := make([]string, 0, len(tokens))
	for s := range tokens {
		services = append(services, s)
	}
	slices.Sort(services)
	for _, s := range services {
		p := joinPath(path, s)
		if err := checkServiceName(s); err != nil {
			v.p.add(p, "%v", err)
			continue
		}
		tok := tokens[s]
		switch n := utf8.RuneCountInString(tok); {
		case strings.TrimSpace(tok) == "":
			v.p.add(p, "the token must not be empty")
		case n < MinTokenLength:
			v.p.add(p, "the token is %d characters long; it must be at least %d (the token is not shown)", n, MinTokenLength)
		}
	}
}

func (v *validator) gossipKey(path, key string) {
	if !v.defined(path) {
		v.p.add(path, "required: the base64 of 16, 24 or 32 random bytes (`opengslb keygen gossip` makes one)")
		return
	}
	if key == "" {
		v.p.add(path, "must not be empty")
		return
	}
	if _, err := decodeGossipKey(key); err != nil {
		v.p.add(path, "%v", err)
	}
}

func (v *validator) advertise(path, addr string) {
	if err := checkAdvertise(addr); err != nil {
		v.p.add(path, "%v", err)
	}
}

func (v *validator) remotes(path string, addrs []string) {
	for i, a := range addrs {
		if err := checkRemote(a); err != nil {
			v.p.add(path+"."+strconv.Itoa(i), "%v", err)
		}
	}
}

func (v *validator) hooks() {
	for i := range v.c.Hooks {
		h := &v.c.Hooks[i]
		base := "hooks." + strconv.Itoa(i)
		if !v.defined(base + ".event") {
			v.p.add(base+".event", "required")
		} else {
			v.hookEvent(base+".event", h.Event)
		}
		if !v.defined(base + ".command") {
			v.p.add(base+".command", "required")
		} else if strings.TrimSpace(h.Command) == "" {
			v.p.add(base+".command", "must not be empty")
		}
		v.positive(base+".timeout", h.Timeout)
	}
}

func (v *validator) hookEvent(path, event string) {
	if slices.Contains(hookEvents, event) {
		return
	}
	for _, prefix := range []string{HookUserPrefix, HookQueryPrefix} {
		name, ok := strings.CutPrefix(event, prefix)
		if !ok {
			continue
		}
		kind := strings.TrimSuffix(prefix, ":")
		switch {
		case name == "":
			v.p.add(path, "%q: name the %s event after the colon (\"%sdeploy\"), or write %q for all", event, kind, prefix, kind)
		case !validUserEventName(name):
			v.p.add(path, "%q: a %s event name may hold letters, digits, '-', '_' and '.' only", event, kind)
		}
		return
	}
	var allowed []string
	for _, e := range quoted(hookEvents) {
		allowed = append(allowed, e)
		switch e {
		case strconv.Quote(HookUser):
			allowed = append(allowed, `"user:NAME"`)
		case strconv.Quote(HookQuery):
			allowed = append(allowed, `"query:NAME"`)
		}
	}
	v.p.add(path, "must be one of %s, not %q", strings.Join(allowed, ", "), event)
}

func quoted(list []string) []string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return q
}

// validUserEventName accepts the names serf's tooling gives user events.
func validUserEventName(name string) bool {
	if len(name) > 128 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
