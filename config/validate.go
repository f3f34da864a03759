package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// bound is the range an integer key accepts. Keys are schema paths, without
// array indices; the decoder uses the same table, so a value that does not
// even fit its Go type gets the same message as one merely out of range.
type bound struct{ min, max int64 }

var bounds = withAgentBackends(map[string]bound{
	"dns.default_ttl":   {0, MaxTTL},
	"dns.negative_ttl":  {0, MaxTTL},
	"domains.ttl":       {0, MaxTTL},
	"backends.port":     {1, 65535},
	"backends.weight":   {0, MaxWeight},
	"backends.priority": {0, math.MaxInt64},
	"backends.health_check.failure_threshold": {1, math.MaxInt64},
	"backends.health_check.success_threshold": {1, math.MaxInt64},
	"backends.health_check.expected_status":   {100, 599},
})

// withAgentBackends gives [[agent.backends]] the bounds of [[backends]]:
// the two hold the same fields.
func withAgentBackends(m map[string]bound) map[string]bound {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, "backends.") {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		m["agent."+k] = m[k]
	}
	return m
}

func (b bound) String() string {
	switch {
	case b.min == 0 && b.max == math.MaxInt64:
		return "must not be negative"
	case b.max == math.MaxInt64:
		return fmt.Sprintf("must be at least %d", b.min)
	default:
		return fmt.Sprintf("must be between %d and %d", b.min, b.max)
	}
}

// validator checks a defaulted Config and rewrites names and addresses to
// their canonical forms. Every check reports through p and carries on, so
// one run names every problem.
type validator struct {
	c       *Config
	p       *problems
	defined func(string) bool
	zones   []string // the valid zones, canonical
}

func validate(c *Config, p *problems, defined func(string) bool) {
	v := &validator{c: c, p: p, defined: defined}
	v.top()
	v.dns()
	if c.Mode == ModeAgent {
		v.notInAgent()
	} else {
		v.domains()
		v.backends()
	}
	if c.Mode == ModeOverwatch && c.Overwatch != nil {
		v.overwatch(c.Overwatch)
	}
	if c.Mode == ModeAgent && c.Agent != nil {
		v.agent(c.Agent)
	}
	v.hooks()
}

func (v *validator) oneOf(path, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		v.p.add(path, "must be %s, not %q", quoteList(allowed), value)
	}
}

func quoteList(allowed []string) string {
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = strconv.Quote(a)
	}
	if len(q) == 2 {
		return q[0] + " or " + q[1]
	}
	return "one of " + strings.Join(q, ", ")
}

func (v *validator) inBounds(path string, n int64) {
	if b, ok := bounds[schemaPath(path)]; ok && (n < b.min || n > b.max) {
		v.p.add(path, "%s", b)
	}
}

func (v *validator) listen(path, addr string) {
	if err := checkListen(addr); err != nil {
		v.p.add(path, "%v", err)
	}
}

// checkListen accepts host:port with a numeric port; port 0 (any free
// port) is allowed for tests. An empty host means every address.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if _, err := canonicalName(host); err != nil {
		return fmt.Errorf("%q: host is neither an IP address nor a host name", addr)
	}
	return nil
}

func (v *validator) top() {
	c := v.c
	v.oneOf("mode", c.Mode, ModeOverwatch, ModeAgent)
	if strings.TrimSpace(c.DataDir) == "" {
		v.p.add("data_dir", "must not be empty")
	}
	v.oneOf("logging.level", c.Logging.Level, "debug", "info", "warn", "error")
	v.oneOf("logging.format", c.Logging.Format, "json", "console")
	v.listen("dns.listen_address", c.DNS.ListenAddress)
	v.listen("metrics.listen_address", c.Metrics.ListenAddress)
	v.listen("api.listen_address", c.API.ListenAddress)
	v.api(&c.API)
	if c.Overwatch != nil && c.Mode == ModeAgent {
		v.p.add("overwatch", "belongs in an overwatch's file: only valid when mode = %q", ModeOverwatch)
	}
	if c.Agent != nil && c.Mode == ModeOverwatch {
		v.p.add("agent", "only valid when mode = %q", ModeAgent)
	}
}

