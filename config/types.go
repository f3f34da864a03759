// Package config loads, validates and diffs OpenGSLB's TOML configuration.
//
// The key names are a public contract: operators' files depend on them, so
// fields are added, never renamed.
package config

import "time"

// Config is one fully loaded, defaulted and validated configuration file.
// A Config is immutable once Load returns it; actors share it by pointer.
type Config struct {
	Mode    string `toml:"mode"`
	DataDir string `toml:"data_dir"`

	Logging Logging  `toml:"logging"`
	DNS     DNS      `toml:"dns"`
	Metrics Listener `toml:"metrics"`
	API     API      `toml:"api"`

	Domains  []Domain  `toml:"domains"`
	Backends []Backend `toml:"backends"`

	// Hooks run a command per gossip or health event, in both modes.
	Hooks []Hook `toml:"hooks"`

	// Overwatch and Agent hold the mode-specific tables that later
	// capabilities (gossip, DNSSEC) fill in. They are accepted as tables so
	// a file written for a newer release still names an unknown key exactly.
	Overwatch *Overwatch `toml:"overwatch"`
	Agent     *Agent     `toml:"agent"`

	// Source is the file this configuration was read from, for messages.
	Source string `toml:"-"`
	// Lines maps a dotted key path ("domains.0.ttl") to its line in Source,
	// so later checks (reload refusal, for one) can point at the line too.
	Lines map[string]int `toml:"-"`
}

// Logging selects zerolog's level and output format.
type Logging struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // json | console
}

// DNS is the responder's configuration.
type DNS struct {
	ListenAddress string   `toml:"listen_address"`
	Zones         []string `toml:"zones"`
	DefaultTTL    uint32   `toml:"default_ttl"`
	Nameservers   []string `toml:"nameservers"`
	// Hostmaster is the SOA RNAME; default "hostmaster.<zone>".
	Hostmaster string `toml:"hostmaster"`
	// NegativeTTL is the SOA MINIMUM and the TTL of negative answers.
	NegativeTTL uint32 `toml:"negative_ttl"`
}

// API is the HTTP API's listener and its access rules.
type API struct {
	ListenAddress string `toml:"listen_address"`
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// AllowedNetworks may read (and, with the token, write); default
	// loopback only. Canonical prefixes after load.
	AllowedNetworks []string `toml:"allowed_networks"`
	// TrustProxyHeaders takes the client's address from X-Forwarded-For
	// (the last hop) instead of the connection, for an API behind a proxy.
	TrustProxyHeaders bool `toml:"trust_proxy_headers"`
	// AuthToken, when set, must be presented as "Authorization: Bearer"
	// on every request that changes state. Without it, such requests are
	// taken from loopback clients only.
	AuthToken string `toml:"auth_token" secret:"true"`
}

// Listener is a table that only names an address to listen on.
type Listener struct {
	ListenAddress string `toml:"listen_address"`
}

// Routing policy names.
const (
	RoutingRoundRobin = "round-robin"
	RoutingWeighted   = "weighted"
	RoutingFailover   = "failover"
)

// Fallback names: what a domain answers when none of its backends is healthy.
const (
	FallbackAll      = "all"      // fail open: every backend (the default)
	FallbackServfail = "servfail" // SERVFAIL, so resolvers try elsewhere
	FallbackNodata   = "nodata"   // NOERROR with no records
)

// Domain is one name the GSLB answers for.
type Domain struct {
	Name     string `toml:"name"` // canonical: lower case, fully qualified (trailing dot)
	Service  string `toml:"service"`
	Routing  string `toml:"routing"`
	TTL      uint32 `toml:"ttl"`
	Fallback string `toml:"fallback"`
}

// Health check types.
const (
	CheckHTTP  = "http"
	CheckHTTPS = "https"
	CheckTCP   = "tcp"
	CheckNone  = "none"
)

// Backend is one address that serves a service.
type Backend struct {
	Service     string      `toml:"service"`
	Address     string      `toml:"address"` // canonical IP text (netip.Addr.String)
	Port        uint16      `toml:"port"`
	Weight      int         `toml:"weight"`
	Priority    int         `toml:"priority"`
	Region      string      `toml:"region"`
	HealthCheck HealthCheck `toml:"health_check"`
}

