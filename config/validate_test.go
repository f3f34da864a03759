package config

import (
	"fmt"
	"strings"
	"testing"
)

// Fragments the cases build on. Each case's text marks the line where the
// error must be reported with a "#!" comment.
const (
	zoneOK   = "[dns]\nzones = [\"gslb.example.com\"]\n"
	domainOK = "[[domains]]\nname = \"webapp.gslb.example.com\"\n"
	backend  = "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.1.10\"\nport = 80\n"

	// gossipOK turns an overwatch's gossip on.
	gossipOK = "[overwatch.gossip]\nencryption_key = \"" + testKey32 + "\"\n"
	// agentHead starts an agent's file up to its [agent.gossip] table,
	// which agentOK completes.
	agentHead = "mode = \"agent\"\n[agent.service_tokens]\nwebapp = \"" + agentToken + "\"\n"
	agentOK   = agentHead + "[agent.gossip]\nencryption_key = \"" + testKey16 + "\"\noverwatch_nodes = [\"10.0.0.1:7946\"]\n"
	agentBE   = "[[agent.backends]]\nservice = \"webapp\"\naddress = \"10.0.1.10\"\nport = 80\n"
	hookOK    = "[[hooks]]\nevent = \"member-failed\"\ncommand = \"/usr/local/bin/notify.sh\"\n"

	agentToken = "agent-token-0123456789"

	ksHead    = "[overwatch.dnssec.key_sync]\n"
	syncToken = "sync-token-0123456789"
)

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		key  string // display key the error must name
		msg  string // substring of the message
		// secret, when set, must not appear anywhere in the error.
		secret string
	}{
		// Top level.
		{"mode", `mode = "primary" #!` + "\n" + zoneOK, "mode", `must be "overwatch" or "agent", not "primary"`, ""},
		{"data_dir empty", `data_dir = "" #!` + "\n" + zoneOK, "data_dir", "must not be empty", ""},
		{"log level", zoneOK + "[logging]\nlevel = \"verbose\" #!\n", "logging.level", `must be one of "debug", "info", "warn", "error"`, ""},
		{"log format", zoneOK + "[logging]\nformat = \"text\" #!\n", "logging.format", `must be "json" or "console", not "text"`, ""},
		{"dns listen without port", "[dns]\nlisten_address = \"0.0.0.0\" #!\nzones = [\"gslb.example.com\"]\n", "dns.listen_address", "is not host:port", ""},
		{"metrics listen named port", zoneOK + "[metrics]\nlisten_address = \"localhost:http\" #!\n", "metrics.listen_address", "port must be a number", ""},
		{"api listen port range", zoneOK + "[api]\nlisten_address = \":70000\" #!\n", "api.listen_address", "port must be a number from 0 to 65535", ""},
		{"api listen bad host", zoneOK + "[api]\nlisten_address = \"bad host:80\" #!\n", "api.listen_address", "neither an IP address nor a host name", ""},
		{"api allowed network", zoneOK + "[api]\nallowed_networks = [\"10.0.0.0/8\", \"office\"] #!\n", "api.allowed_networks[1]", `"office" is not a CIDR network`, ""},
		{"api tls half", zoneOK + "[api] #!\ntls_cert_file = \"/etc/ssl/api.pem\"\n", "api", "tls_cert_file and tls_key_file go together", ""},
		{"api tls missing files", zoneOK + "[api]\ntls_cert_file = \"/nonexistent/api.pem\" #!\ntls_key_file = \"/nonexistent/api.key\"\n", "api.tls_cert_file", "cannot load the certificate pair /nonexistent/api.pem", ""},
		{"api short token", zoneOK + "[api]\nauth_token = \"short-secret\" #!\n", "api.auth_token", "at least 16", "short-secret"},
		{"overwatch table in agent mode", agentOK + "[overwatch.identity] #!\nnode_id = \"x\"\n", "overwatch", `belongs in an overwatch's file: only valid when mode = "overwatch"`, ""},
		{"agent table in overwatch mode", zoneOK + "[agent.identity] #!\nnode_id = \"x\"\n", "agent", `only valid when mode = "agent"`, ""},
		{"domains in agent mode", agentOK + "[[domains]] #!\nname = \"webapp.gslb.example.com\"\n[[domains]]\nname = \"api.gslb.example.com\"\n", "domains", "belongs in an overwatch's file", ""},
		{"backends in agent mode", agentOK + "[dns]\nzones = []\n[[backends]] #!\nservice = \"webapp\"\naddress = \"10.0.1.10\"\nport = 80\n", "backends", "belongs in an overwatch's file: an agent lists its backends in [[agent.backends]]", ""},

		// Zones and the DNS table.
		{"no zones in overwatch mode", "[dns] #!\nlisten_address = \":53\"\n", "dns.zones", "at least one zone is required in overwatch mode", ""},
		{"empty zones", "[dns]\nzones = [] #!\n", "dns.zones", "at least one zone is required", ""},
		{"duplicate zone", "[dns]\nzones = [\"gslb.example.com\",\n  \"GSLB.example.com.\"] #!\n", "dns.zones[1]", `zone "gslb.example.com." is listed twice`, ""},
		{"nested zone", "[dns]\nzones = [\"example.com\", \"gslb.example.com\"] #!\n", "dns.zones[1]", "lies inside zone \"example.com.\"; nested zones are not supported", ""},
		{"enclosing zone", "[dns]\nzones = [\"gslb.example.com\", \"example.com\"] #!\n", "dns.zones[1]", "contains zone \"gslb.example.com.\"", ""},
		{"empty label", "[dns]\nzones = [\"gslb..example.com\"] #!\n", "dns.zones[0]", "has an empty label", ""},
		{"long label", "[dns]\nzones = [\"" + strings.Repeat("a", 64) + ".com\"] #!\n", "dns.zones[0]", "longer than 63", ""},
		{"long name", "[dns]\nzones = [\"" + strings.Repeat(strings.Repeat("a", 60)+".", 5) + "com\"] #!\n", "dns.zones[0]", "longer than 253", ""},
		{"wildcard zone", "[dns]\nzones = [\"*.example.com\"] #!\n", "dns.zones[0]", `'*' is not allowed`, ""},
		{"root zone", "[dns]\nzones = [\".\"] #!\n", "dns.zones[0]", "root zone is not supported", ""},
		{"nameserver", "[dns]\nzones = [\"gslb.example.com\"]\nnameservers = [\"ns1.example.com\", \"ns 2\"] #!\n", "dns.nameservers[1]", "is not allowed in a name", ""},
		{"hostmaster", "[dns]\nzones = [\"gslb.example.com\"]\nhostmaster = \"first.last@example.com\" #!\n", "dns.hostmaster", "local part", ""},
		{"default_ttl too big", "[dns]\nzones = [\"gslb.example.com\"]\ndefault_ttl = 2147483648 #!\n", "dns.default_ttl", "must be between 0 and 2147483647", ""},
		{"negative_ttl negative", "[dns]\nzones = [\"gslb.example.com\"]\nnegative_ttl = -1 #!\n", "dns.negative_ttl", "must be between 0 and 2147483647", ""},
		{"zones not an array", "[dns]\nzones = \"gslb.example.com\" #!\n", "dns.zones", "must be an array, not a string", ""},

		// Domains.
		{"domain without name", zoneOK + "[[domains]] #!\nservice = \"webapp\"\n", "domains[0].name", "required", ""},
		{"domain outside zones", zoneOK + "[[domains]]\nname = \"webapp.example.org\" #!\n", "domains[0].name", `"webapp.example.org." is not inside any zone`, ""},
		{"domain at apex", zoneOK + "[[domains]]\nname = \"gslb.example.com\" #!\n", "domains[0].name", "is a zone apex", ""},
		{"duplicate domain", zoneOK + domainOK + "[[domains]]\nname = \"WebApp.gslb.example.com.\" #!\n", "domains[1].name", "already defined by domains[0]", ""},
		{"domain name syntax", zoneOK + "[[domains]]\nname = \"web app.gslb.example.com\" #!\n", "domains[0].name", "is not allowed in a name", ""},
		{"routing", zoneOK + domainOK + "routing = \"rr\" #!\n", "domains[0].routing", `must be one of "round-robin", "weighted", "failover", not "rr"`, ""},
		{"fallback", zoneOK + domainOK + "fallback = \"none\" #!\n", "domains[0].fallback", `must be one of "all", "servfail", "nodata", not "none"`, ""},
		{"ttl too big", zoneOK + domainOK + "ttl = 2147483648 #!\n", "domains[0].ttl", "must be between 0 and 2147483647", ""},
		{"ttl beyond uint32", zoneOK + domainOK + "ttl = 99999999999 #!\n", "domains[0].ttl", "must be between 0 and 2147483647", ""},
		{"ttl negative", zoneOK + domainOK + "ttl = -5 #!\n", "domains[0].ttl", "must be between 0 and 2147483647", ""},
		{"ttl float", zoneOK + domainOK + "ttl = 1.5 #!\n", "domains[0].ttl", "must be an integer, not a float", ""},
		{"name not a string", zoneOK + "[[domains]]\nname = 5 #!\n", "domains[0].name", "must be a string, not an integer", ""},
		{"service with a space", zoneOK + domainOK + "service = \"web app\" #!\n", "domains[0].service", `service name "web app" must not contain spaces or control characters`, ""},
		{"empty service", zoneOK + domainOK + "service = \"\" #!\n", "domains[0].service", "must not be empty", ""},
		{"second domain", zoneOK + domainOK + "[[domains]]\nname = \"api.gslb.example.com\"\nroutng = \"weighted\" #!\n", "domains[1].routng", "unknown key", ""},

		// Backends.
		{"service not served", zoneOK + domainOK + "[[backends]]\nservice = \"api\" #!\naddress = \"10.0.0.1\"\nport = 80\n", "backends[0].service", `service "api" has backends but no domain serves it`, ""},
		{"service missing", zoneOK + domainOK + "[[backends]] #!\naddress = \"10.0.0.1\"\nport = 80\n", "backends[0].service", "required", ""},
		{"address missing", zoneOK + domainOK + "[[backends]] #!\nservice = \"webapp\"\nport = 80\n", "backends[0].address", "required", ""},
		{"address invalid", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.1.256\" #!\nport = 80\n", "backends[0].address", "is not an IPv4 or IPv6 address", ""},
		{"address host name", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"web.internal\" #!\nport = 80\n", "backends[0].address", "is not an IPv4 or IPv6 address", ""},
		{"address zoned", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"fe80::1%eth0\" #!\nport = 80\n", "backends[0].address", "zoned address", ""},
		{"address unspecified", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"::\" #!\nport = 80\n", "backends[0].address", "not a unicast address", ""},
		{"address multicast", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"224.0.0.1\" #!\nport = 80\n", "backends[0].address", "not a unicast address", ""},
		{"port missing", zoneOK + domainOK + "[[backends]] #!\nservice = \"webapp\"\naddress = \"10.0.0.1\"\n", "backends[0].port", "required", ""},
		{"port zero", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.0.1\"\nport = 0 #!\n", "backends[0].port", "must be between 1 and 65535", ""},
		{"port too big", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.0.1\"\nport = 65536 #!\n", "backends[0].port", "must be between 1 and 65535", ""},
		{"port string", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.0.1\"\nport = \"80\" #!\n", "backends[0].port", "must be an integer, not a string", ""},
		{"weight too big", zoneOK + domainOK + backend + "weight = 1001 #!\n", "backends[0].weight", "must be between 0 and 1000", ""},
		{"weight negative", zoneOK + domainOK + backend + "weight = -1 #!\n", "backends[0].weight", "must be between 0 and 1000", ""},
		{"priority negative", zoneOK + domainOK + backend + "priority = -1 #!\n", "backends[0].priority", "must not be negative", ""},
		{"duplicate backend", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"2001:db8::1\"\nport = 80\n[[backends]] #!\nservice = \"webapp\"\naddress = \"2001:DB8:0::1\"\nport = 80\n", "backends[1]", "duplicate of backends[0]", ""},

		// Health checks.
		{"check type", zoneOK + domainOK + backend + "[backends.health_check]\ntype = \"icmp\" #!\n", "backends[0].health_check.type", `must be one of "http", "https", "tcp", "none", not "icmp"`, ""},
		{"check type not a string", zoneOK + domainOK + backend + "[backends.health_check]\ntype = 5 #!\npath = \"/x\"\n", "backends[0].health_check.type", "must be a string, not an integer", ""},
		{"interval zero", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"0s\" #!\n", "backends[0].health_check.interval", "must be greater than 0", ""},
		{"interval negative", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"-10s\" #!\n", "backends[0].health_check.interval", "must not be negative", ""},
		{"interval integer", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = 10 #!\n", "backends[0].health_check.interval", "must be a string, not an integer", ""},
		{"interval garbage", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"often\" #!\n", "backends[0].health_check.interval", `invalid duration "often"`, ""},
		{"timeout zero", zoneOK + domainOK + backend + "[backends.health_check]\ntimeout = \"0s\" #!\n", "backends[0].health_check.timeout", "must be greater than 0", ""},
		{"timeout over interval", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"1s\"\ntimeout = \"2s\" #!\n", "backends[0].health_check.timeout", "2s must not exceed the interval (1s)", ""},
		{"timeout over default interval", zoneOK + domainOK + backend + "[backends.health_check]\ntimeout = \"1m\" #!\n", "backends[0].health_check.timeout", "must not exceed the interval (10s)", ""},
		{"failure threshold", zoneOK + domainOK + backend + "[backends.health_check]\nfailure_threshold = 0 #!\n", "backends[0].health_check.failure_threshold", "must be at least 1", ""},
		{"success threshold", zoneOK + domainOK + backend + "[backends.health_check]\nsuccess_threshold = -2 #!\n", "backends[0].health_check.success_threshold", "must be at least 1", ""},
		{"expected status low", zoneOK + domainOK + backend + "[backends.health_check]\nexpected_status = [200, 99] #!\n", "backends[0].health_check.expected_status[1]", "must be between 100 and 599", ""},
		{"expected status high", zoneOK + domainOK + backend + "[backends.health_check]\nexpected_status = [\n  200,\n  600, #!\n]\n", "backends[0].health_check.expected_status[1]", "must be between 100 and 599", ""},
		{"expected status empty", zoneOK + domainOK + backend + "[backends.health_check]\nexpected_status = [] #!\n", "backends[0].health_check.expected_status", "must list at least one status", ""},
		{"path relative", zoneOK + domainOK + backend + "[backends.health_check]\npath = \"health\" #!\n", "backends[0].health_check.path", `must start with "/", not "health"`, ""},
		{"path on tcp", zoneOK + domainOK + backend + "[backends.health_check]\ntype = \"tcp\"\npath = \"/health\" #!\n", "backends[0].health_check.path", "applies only to http and https checks", ""},
		{"status on none", zoneOK + domainOK + backend + "health_check = { type = \"none\", expected_status = [200] } #!\n", "backends[0].health_check.expected_status", "applies only to http and https checks", ""},
		{"insecure on http", zoneOK + domainOK + backend + "[backends.health_check]\ninsecure_skip_verify = true #!\n", "backends[0].health_check.insecure_skip_verify", "applies only to https checks", ""},
		{"insecure not bool", zoneOK + domainOK + backend + "[backends.health_check]\ntype = \"https\"\ninsecure_skip_verify = \"yes\" #!\n", "backends[0].health_check.insecure_skip_verify", "must be true or false, not a string", ""},
		{"host with path", zoneOK + domainOK + backend + "[backends.health_check]\nhost = \"example.com/x\" #!\n", "backends[0].health_check.host", "is not a host name", ""},

		// Unknown keys.
		{"unknown top-level key", "colour = \"red\" #!\n" + zoneOK, "colour", "unknown key", ""},
		{"unknown key differs in case", "Mode = \"agent\" #!\n" + zoneOK, "Mode", "unknown key", ""},
		{"unknown table", zoneOK + "[overwatch.colour] #!\nred = true\n", "overwatch.colour", "unknown key", ""},
		{"unknown key in agent gossip", agentOK + "join = [] #!\n", "agent.gossip.join", "unknown key", ""},
		{"unknown key in agent backend", agentOK + agentBE + "[agent.backends.health_check]\nkind = \"tcp\" #!\n", "agent.backends[0].health_check.kind", "unknown key", ""},
		{"unknown nested key", zoneOK + "[dns.extra] #!\nx = 1\n", "dns.extra", "unknown key", ""},
		{"unknown key in array of tables", zoneOK + domainOK + backend + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.1.11\"\nport = 80\n[backends.health_check]\nkind = \"tcp\" #!\n", "backends[1].health_check.kind", "unknown key", ""},
		{"unknown key in inline table", zoneOK + domainOK + backend + "health_check = { type = \"tcp\", retries = 3 } #!\n", "backends[0].health_check.retries", "unknown key", ""},
		{"unknown dotted key", "logging.colour = true #!\n" + zoneOK, "logging.colour", "unknown key", ""},
		{"table where a value belongs", "mode = { name = \"x\" } #!\n" + zoneOK, "mode", "must be a string, not a table", ""},

		// The overwatch's identity.
		{"node_id with a space", zoneOK + "[overwatch.identity]\nnode_id = \"over watch\" #!\n", "overwatch.identity.node_id", `"over watch": a node name must not contain spaces or control characters`, ""},
		{"node_id empty", zoneOK + "[overwatch.identity]\nnode_id = \"\" #!\n", "overwatch.identity.node_id", "must not be empty", ""},
		{"node_id too long", zoneOK + "[overwatch.identity]\nnode_id = \"" + strings.Repeat("n", 129) + "\" #!\n", "overwatch.identity.node_id", "is 129 bytes long; a node name must be at most 128", ""},

		// The overwatch's gossip.
		{"gossip key missing", zoneOK + "[overwatch.gossip] #!\nbind_address = \"0.0.0.0:7946\"\n", "overwatch.gossip.encryption_key", "required: the base64 of 16, 24 or 32 random bytes", ""},
		{"gossip key empty", zoneOK + "[overwatch.gossip]\nencryption_key = \"\" #!\n", "overwatch.gossip.encryption_key", "must not be empty", ""},
		{"gossip key not base64", zoneOK + "[overwatch.gossip]\nencryption_key = \"hunter2-is-my-key\" #!\n", "overwatch.gossip.encryption_key", "is not standard base64 (bad input at byte 7; the key is not shown)", "hunter2"},
		{"gossip key url-safe base64", zoneOK + "[overwatch.gossip]\nencryption_key = \"-__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8=\" #!\n", "overwatch.gossip.encryption_key", "is not standard base64", "-__7__v_"},
		{"gossip key too short", zoneOK + "[overwatch.gossip]\nencryption_key = \"c2VjcmV0LWtleQ==\" #!\n", "overwatch.gossip.encryption_key", "decodes to 10 bytes; a gossip key must decode to 16, 24 or 32 bytes", "c2VjcmV0LWtleQ"},
		{"gossip key 20 bytes", zoneOK + "[overwatch.gossip]\nencryption_key = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM=\" #!\n", "overwatch.gossip.encryption_key", "decodes to 20 bytes", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM"},
		{"gossip key not a string", zoneOK + "[overwatch.gossip]\nencryption_key = 42 #!\n", "overwatch.gossip.encryption_key", "must be a string, not an integer", ""},
		{"gossip bind without port", zoneOK + gossipOK + "bind_address = \"0.0.0.0\" #!\n", "overwatch.gossip.bind_address", `"0.0.0.0" is not host:port`, ""},
		{"gossip bind port range", zoneOK + gossipOK + "bind_address = \":65536\" #!\n", "overwatch.gossip.bind_address", "port must be a number from 0 to 65535", ""},
		{"advertise bad host", zoneOK + gossipOK + "advertise_address = \"bad host\" #!\n", "overwatch.gossip.advertise_address", "is neither host:port nor an IP address or host name", ""},
		{"advertise unbalanced bracket", zoneOK + gossipOK + "advertise_address = \"[2001:db8::1\" #!\n", "overwatch.gossip.advertise_address", "is neither host:port nor an IP address or host name", ""},
		{"advertise port zero", zoneOK + gossipOK + "advertise_address = \"203.0.113.7:0\" #!\n", "overwatch.gossip.advertise_address", "port must be a number from 1 to 65535", ""},
		{"join without port", zoneOK + gossipOK + "join = [\"overwatch-2.internal:7946\",\n  \"overwatch-3.internal\"] #!\n", "overwatch.gossip.join[1]", `"overwatch-3.internal" is not host:port`, ""},
		{"join bad host", zoneOK + gossipOK + "join = [\"over watch:7946\"] #!\n", "overwatch.gossip.join[0]", "host is neither an IP address nor a host name", ""},
		{"join empty host", zoneOK + gossipOK + "join = [\":7946\"] #!\n", "overwatch.gossip.join[0]", "host is neither", ""},
		{"join not an array", zoneOK + gossipOK + "join = \"overwatch-2:7946\" #!\n", "overwatch.gossip.join", "must be an array, not a string", ""},
		{"gossip not a table", zoneOK + "[overwatch]\ngossip = true #!\n", "overwatch.gossip", "must be a table, not a boolean", ""},

		// The overwatch's agent tokens.
		{"agent_tokens without gossip", zoneOK + "[overwatch.agent_tokens] #!\nwebapp = \"" + agentToken + "\"\n", "overwatch.agent_tokens", "agent_tokens need [overwatch.gossip]", agentToken},
		{"agent token short", zoneOK + gossipOK + "[overwatch.agent_tokens]\nwebapp = \"tiny-secret\" #!\n", "overwatch.agent_tokens.webapp", "the token is 11 characters long; it must be at least 16 (the token is not shown)", "tiny-secret"},
		{"agent token short in runes", zoneOK + gossipOK + "[overwatch.agent_tokens]\nwebapp = \"ééééééééééééééé\" #!\n", "overwatch.agent_tokens.webapp", "the token is 15 characters long", "ééé"},
		{"agent token empty", zoneOK + gossipOK + "[overwatch.agent_tokens]\nwebapp = \"\" #!\n", "overwatch.agent_tokens.webapp", "the token must not be empty", ""},
		{"agent token blank", zoneOK + gossipOK + "[overwatch.agent_tokens]\nwebapp = \"                \" #!\n", "overwatch.agent_tokens.webapp", "the token must not be empty", ""},
		{"agent token not a string", zoneOK + gossipOK + "[overwatch.agent_tokens]\nwebapp = 1234567890123456789 #!\n", "overwatch.agent_tokens.webapp", "must be a string, not an integer", "1234567890123456789"},
		{"agent token service with space", zoneOK + gossipOK + "[overwatch.agent_tokens]\n\"web app\" = \"" + agentToken + "\" #!\n", "overwatch.agent_tokens.web app", `service name "web app" must not contain spaces or control characters`, agentToken},
		{"agent token service empty", zoneOK + gossipOK + "[overwatch.agent_tokens]\n\"\" = \"" + agentToken + "\" #!\n", "overwatch.agent_tokens.", "must not be empty", agentToken},
		{"agent_tokens not a table", zoneOK + gossipOK + "[overwatch]\nagent_tokens = \"" + agentToken + "\" #!\n", "overwatch.agent_tokens", "must be a table, not a string", agentToken},
		{"agent_tokens inline", zoneOK + gossipOK + "[overwatch]\nagent_tokens = { webapp = \"short\" } #!\n", "overwatch.agent_tokens.webapp", "the token is 5 characters long", ""},

		// The overwatch's validation and stale tables.
		{"check_timeout over check_interval", zoneOK + "[overwatch.validation]\ncheck_interval = \"10s\"\ncheck_timeout = \"20s\" #!\n", "overwatch.validation.check_timeout", "20s must not exceed check_interval (10s)", ""},
		{"check_timeout over default interval", zoneOK + "[overwatch.validation]\ncheck_timeout = \"1m\" #!\n", "overwatch.validation.check_timeout", "1m0s must not exceed check_interval (30s)", ""},
		{"check_interval zero", zoneOK + "[overwatch.validation]\ncheck_interval = \"0s\" #!\n", "overwatch.validation.check_interval", "must be greater than 0", ""},
		{"check_timeout zero", zoneOK + "[overwatch.validation]\ncheck_timeout = \"0s\" #!\n", "overwatch.validation.check_timeout", "must be greater than 0", ""},
		{"validation enabled not a bool", zoneOK + "[overwatch.validation]\nenabled = \"yes\" #!\n", "overwatch.validation.enabled", "must be true or false, not a string", ""},
		{"dnssec algorithm", zoneOK + "[overwatch.dnssec]\nalgorithm = \"RSASHA1\" #!\n", "overwatch.dnssec.algorithm", `must be "ECDSAP256SHA256" or "ED25519", not "RSASHA1"`, ""},
		{"dnssec denial", zoneOK + "[overwatch.dnssec]\ndenial = \"nsec5\" #!\n", "overwatch.dnssec.denial", `must be "nsec3" or "nsec", not "nsec5"`, ""},
		{"dnssec validity", zoneOK + "[overwatch.dnssec]\nsignature_validity = \"10m\" #!\n", "overwatch.dnssec.signature_validity", "10m0s is too short: at least 1h0m0s", ""},
		{"key sync plain http peer", zoneOK + ksHead + "peers = [\"https://a.internal:9090\",\n  \"http://b.internal:9090\"] #!\ntoken = \"" + syncToken + "\"\n", "overwatch.dnssec.key_sync.peers[1]", "must be an https:// URL", ""},
		{"key sync peer without port", zoneOK + ksHead + "peers = [\"https://a.internal\"] #!\ntoken = \"" + syncToken + "\"\n", "overwatch.dnssec.key_sync.peers[0]", "needs a host and a port", ""},
		{"key sync peer with path", zoneOK + ksHead + "peers = [\"https://a.internal:9090/api/v1\"] #!\ntoken = \"" + syncToken + "\"\n", "overwatch.dnssec.key_sync.peers[0]", "base URL only", ""},
		{"key sync duplicate peer", zoneOK + ksHead + "peers = [\"https://a.internal:9090\",\n \"https://A.internal:9090\"] #!\ntoken = \"" + syncToken + "\"\n", "overwatch.dnssec.key_sync.peers[1]", "same peer as peers.0", ""},
		{"key sync peers without token", zoneOK + "[overwatch.dnssec.key_sync] #!\n" + "peers = [\"https://a.internal:9090\"]\n", "overwatch.dnssec.key_sync.token", "required with peers", ""},
		{"key sync short token", zoneOK + ksHead + "token = \"short-secret\" #!\n", "overwatch.dnssec.key_sync.token", "at least 16", "short-secret"},
		{"key sync fast poll", zoneOK + ksHead + "poll_interval = \"100ms\" #!\n", "overwatch.dnssec.key_sync.poll_interval", "too short: at least 1s", ""},
		{"key sync timeout over poll", zoneOK + ksHead + "poll_interval = \"10s\"\ntimeout = \"30s\" #!\n", "overwatch.dnssec.key_sync.timeout", "must not exceed poll_interval", ""},
		{"key sync missing ca", zoneOK + ksHead + "ca_file = \"/nonexistent/ca.pem\" #!\n", "overwatch.dnssec.key_sync.ca_file", "cannot read /nonexistent/ca.pem", ""},
		{"remove_after equals threshold", zoneOK + "[overwatch.stale]\nthreshold = \"1m\"\nremove_after = \"1m\" #!\n", "overwatch.stale.remove_after", "1m0s must be longer than threshold (1m0s)", ""},
		{"remove_after below default threshold", zoneOK + "[overwatch.stale]\nremove_after = \"10s\" #!\n", "overwatch.stale.remove_after", "10s must be longer than threshold (30s)", ""},
		{"stale threshold zero", zoneOK + "[overwatch.stale]\nthreshold = \"0s\" #!\n", "overwatch.stale.threshold", "must be greater than 0", ""},
		{"stale unknown key", zoneOK + "[overwatch.stale]\nthreshhold = \"1m\" #!\n", "overwatch.stale.threshhold", "unknown key", ""},
		{"probe timeout over interval", zoneOK + gossipOK + "probe_interval = \"200ms\"\nprobe_timeout = \"300ms\" #!\n", "overwatch.gossip.probe_timeout", "probe_timeout (300ms) must be shorter than probe_interval (200ms)", testKey32},
		{"probe interval under default timeout", zoneOK + gossipOK + "probe_interval = \"400ms\" #!\n", "overwatch.gossip.probe_interval", "probe_timeout (500ms) must be shorter than probe_interval (400ms)", testKey32},
		{"reconnect interval zero", zoneOK + gossipOK + "reconnect_interval = \"0s\" #!\n", "overwatch.gossip.reconnect_interval", "must be greater than 0", testKey32},
		{"agent suspicion mult zero", agentOK + "suspicion_mult = 0 #!\n", "agent.gossip.suspicion_mult", "0 is out of range: 1 to 20", testKey16},

		// The agent.
		{"agent node_id control character", agentOK + "[agent.identity]\nnode_id = \"web\\u00011\" #!\n", "agent.identity.node_id", "a node name must not contain spaces or control characters", ""},
		{"agent node_id empty", agentOK + "[agent.identity]\nnode_id = \"\" #!\n", "agent.identity.node_id", "must not be empty", ""},
		{"agent gossip key missing", agentHead + "[agent.gossip] #!\noverwatch_nodes = [\"10.0.0.1:7946\"]\n", "agent.gossip.encryption_key", "required", ""},
		{"agent gossip key length", agentHead + "[agent.gossip]\noverwatch_nodes = [\"10.0.0.1:7946\"]\nencryption_key = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM=\" #!\n", "agent.gossip.encryption_key", "decodes to 20 bytes", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM"},
		{"agent overwatch_nodes missing", agentHead + "[agent.gossip] #!\nencryption_key = \"" + testKey16 + "\"\n", "agent.gossip.overwatch_nodes", "at least one overwatch (host:port) is required", testKey16},
		{"agent overwatch_nodes empty", agentHead + "[agent.gossip]\nencryption_key = \"" + testKey16 + "\"\noverwatch_nodes = [] #!\n", "agent.gossip.overwatch_nodes", "at least one overwatch", testKey16},
		{"agent overwatch node without port", agentHead + "[agent.gossip]\nencryption_key = \"" + testKey16 + "\"\noverwatch_nodes = [\"overwatch-us-east-1.internal\"] #!\n", "agent.gossip.overwatch_nodes[0]", "is not host:port", ""},
		{"agent overwatch node named port", agentHead + "[agent.gossip]\nencryption_key = \"" + testKey16 + "\"\noverwatch_nodes = [\"overwatch:serf\"] #!\n", "agent.gossip.overwatch_nodes[0]", "port must be a number from 1 to 65535", ""},
		{"agent bind port", agentOK + "bind_address = \"0.0.0.0:99999\" #!\n", "agent.gossip.bind_address", "port must be a number from 0 to 65535", ""},
		{"agent advertise", agentOK + "advertise_address = \"10.0.0.1:x\" #!\n", "agent.gossip.advertise_address", "port must be a number from 1 to 65535", ""},
		{"heartbeat zero", agentOK + "[agent.heartbeat]\ninterval = \"0s\" #!\n", "agent.heartbeat.interval", "must be greater than 0", ""},
		{"heartbeat integer", agentOK + "[agent.heartbeat]\ninterval = 10 #!\n", "agent.heartbeat.interval", "must be a string, not an integer", ""},
		{"service token short", "mode = \"agent\"\n[agent.service_tokens]\nwebapp = \"abc\" #!\n[agent.gossip]\nencryption_key = \"" + testKey16 + "\"\noverwatch_nodes = [\"10.0.0.1:7946\"]\n", "agent.service_tokens.webapp", "the token is 3 characters long; it must be at least 16", testKey16},
		{"service_tokens not a table", "mode = \"agent\"\n[agent]\nservice_tokens = [\"x\"] #!\n[agent.gossip]\nencryption_key = \"" + testKey16 + "\"\noverwatch_nodes = [\"10.0.0.1:7946\"]\n", "agent.service_tokens", "must be a table, not an array", ""},
		{"agent backend without token", agentOK + agentBE + "[[agent.backends]]\nservice = \"api\" #!\naddress = \"10.0.1.11\"\nport = 80\n", "agent.backends[1].service", `service "api" has no token in [agent.service_tokens]`, agentToken},
		{"agent backend service missing", agentOK + "[[agent.backends]] #!\naddress = \"10.0.1.11\"\nport = 80\n", "agent.backends[0].service", "required", ""},
		{"agent backend service with space", agentOK + "[[agent.backends]]\nservice = \"web app\" #!\naddress = \"10.0.1.11\"\nport = 80\n", "agent.backends[0].service", "must not contain spaces", ""},
		{"agent backend port", agentOK + "[[agent.backends]]\nservice = \"webapp\"\naddress = \"10.0.1.11\"\nport = 0 #!\n", "agent.backends[0].port", "must be between 1 and 65535", ""},
		{"agent backend port beyond uint16", agentOK + "[[agent.backends]]\nservice = \"webapp\"\naddress = \"10.0.1.11\"\nport = 70000 #!\n", "agent.backends[0].port", "must be between 1 and 65535", ""},
		{"agent backend weight", agentOK + agentBE + "weight = 1001 #!\n", "agent.backends[0].weight", "must be between 0 and 1000", ""},
		{"agent backend address", agentOK + "[[agent.backends]]\nservice = \"webapp\"\naddress = \"web-1\" #!\nport = 80\n", "agent.backends[0].address", "is not an IPv4 or IPv6 address", ""},
		{"agent backend check timeout", agentOK + agentBE + "[agent.backends.health_check]\ninterval = \"1s\"\ntimeout = \"2s\" #!\n", "agent.backends[0].health_check.timeout", "2s must not exceed the interval (1s)", ""},
		{"agent backend failure threshold", agentOK + agentBE + "[agent.backends.health_check]\nfailure_threshold = 0 #!\n", "agent.backends[0].health_check.failure_threshold", "must be at least 1", ""},
		{"agent backend duplicate", agentOK + agentBE + "[[agent.backends]] #!\nservice = \"webapp\"\naddress = \"10.0.1.10\"\nport = 80\n", "agent.backends[1]", "duplicate of agent.backends[0] (same service, address and port)", ""},

		// Hooks.
		{"hook event unknown", zoneOK + "[[hooks]]\nevent = \"member-joined\" #!\ncommand = \"x\"\n", "hooks[0].event", `must be one of "member-join", "member-leave", "member-failed", "member-update", "member-reap", "user", "user:NAME", "query", "query:NAME", "backend-health", "*", not "member-joined"`, ""},
		{"hook query without name", zoneOK + "[[hooks]]\nevent = \"query:\" #!\ncommand = \"x\"\n", "hooks[0].event", `name the query event after the colon`, ""},
		{"hook event case", zoneOK + hookOK + "[[hooks]]\nevent = \"Member-Join\" #!\ncommand = \"x\"\n", "hooks[1].event", `not "Member-Join"`, ""},
		{"hook event list", zoneOK + "[[hooks]]\nevent = \"member-join,member-leave\" #!\ncommand = \"x\"\n", "hooks[0].event", "must be one of", ""},
		{"hook user event without name", zoneOK + "[[hooks]]\nevent = \"user:\" #!\ncommand = \"x\"\n", "hooks[0].event", `"user:": name the user event after the colon`, ""},
		{"hook user event name", zoneOK + "[[hooks]]\nevent = \"user:de ploy\" #!\ncommand = \"x\"\n", "hooks[0].event", "a user event name may hold letters, digits, '-', '_' and '.' only", ""},
		{"hook event missing", zoneOK + "[[hooks]] #!\ncommand = \"x\"\n", "hooks[0].event", "required", ""},
		{"hook command missing", zoneOK + "[[hooks]] #!\nevent = \"*\"\n", "hooks[0].command", "required", ""},
		{"hook command blank", zoneOK + "[[hooks]]\nevent = \"*\"\ncommand = \"  \" #!\n", "hooks[0].command", "must not be empty", ""},
		{"hook timeout zero", agentOK + hookOK + "timeout = \"0s\" #!\n", "hooks[0].timeout", "must be greater than 0", ""},
		{"hook unknown key", zoneOK + hookOK + "args = [] #!\n", "hooks[0].args", "unknown key", ""},
		{"hooks not tables", "hooks = \"x\" #!\n" + zoneOK, "hooks", "must be an array, not a string", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "overwatch.toml", tt.text)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded on\n%s", tt.text)
			}
			list := problemList(t, err)
			if len(list) != 1 {
				t.Errorf("want exactly one problem, got %d:\n%v", len(list), err)
			}
			want := fmt.Sprintf("%s:%d: %s: ", path, markedLine(t, tt.text), tt.key)
			got := list[0].Error()
			if !strings.HasPrefix(got, want) || !strings.Contains(got, tt.msg) {
				t.Errorf("got  %s\nwant %s...%s...", got, want, tt.msg)
			}
			if list[0].File != path || list[0].Key != tt.key {
				t.Errorf("fields File=%q Key=%q", list[0].File, list[0].Key)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error shows the secret %q: %v", tt.secret, err)
			}
		})
	}
}

