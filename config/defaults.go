package config

import (
	"os"
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

	defaultGossipBind     = "0.0.0.0:7946"
	defaultCheckInterval  = 30 * time.Second // overwatch.validation
	defaultCheckTimeout   = 5 * time.Second
	defaultStaleThreshold = 30 * time.Second
	defaultRemoveAfter    = 5 * time.Minute
	// defaultSignatureValidity is 14 days, Knot DNS's default RRSIG lifetime.
	defaultSignatureValidity = 14 * 24 * time.Hour
	// Key sync polls hourly, as the HA guide shows; keys change rarely and
	// a manual POST /api/v1/dnssec/sync covers the impatient.
	defaultKeySyncPoll    = time.Hour
	defaultKeySyncTimeout = 30 * time.Second
	defaultHeartbeat      = 10 * time.Second
	defaultHookTimeout    = 30 * time.Second
)

// hostname is os.Hostname, replaceable in tests.
var hostname = os.Hostname

// defaultNodeID is the host name, lower case; empty when it cannot be
// read, which validation then reports.
func defaultNodeID() string {
	h, err := hostname()
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(h))
}

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
	if !defined("api.allowed_networks") {
		c.API.AllowedNetworks = []string{"127.0.0.0/8", "::1/128"}
	}
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

	defaultBackends(c.Backends, "backends.", defined)

	for i := range c.Hooks {
		if !defined("hooks." + strconv.Itoa(i) + ".timeout") {
			c.Hooks[i].Timeout = Duration{defaultHookTimeout}
		}
	}

	// The mode-specific tables are allocated in their own mode, so code
	// that runs an overwatch or an agent finds their defaults; a table
	// written for the other mode is left alone for validation to refuse.
	switch c.Mode {
	case ModeOverwatch:
		if c.Overwatch == nil {
			c.Overwatch = &Overwatch{}
		}
		overwatchDefaults(c.Overwatch, defined)
	case ModeAgent:
		if c.Agent == nil {
			c.Agent = &Agent{}
		}
		agentDefaults(c.Agent, defined)
	}
}

func overwatchDefaults(o *Overwatch, defined func(string) bool) {
	if !defined("overwatch.identity.node_id") {
		o.Identity.NodeID = defaultNodeID()
	}
	// No [overwatch.gossip] table means no gossip: Gossip stays nil.
	if o.Gossip != nil && !defined("overwatch.gossip.bind_address") {
		o.Gossip.BindAddress = defaultGossipBind
	}
	if !defined("overwatch.validation.enabled") {
		o.Validation.Enabled = true
	}
	setDuration(&o.Validation.CheckInterval, "overwatch.validation.check_interval", defaultCheckInterval, defined)
	setDuration(&o.Validation.CheckTimeout, "overwatch.validation.check_timeout", defaultCheckTimeout, defined)
	setDuration(&o.Stale.Threshold, "overwatch.stale.threshold", defaultStaleThreshold, defined)
	setDuration(&o.Stale.RemoveAfter, "overwatch.stale.remove_after", defaultRemoveAfter, defined)
	if !defined("overwatch.dnssec.enabled") {
		o.DNSSEC.Enabled = true
	}
	if !defined("overwatch.dnssec.algorithm") {
		o.DNSSEC.Algorithm = AlgorithmECDSAP256
	}
	if !defined("overwatch.dnssec.denial") {
		o.DNSSEC.Denial = DenialNSEC3
	}
	setDuration(&o.DNSSEC.SignatureValidity, "overwatch.dnssec.signature_validity", defaultSignatureValidity, defined)
	setDuration(&o.DNSSEC.KeySync.PollInterval, "overwatch.dnssec.key_sync.poll_interval", defaultKeySyncPoll, defined)
	setDuration(&o.DNSSEC.KeySync.Timeout, "overwatch.dnssec.key_sync.timeout", defaultKeySyncTimeout, defined)
}

func agentDefaults(a *Agent, defined func(string) bool) {
	if !defined("agent.identity.node_id") {
		a.Identity.NodeID = defaultNodeID()
	}
	if !defined("agent.gossip.bind_address") {
		a.Gossip.BindAddress = defaultGossipBind
	}
	setDuration(&a.Heartbeat.Interval, "agent.heartbeat.interval", defaultHeartbeat, defined)
	defaultBackends(a.Backends, "agent.backends.", defined)
}

func setDuration(dst *Duration, path string, def time.Duration, defined func(string) bool) {
	if !defined(path) {
		*dst = Duration{def}
	}
}

// defaultBackends fills a list of backends, [[backends]] or
// [[agent.backends]]; prefix is the list's path with a trailing dot.
func defaultBackends(list []Backend, prefix string, defined func(string) bool) {
	setString := func(dst *string, path, def string) {
		if !defined(path) {
			*dst = def
		}
	}
	for i := range list {
		b := &list[i]
		base := prefix + strconv.Itoa(i) + "."
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
		setDuration(&hc.Interval, base+"interval", defaultInterval, defined)
		setDuration(&hc.Timeout, base+"timeout", defaultTimeout, defined)
		if !defined(base + "failure_threshold") {
			hc.FailureThreshold = defaultFailures
		}
		if !defined(base + "success_threshold") {
			hc.SuccessThreshold = defaultSuccesses
		}
	}
}