// HealthCheck describes how a backend is probed.
type HealthCheck struct {
	Type             string   `toml:"type"`
	Path             string   `toml:"path"`
	Host             string   `toml:"host"` // HTTP Host header / TLS server name; default: address
	Interval         Duration `toml:"interval"`
	Timeout          Duration `toml:"timeout"`
	FailureThreshold int      `toml:"failure_threshold"`
	SuccessThreshold int      `toml:"success_threshold"`
	ExpectedStatus   []int    `toml:"expected_status"`
	// InsecureSkipVerify accepts any certificate on https checks; backends
	// are usually addressed by IP, so verification would mostly fail.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
}

// Overwatch holds overwatch-only tables. Load allocates it in overwatch
// mode even when the file has no [overwatch] table, so its defaults apply.
// Fields tagged secret:"true" are never shown by Diff or in errors.
type Overwatch struct {
	Identity Identity `toml:"identity"`
	// AgentTokens maps a service to the token an agent must prove it
	// knows to report that service's backends.
	AgentTokens map[string]string `toml:"agent_tokens" secret:"true"`
	// Gossip is nil when the file has no [overwatch.gossip] table: the
	// overwatch then serves its static backends alone.
	Gossip     *OverwatchGossip `toml:"gossip"`
	Validation Validation       `toml:"validation"`
	Stale      Stale            `toml:"stale"`
	DNSSEC     DNSSEC           `toml:"dnssec"`
}

// DNSSEC algorithm and denial names, as written in the file.
const (
	AlgorithmECDSAP256 = "ECDSAP256SHA256"
	AlgorithmED25519   = "ED25519"
	DenialNSEC3        = "nsec3"
	DenialNSEC         = "nsec"
)

// DNSSEC is how the overwatch signs its zones.
type DNSSEC struct {
	Enabled bool `toml:"enabled"` // default true
	// Algorithm applies to keys generated from now on; a zone keeps the
	// algorithm of the key it has.
	Algorithm string `toml:"algorithm"` // default ECDSAP256SHA256
	Denial    string `toml:"denial"`    // nsec3 (default, RFC 9276 parameters) | nsec
	// SignatureValidity is how long a new signature is valid; signatures
	// are refreshed once a quarter of it is left.
	SignatureValidity Duration `toml:"signature_validity"` // default 14d
	KeySync           KeySync  `toml:"key_sync"`
}

// KeySync is how overwatches share their DNSSEC keys: each polls its peers'
// APIs over TLS and all converge on one keyset per zone.
type KeySync struct {
	// Peers are the other overwatches' API base URLs (https only: the
	// answer holds private keys). Empty: this node only serves its keys.
	Peers        []string `toml:"peers"`
	PollInterval Duration `toml:"poll_interval"` // default 1h
	Timeout      Duration `toml:"timeout"`       // per request; default 30s
	// Token is shared by overwatches only, never by agents: it both
	// authorises fetching this node's keys and is sent to peers.
	Token string `toml:"token" secret:"true"`
	// CAFile verifies peers' certificates; the system pool when empty.
	CAFile string `toml:"ca_file"`
}

// OverwatchGossip is the overwatch's serf membership.
type OverwatchGossip struct {
	BindAddress      string   `toml:"bind_address"`                 // default "0.0.0.0:7946"
	AdvertiseAddress string   `toml:"advertise_address"`            // optional, for NAT and containers
	EncryptionKey    string   `toml:"encryption_key" secret:"true"` // base64 of 16, 24 or 32 bytes; required
	Join             []string `toml:"join"`                         // other overwatches, host:port
	// Failure-detector timing, as serf's profiles and Consul's gossip_lan
	// tune it; zero keeps memberlist's LAN default. See GossipTiming.
	ProbeInterval     Duration `toml:"probe_interval"`     // default 1s
	ProbeTimeout      Duration `toml:"probe_timeout"`      // default 500ms
	SuspicionMult     int      `toml:"suspicion_mult"`     // default 4
	ReconnectInterval Duration `toml:"reconnect_interval"` // default 10s
}