// TestValidButUnusual covers values near the limits that must load.
func TestValidButUnusual(t *testing.T) {
	tests := []struct{ name, text string }{
		{"domain without backends", zoneOK + domainOK},
		{"ttl max", zoneOK + domainOK + "ttl = 2147483647\n"},
		{"listen port zero", "[dns]\nlisten_address = \"127.0.0.1:0\"\nzones = [\"gslb.example.com\"]\n"},
		{"listen host name", zoneOK + "[api]\nlisten_address = \"localhost:9090\"\n"},
		{"listen all interfaces", zoneOK + "[metrics]\nlisten_address = \":9091\"\n"},
		{"weight zero, priority zero", zoneOK + domainOK + backend + "weight = 0\npriority = 0\n"},
		{"weight max", zoneOK + domainOK + backend + "weight = 1000\n"},
		{"check none ignores timing", zoneOK + domainOK + backend + "[backends.health_check]\ntype = \"none\"\n"},
		{"timeout equals interval", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"2s\"\ntimeout = \"2s\"\n"},
		{"underscore label", "[dns]\nzones = [\"_gslb.example.com\"]\n"},
		{"sibling zones", "[dns]\nzones = [\"a.example.com\", \"b.example.com\", \"ba.example.com\"]\n"},
		{"deep domain", zoneOK + "[[domains]]\nname = \"a.b.c.gslb.example.com\"\n"},
		{"service shared", zoneOK + domainOK + "[[domains]]\nname = \"www.gslb.example.com\"\nservice = \"webapp\"\n" + backend},
		{"same address other port", zoneOK + domainOK + backend + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.1.10\"\nport = 81\n"},
		{"mapped and plain differ by port", zoneOK + domainOK + backend + "[[backends]]\nservice = \"webapp\"\naddress = \"::ffff:10.0.1.10\"\nport = 8080\n"},
		{"minimal agent", agentOK},
		{"agent with a backend and a hook", agentOK + agentBE + hookOK},
		{"agent with dns table and no zones", agentOK + "[dns]\nlisten_address = \"127.0.0.1:0\"\n"},
		{"agent with 32-byte key, IPv6 and bind port 0", agentHead + "[agent.gossip]\nbind_address = \"127.0.0.1:0\"\nadvertise_address = \"2001:db8::1\"\nencryption_key = \"" + testKey32 + "\"\noverwatch_nodes = [\"[2001:db8::2]:7946\", \"ow.internal:1\"]\n"},
		{"agent token for a service without backends", agentHead + "api = \"" + agentToken + "\"\n" + strings.TrimPrefix(agentOK, agentHead)},
		{"agent node_id with dots and unicode", agentOK + "[agent.identity]\nnode_id = \"Web-1.üs-east\"\n"},
		{"agent node_id 128 bytes", agentOK + "[agent.identity]\nnode_id = \"" + strings.Repeat("n", 128) + "\"\n"},
		{"token of exactly 16 characters", agentHead[:len(agentHead)-len(agentToken)-2] + "ééééééééééééééé1\"\n[agent.gossip]\nencryption_key = \"" + testKey16 + "\"\noverwatch_nodes = [\"10.0.0.1:7946\"]\n"},
		{"overwatch gossip with 24-byte key", zoneOK + "[overwatch.gossip]\nencryption_key = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\"\n"},
		{"overwatch gossip without agent tokens", zoneOK + gossipOK + "bind_address = \"127.0.0.1:0\"\nadvertise_address = \"[2001:db8::1]\"\njoin = [\"ow-2.internal:7946\", \"192.0.2.1:7946\"]\n"},
		{"overwatch advertise host name", zoneOK + gossipOK + "advertise_address = \"ow-1.example.com:8301\"\n"},
		{"overwatch with agent tokens", zoneOK + gossipOK + "[overwatch.agent_tokens]\nwebapp = \"" + agentToken + "\"\n\"api-v2_x\" = \"" + agentToken + "\"\n"},
		{"validation disabled, timeout equals interval", zoneOK + "[overwatch.validation]\nenabled = false\ncheck_interval = \"5s\"\ncheck_timeout = \"5s\"\n"},
		{"stale in days", zoneOK + "[overwatch.stale]\nthreshold = \"1h\"\nremove_after = \"1d\"\n"},
		{"every hook event", zoneOK + "[[hooks]]\nevent = \"member-join\"\ncommand = \"x\"\n[[hooks]]\nevent = \"member-leave\"\ncommand = \"x\"\n" +
			"[[hooks]]\nevent = \"member-failed\"\ncommand = \"x\"\n[[hooks]]\nevent = \"member-update\"\ncommand = \"x\"\n" +
			"[[hooks]]\nevent = \"member-reap\"\ncommand = \"x\"\n[[hooks]]\nevent = \"user\"\ncommand = \"x\"\n" +
			"[[hooks]]\nevent = \"user:deploy-v2.1_x\"\ncommand = \"x\"\n[[hooks]]\nevent = \"query\"\ncommand = \"x\"\n[[hooks]]\nevent = \"query:status\"\ncommand = \"x\"\n" +
			"[[hooks]]\nevent = \"backend-health\"\ncommand = \"x\"\n[[hooks]]\nevent = \"*\"\ncommand = \"x\"\ntimeout = \"1h\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustLoad(t, tt.text)
		})
	}
}

func TestAPIDefaultsAndCanonicalNetworks(t *testing.T) {
	cfg, err := Parse("api.toml", []byte(zoneOK))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.API.AllowedNetworks, " "); got != "127.0.0.0/8 ::1/128" {
		t.Errorf("default allowed_networks %q, want loopback only", got)
	}
	cfg, err = Parse("api.toml", []byte(zoneOK+"[api]\nallowed_networks = [\"10.1.2.3/8\", \"192.0.2.7\", \"2001:DB8::/32\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.API.AllowedNetworks, " "); got != "10.0.0.0/8 192.0.2.7/32 2001:db8::/32" {
		t.Errorf("allowed_networks %q, want canonical prefixes", got)
	}
}