// dns checks the zones. Zones may not repeat or nest: each domain belongs
// to exactly one zone, and this responder does not delegate, so a zone
// inside another would leave it unclear which apex answers for a name.
func (v *validator) dns() {
	d := &v.c.DNS
	if len(d.Zones) == 0 && v.c.Mode == ModeOverwatch {
		v.p.add("dns.zones", "at least one zone is required in overwatch mode")
	}
	valid := make([]bool, len(d.Zones))
	for i, z := range d.Zones {
		path := "dns.zones." + strconv.Itoa(i)
		name, err := canonicalName(z)
		if err != nil {
			v.p.add(path, "%v", err)
			continue
		}
		d.Zones[i] = name
		valid[i] = true
		v.zones = append(v.zones, name)
		for j := range i {
			switch {
			case !valid[j]:
			case d.Zones[j] == name:
				v.p.add(path, "zone %q is listed twice", name)
			case inZone(name, d.Zones[j]):
				v.p.add(path, "zone %q lies inside zone %q; nested zones are not supported", name, d.Zones[j])
			case inZone(d.Zones[j], name):
				v.p.add(path, "zone %q contains zone %q; nested zones are not supported", name, d.Zones[j])
			}
		}
	}
	for i, ns := range d.Nameservers {
		path := "dns.nameservers." + strconv.Itoa(i)
		name, err := canonicalName(ns)
		if err != nil {
			v.p.add(path, "%v", err)
			continue
		}
		d.Nameservers[i] = name
	}
	if d.Hostmaster != "" {
		name, err := canonicalHostmaster(d.Hostmaster)
		if err != nil {
			v.p.add("dns.hostmaster", "%v", err)
		} else {
			d.Hostmaster = name
		}
	}
	v.inBounds("dns.default_ttl", int64(d.DefaultTTL))
	v.inBounds("dns.negative_ttl", int64(d.NegativeTTL))
}

func (v *validator) domains() {
	seen := make(map[string]int) // canonical name -> index
	for i := range v.c.Domains {
		d := &v.c.Domains[i]
		base := "domains." + strconv.Itoa(i)
		v.domainName(base, d, seen)
		// An omitted service is the name's first label: if that is empty,
		// the name is wrong and has been reported.
		if v.defined(base + ".service") {
			if err := checkServiceName(d.Service); err != nil {
				v.p.add(base+".service", "%v", err)
			}
		}
		v.oneOf(base+".routing", d.Routing, RoutingRoundRobin, RoutingWeighted, RoutingFailover)
		v.oneOf(base+".fallback", d.Fallback, FallbackAll, FallbackServfail, FallbackNodata)
		v.inBounds(base+".ttl", int64(d.TTL))
	}
}

func (v *validator) domainName(base string, d *Domain, seen map[string]int) {
	path := base + ".name"
	if !v.defined(path) {
		v.p.add(path, "required")
		return
	}
	name, err := canonicalName(d.Name)
	if err != nil {
		v.p.add(path, "%v", err)
		return
	}
	d.Name = name
	if j, ok := seen[name]; ok {
		v.p.add(path, "%q is already defined by domains[%d]", name, j)
		return
	}
	seen[name] = indexOf(base)
	var zone string
	for _, z := range v.zones {
		if inZone(name, z) {
			zone = z
		}
	}
	switch {
	case zone == "":
		v.p.add(path, "%q is not inside any zone in dns.zones", name)
	case zone == name:
		v.p.add(path, "%q is a zone apex, which holds the zone's SOA and NS records; name a domain inside it", name)
	}
}

// indexOf returns the trailing index of "domains.3".
func indexOf(path string) int {
	n, _ := strconv.Atoi(path[strings.LastIndexByte(path, '.')+1:])
	return n
}