// GossipTiming is the failure-detector timing of either role's gossip
// table. Faster probing finds a dead or cut-off node sooner at the cost of
// more packets and more false suspicion on a lossy network;
// ReconnectInterval is how often a failed member is tried again, so a
// healed partition closes within about that long.
type GossipTiming struct {
	ProbeInterval, ProbeTimeout, ReconnectInterval Duration
	SuspicionMult                                  int
}

// Timing is the table's failure-detector timing.
func (g OverwatchGossip) Timing() GossipTiming {
	return GossipTiming{g.ProbeInterval, g.ProbeTimeout, g.ReconnectInterval, g.SuspicionMult}
}

// Timing is the table's failure-detector timing.
func (g AgentGossip) Timing() GossipTiming {
	return GossipTiming{g.ProbeInterval, g.ProbeTimeout, g.ReconnectInterval, g.SuspicionMult}
}

// Validation makes the overwatch re-check what agents claim.
type Validation struct {
	Enabled       bool     `toml:"enabled"`        // default true
	CheckInterval Duration `toml:"check_interval"` // default 30s
	CheckTimeout  Duration `toml:"check_timeout"`  // default 5s
}

// Stale says how long an agent's silence is tolerated.
type Stale struct {
	Threshold   Duration `toml:"threshold"`    // default 30s: no report for this long → stale
	RemoveAfter Duration `toml:"remove_after"` // default 5m: then its backends are withdrawn
}

// Agent holds agent-only tables. Load allocates it in agent mode.
type Agent struct {
	Identity Identity `toml:"identity"` // node_id defaults to the hostname
	// ServiceTokens maps each service this agent reports to its token.
	ServiceTokens map[string]string `toml:"service_tokens" secret:"true"`
	Gossip        AgentGossip       `toml:"gossip"`
	Heartbeat     Heartbeat         `toml:"heartbeat"`
	Backends      []Backend         `toml:"backends"` // same fields and defaults as [[backends]]
}

// AgentGossip is the agent's serf membership.
type AgentGossip struct {
	BindAddress      string   `toml:"bind_address"` // default "0.0.0.0:7946"
	AdvertiseAddress string   `toml:"advertise_address"`
	EncryptionKey    string   `toml:"encryption_key" secret:"true"` // required
	OverwatchNodes   []string `toml:"overwatch_nodes"`              // required, host:port
	// Failure-detector timing, as serf's profiles and Consul's gossip_lan
	// tune it; zero keeps memberlist's LAN default. See GossipTiming.
	ProbeInterval     Duration `toml:"probe_interval"`     // default 1s
	ProbeTimeout      Duration `toml:"probe_timeout"`      // default 500ms
	SuspicionMult     int      `toml:"suspicion_mult"`     // default 4
	ReconnectInterval Duration `toml:"reconnect_interval"` // default 10s
}

// Heartbeat paces an agent's unchanged reports.
type Heartbeat struct {
	Interval Duration `toml:"interval"` // default 10s
}

// Hook events: serf's own, and backend-health for a backend's verdict
// changing. "user" matches every user event and HookUserPrefix+"NAME" one
// of them (likewise "query" and HookQueryPrefix+"NAME"); HookAll matches
// every event.
const (
	HookMemberJoin    = "member-join"
	HookMemberLeave   = "member-leave"
	HookMemberFailed  = "member-failed"
	HookMemberUpdate  = "member-update"
	HookMemberReap    = "member-reap"
	HookUser          = "user"
	HookUserPrefix    = "user:"
	HookQuery         = "query"
	HookQueryPrefix   = "query:"
	HookBackendHealth = "backend-health"
	HookAll           = "*"
)

// Hook runs Command when Event happens, the way serf's event handlers do.
type Hook struct {
	Event   string   `toml:"event"`
	Command string   `toml:"command"`
	Timeout Duration `toml:"timeout"` // default 30s
}

// Identity names a node and its region.
type Identity struct {
	NodeID string `toml:"node_id"`
	Region string `toml:"region"`
}

// Duration is a time.Duration written as a Go duration string ("10s") or,
// for long periods, with a day suffix ("14d").
type Duration struct {
	time.Duration
}
