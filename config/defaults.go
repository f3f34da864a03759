package config

import (
	"strconv"
	"strings"
	"time"
)

// Modes.
const (
	ModeOverwatch = "overwatch"
	ModeAgent     = "agent"
)

// Limits of the contract.
const (
	// MaxTTL is the largest TTL RFC 2181 §8 allows (2^31 - 1).
	MaxTTL = 2147483647
	// MaxWeight is the largest backend weight.
	MaxWeight = 1000
)

// The defaults of keys an operator may omit.
const (
	defaultDataDir       = "/var/lib/opengslb"
	defaultLogLevel      = "info"
	defaultLogFormat     = "json"
	defaultDNSListen     = "0.0.0.0:53"
	defaultTTL           = 30
	defaultNegativeTTL   = 60
	defaultMetricsListen = "0.0.0.0:9091"
	defaultAPIListen     = "127.0.0.1:9090"
	defaultWeight        = 100
	defaultPriority      = 1
	defaultCheckPath     = "/health"
	defaultInterval      = 10 * time.Second
	defaultTimeout       = 2 * time.Second
	defaultFailures      = 3
	defaultSuccesses     = 2
	defaultStatus        = 200
)

// applyDefaults fills every key the file did not write. It asks whether a
// key was written rather than whether its value is zero, because zero is
// sometimes what the operator meant (weight = 0 drains a backend; ttl = 0
// disables caching) and sometimes a mistake validation must name
// (failure_threshold = 0). Names are not canonical yet: validation does
// that, as it can fail.
//
// dns.nameservers and dns.hostmaster stay empty when omitted: their default
// depends on the zone, so DNS.NameserversFor and DNS.HostmasterFor compute
// it.
func applyDefaults(c *Config, defined func(path string) bool) {
	setString := func(dst *string, path, def string) {
		if !defined(path) {
			*dst = def
		}
	}
	setString(&c.Mode, "mode", ModeOverwatch)
	setString(&c.DataDir, "data_dir", defaultDataDir)
	setString(&c.Logging.Level, "logging.level", defaultLogLevel)
	setString(&c.Logging.Format, "logging.format", defaultLogFormat)
	setString(&c.DNS.ListenAddress, "dns.listen_address", defaultDNSListen)
	setString(&c.Metrics.ListenAddress, "metrics.listen_address", defaultMetricsListen)
	setString(&c.API.ListenAddress, "api.listen_address", defaultAPIListen)
	if !defined("dns.default_ttl") {
		c.DNS.DefaultTTL = defaultTTL
	}
	if !defined("dns.negative_ttl") {
		c.DNS.NegativeTTL = defaultNegativeTTL
	}

	for i := range c.Domains {
		d := &c.Domains[i]
		base := "domains." + strconv.Itoa(i) + "."
		setString(&d.Service, base+"service", firstLabel(strings.ToLower(strings.TrimSpace(d.Name))))
		setString(&d.Routing, base+"routing", RoutingRoundRobin)
		setString(&d.Fallback, base+"fallback", FallbackAll)
		if !defined(base + "ttl") {
			d.TTL = c.DNS.DefaultTTL
		}
	}

	for i := range c.Backends {
		b := &c.Backends[i]
		base := "backends." + strconv.Itoa(i) + "."
		if !defined(base + "weight") {
			b.Weight = defaultWeight
		}
		if !defined(base + "priority") {
			b.Priority = defaultPriority
		}
		hc := &b.HealthCheck
		base += "health_check."
		setString(&hc.Type, base+"type", CheckHTTP)
		if hc.Type == CheckHTTP || hc.Type == CheckHTTPS {
			setString(&hc.Path, base+"path", defaultCheckPath)
			if !defined(base + "expected_status") {
				hc.ExpectedStatus = []int{defaultStatus}
			}
		}
		if !defined(base + "interval") {
			hc.Interval = Duration{defaultInterval}
		}
		if !defined(base + "timeout") {
			hc.Timeout = Duration{defaultTimeout}
		}
		if !defined(base + "failure_threshold") {
			hc.FailureThreshold = defaultFailures
		}
		if !defined(base + "success_threshold") {
			hc.SuccessThreshold = defaultSuccesses
		}
	}
}