func (v *validator) backends() {
	served := make(map[string]bool)
	for _, d := range v.c.Domains {
		served[d.Service] = true
	}
	v.backendList("backends", v.c.Backends, func(path, service string) {
		if !served[service] {
			v.p.add(path, "service %q has backends but no domain serves it", service)
		}
	})
}

// backendList checks [[backends]] or [[agent.backends]] (list is the path
// "backends" or "agent.backends"). serviceOK further checks a service
// name that is well formed, reporting at path.
func (v *validator) backendList(list string, backends []Backend, serviceOK func(path, service string)) {
	seen := make(map[string]int)
	for i := range backends {
		b := &backends[i]
		base := list + "." + strconv.Itoa(i)
		if !v.defined(base + ".service") {
			v.p.add(base+".service", "required")
		} else if err := checkServiceName(b.Service); err != nil {
			v.p.add(base+".service", "%v", err)
		} else {
			serviceOK(base+".service", b.Service)
		}
		addrOK := false
		if !v.defined(base + ".address") {
			v.p.add(base+".address", "required")
		} else if a, err := canonicalAddr(b.Address); err != nil {
			v.p.add(base+".address", "%v", err)
		} else {
			b.Address = a.String()
			addrOK = true
		}
		if !v.defined(base + ".port") {
			v.p.add(base+".port", "required")
		} else {
			v.inBounds(base+".port", int64(b.Port))
		}
		v.inBounds(base+".weight", int64(b.Weight))
		v.inBounds(base+".priority", int64(b.Priority))
		v.healthCheck(base+".health_check", &b.HealthCheck)

		if addrOK && b.Port != 0 {
			key := b.Service + " " + net.JoinHostPort(b.Address, strconv.Itoa(int(b.Port)))
			if j, ok := seen[key]; ok {
				v.p.add(base, "duplicate of %s (same service, address and port)", displayKey(list+"."+strconv.Itoa(j)))
			} else {
				seen[key] = i
			}
		}
	}
}

func (v *validator) healthCheck(base string, hc *HealthCheck) {
	checks := []string{CheckHTTP, CheckHTTPS, CheckTCP, CheckNone}
	if !slices.Contains(checks, hc.Type) {
		v.oneOf(base+".type", hc.Type, checks...)
		return // which keys apply depends on the type
	}
	isHTTP := hc.Type == CheckHTTP || hc.Type == CheckHTTPS
	if !isHTTP {
		for _, key := range []string{"path", "host", "expected_status"} {
			if v.defined(base + "." + key) {
				v.p.add(base+"."+key, "applies only to http and https checks")
			}
		}
	}
	if hc.InsecureSkipVerify && hc.Type != CheckHTTPS {
		v.p.add(base+".insecure_skip_verify", "applies only to https checks")
	}
	if hc.Type == CheckNone {
		return
	}
	if isHTTP {
		if !strings.HasPrefix(hc.Path, "/") {
			v.p.add(base+".path", "must start with \"/\", not %q", hc.Path)
		}
		if strings.ContainsAny(hc.Host, " \t/") {
			v.p.add(base+".host", "%q is not a host name", hc.Host)
		}
		if len(hc.ExpectedStatus) == 0 {
			v.p.add(base+".expected_status", "must list at least one status")
		}
		for i, s := range hc.ExpectedStatus {
			v.inBounds(base+".expected_status."+strconv.Itoa(i), int64(s))
		}
	}
	if hc.Interval.Duration <= 0 {
		v.p.add(base+".interval", "must be greater than 0")
	}
	switch {
	case hc.Timeout.Duration <= 0:
		v.p.add(base+".timeout", "must be greater than 0")
	case hc.Interval.Duration > 0 && hc.Timeout.Duration > hc.Interval.Duration:
		v.p.add(base+".timeout", "%s must not exceed the interval (%s)", hc.Timeout, hc.Interval)
	}
	v.inBounds(base+".failure_threshold", int64(hc.FailureThreshold))
	v.inBounds(base+".success_threshold", int64(hc.SuccessThreshold))
}
