package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// canonicalName lower-cases name and makes it fully qualified (one trailing
// dot), checking DNS syntax on the way: labels of 1 to 63 letters, digits,
// hyphens or underscores, at most 253 characters without the final dot.
// Wildcards are not supported yet, so "*" is refused like any other
// character.
func canonicalName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return "", errors.New("must not be empty")
	}
	n = strings.TrimSuffix(n, ".")
	if n == "" {
		return "", errors.New("the root zone is not supported")
	}
	if len(n) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", name)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" {
			return "", fmt.Errorf("%q has an empty label", name)
		}
		if len(label) > 63 {
			return "", fmt.Errorf("%q has a label longer than 63 characters", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", fmt.Errorf("%q: %q is not allowed in a name (letters, digits, '-' and '_' only)", name, r)
			}
		}
	}
	return n + ".", nil
}

// fqdn is canonicalName for names already checked, or for callers that
// want a best effort: lower case with one trailing dot.
func fqdn(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".") + "."
}

// inZone reports whether name lies at or below zone; both canonical.
func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// firstLabel is the default service of a domain: "webapp" for
// "webapp.gslb.example.com.".
func firstLabel(name string) string {
	label, _, _ := strings.Cut(name, ".")
	return label
}

// NameserversFor returns the NS host names for the apex of zone, fully
// qualified. Configured nameservers serve every zone; when none are
// configured, each zone gets "ns1.<zone>" (which then needs an address
// record of its own to be resolvable).
func (d DNS) NameserversFor(zone string) []string {
	if len(d.Nameservers) > 0 {
		out := make([]string, len(d.Nameservers))
		for i, ns := range d.Nameservers {
			out[i] = fqdn(ns)
		}
		return out
	}
	return []string{"ns1." + fqdn(zone)}
}

// HostmasterFor returns the SOA RNAME for zone, fully qualified: the
// configured hostmaster, or "hostmaster.<zone>".
func (d DNS) HostmasterFor(zone string) string {
	if d.Hostmaster != "" {
		return fqdn(d.Hostmaster)
	}
	return "hostmaster." + fqdn(zone)
}

// canonicalHostmaster accepts a domain name or a mail address whose local
// part has no dot ("admin@example.com" becomes "admin.example.com.").
func canonicalHostmaster(s string) (string, error) {
	if local, domain, ok := strings.Cut(s, "@"); ok {
		if local == "" || strings.Contains(local, ".") {
			return "", fmt.Errorf("%q: write the mailbox as a name (a dot in the local part cannot be expressed)", s)
		}
		s = local + "." + domain
	}
	return canonicalName(s)
}

// canonicalAddr parses a backend address and returns it in canonical form:
// IPv4-mapped IPv6 addresses become IPv4, IPv6 is compressed and lower case.
func canonicalAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: a zoned address cannot be served in DNS", s)
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%q is not a unicast address", s)
	}
	return a, nil
}

// Addr returns the backend's address; the zero Addr if it is not valid,
// which cannot happen in a Config that Load returned.
func (b Backend) Addr() netip.Addr {
	a, err := netip.ParseAddr(b.Address)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// AddrPort returns the backend's address and port.
func (b Backend) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(b.Addr(), b.Port)
}

// checkServiceName checks a service name as written in domains, backends
// and the token tables: not empty, and no spaces or control characters, as
// the name travels in gossip messages and log lines.
func checkServiceName(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty")
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("service name %q must not contain spaces or control characters", s)
	}
	return nil
}

// MaxNodeIDLength is the longest node_id serf accepts, in bytes.
const MaxNodeIDLength = 128

// checkNodeID checks a node_id as serf checks a node name.
func checkNodeID(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > MaxNodeIDLength:
		return fmt.Errorf("is %d bytes long; a node name must be at most %d", len(s), MaxNodeIDLength)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("%q: a node name must not contain spaces or control characters", s)
	}
	return nil
}

// checkHost accepts an IP address or a host name.
func checkHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	_, err := canonicalName(host)
	return err == nil
}

// checkRemote checks the address of another node: host:port, the host an
// IP address or a host name, the port 1 to 65535.
func checkRemote(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: port must be a number from 1 to 65535", addr)
	}
	if host == "" || !checkHost(host) {
		return fmt.Errorf("%q: host is neither an IP address nor a host name", addr)
	}
	return nil
}

// checkAdvertise accepts an empty address (advertise what is bound), a
// host alone (advertise the bind port on it) or host:port.
func checkAdvertise(addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return checkRemote(addr)
	}
	host := addr
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if !checkHost(host) {
		return fmt.Errorf("%q is neither host:port nor an IP address or host name", addr)
	}
	return nil
}
