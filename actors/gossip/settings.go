package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/opengslb/opengslb/config"
)

// Roles, as the "role" serf tag says them.
const (
	RoleOverwatch = "overwatch"
	RoleAgent     = "agent"
)

// Defaults of keys the config package may leave unset.
const (
	defaultStale     = 30 * time.Second
	defaultHeartbeat = 10 * time.Second
	defaultBind      = "0.0.0.0:7946"
)

// settings are the restart-only parts of the configuration: a running serf
// cannot change its name, address or key, so a reload that changes them is
// refused by the reload path and only logged here.
type settings struct {
	role     string
	node     string
	region   string
	bindHost string
	bindPort int
	advHost  string // "" when not set
	advPort  int
	key      []byte
	join     []string // overwatch: other overwatches; agent: overwatch_nodes
	prefix   string   // "overwatch.gossip" or "agent.gossip", for messages
	timing   config.GossipTiming
}

// equal reports whether two settings describe the same serf node.
func (s settings) equal(o settings) bool {
	return s.role == o.role && s.node == o.node && s.region == o.region &&
		s.bindHost == o.bindHost && s.bindPort == o.bindPort &&
		s.advHost == o.advHost && s.advPort == o.advPort &&
		string(s.key) == string(o.key)
}

func overwatchSettings(cfg *config.Config) (settings, error) {
	if cfg == nil || cfg.Overwatch == nil || cfg.Overwatch.Gossip == nil {
		return settings{}, errors.New("gossip: overwatch.gossip: not configured")
	}
	g := cfg.Overwatch.Gossip
	s, err := buildSettings(cfg, RoleOverwatch, "overwatch", cfg.Overwatch.Identity, g.BindAddress, g.AdvertiseAddress, g.Join)
	s.timing = g.Timing()
	return s, err
}

func agentSettings(cfg *config.Config) (settings, error) {
	if cfg == nil || cfg.Agent == nil {
		return settings{}, errors.New("gossip: agent: not configured")
	}
	g := cfg.Agent.Gossip
	s, err := buildSettings(cfg, RoleAgent, "agent", cfg.Agent.Identity, g.BindAddress, g.AdvertiseAddress, g.OverwatchNodes)
	s.timing = g.Timing()
	if err == nil && len(s.join) == 0 {
		err = errors.New("gossip: agent.gossip.overwatch_nodes: at least one overwatch address (host:port) is required")
	}
	return s, err
}

func buildSettings(cfg *config.Config, role, table string, id config.Identity, bind, adv string, join []string) (settings, error) {
	s := settings{role: role, region: id.Region, prefix: table + ".gossip", join: append([]string(nil), join...)}
	var errs []error
	if cfg.Mode != role {
		errs = append(errs, fmt.Errorf("mode is %q, not %q", cfg.Mode, role))
	}
	// config.Load fills node_id in (the hostname by default); a Config
	// built by hand must say it.
	s.node = id.NodeID
	if s.node == "" {
		errs = append(errs, fmt.Errorf("%s.identity.node_id: not set", table))
	}
	if len(s.node) > MaxNodeName {
		errs = append(errs, fmt.Errorf("%s.identity.node_id: %d bytes, over the %d-byte limit", table, len(s.node), MaxNodeName))
	}
	if len(s.region) > maxString {
		errs = append(errs, fmt.Errorf("%s.identity.region: %d bytes, over the %d-byte limit", table, len(s.region), maxString))
	}
	if bind == "" {
		bind = defaultBind
	}
	var err error
	if s.bindHost, s.bindPort, err = hostPort(bind, -1); err != nil {
		errs = append(errs, fmt.Errorf("%s.bind_address: %w", s.prefix, err))
	}
	if s.bindHost == "" {
		s.bindHost = "0.0.0.0"
	}
	if adv != "" {
		if s.advHost, s.advPort, err = hostPort(adv, s.bindPort); err != nil {
			errs = append(errs, fmt.Errorf("%s.advertise_address: %w", s.prefix, err))
		}
	}
	if s.key, err = gossipKey(cfg, s.prefix); err != nil {
		errs = append(errs, err)
	}
	for i, j := range s.join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			name := "join"
			if role == RoleAgent {
				name = "overwatch_nodes"
			}
			errs = append(errs, fmt.Errorf("%s.%s[%d]: %q: want host:port: %w", s.prefix, name, i, j, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return settings{}, fmt.Errorf("gossip: %w", err)
	}
	return s, nil
}

// hostPort parses "host:port" (host an IP address or a name, resolved when
// serf starts). defPort >= 0 also accepts a host alone ("10.0.0.1",
// "[::1]", "gw.example") and gives it that port.
func hostPort(s string, defPort int) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if defPort < 0 {
			return "", 0, fmt.Errorf("%q: want host:port: %w", s, err)
		}
		return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), defPort, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%q: port %q is not a number in 0..65535", s, port)
	}
	return host, int(p), nil
}

// resolveHost turns a configured host into the IP memberlist needs (it
// binds to and advertises IPs only; given a name it would silently bind
// every interface).
func resolveHost(ctx context.Context, host string) (string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", err
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("%s: no address", host)
	}
	return ips[0].Unmap().String(), nil
}

// gossipKey is the shared gossip key, memberlist's SecretKey: base64 of
// 16, 24 or 32 bytes, decoded by config (whose errors name the key and
// never quote it).
func gossipKey(cfg *config.Config, prefix string) ([]byte, error) {
	key, err := cfg.GossipKey()
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%s.encryption_key: required (generate one with `opengslb keygen gossip`)", prefix)
	}
	return key, nil
}

// staleThreshold is stale.threshold with its default.
func staleThreshold(cfg *config.Config) time.Duration {
	if cfg != nil && cfg.Overwatch != nil && cfg.Overwatch.Stale.Threshold.Duration > 0 {
		return cfg.Overwatch.Stale.Threshold.Duration
	}
	return defaultStale
}

// heartbeat is heartbeat.interval with its default.
func heartbeat(cfg *config.Config) time.Duration {
	if cfg != nil && cfg.Agent != nil && cfg.Agent.Heartbeat.Interval.Duration > 0 {
		return cfg.Agent.Heartbeat.Interval.Duration
	}
	return defaultHeartbeat
}
