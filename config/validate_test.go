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
)

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		key  string // display key the error must name
		msg  string // substring of the message
	}{
		// Top level.
		{"mode", `mode = "primary" #!` + "\n" + zoneOK, "mode", `must be "overwatch" or "agent", not "primary"`},
		{"data_dir empty", `data_dir = "" #!` + "\n" + zoneOK, "data_dir", "must not be empty"},
		{"log level", zoneOK + "[logging]\nlevel = \"verbose\" #!\n", "logging.level", `must be one of "debug", "info", "warn", "error"`},
		{"log format", zoneOK + "[logging]\nformat = \"text\" #!\n", "logging.format", `must be "json" or "console", not "text"`},
		{"dns listen without port", "[dns]\nlisten_address = \"0.0.0.0\" #!\nzones = [\"gslb.example.com\"]\n", "dns.listen_address", "is not host:port"},
		{"metrics listen named port", zoneOK + "[metrics]\nlisten_address = \"localhost:http\" #!\n", "metrics.listen_address", "port must be a number"},
		{"api listen port range", zoneOK + "[api]\nlisten_address = \":70000\" #!\n", "api.listen_address", "port must be a number from 0 to 65535"},
		{"api listen bad host", zoneOK + "[api]\nlisten_address = \"bad host:80\" #!\n", "api.listen_address", "neither an IP address nor a host name"},
		{"overwatch table in agent mode", "mode = \"agent\"\n[overwatch.identity] #!\nnode_id = \"x\"\n", "overwatch", `only valid when mode = "overwatch"`},
		{"agent table in overwatch mode", zoneOK + "[agent.identity] #!\nnode_id = \"x\"\n", "agent", `only valid when mode = "agent"`},

		// Zones and the DNS table.
		{"no zones in overwatch mode", "[dns] #!\nlisten_address = \":53\"\n", "dns.zones", "at least one zone is required in overwatch mode"},
		{"empty zones", "[dns]\nzones = [] #!\n", "dns.zones", "at least one zone is required"},
		{"duplicate zone", "[dns]\nzones = [\"gslb.example.com\",\n  \"GSLB.example.com.\"] #!\n", "dns.zones[1]", `zone "gslb.example.com." is listed twice`},
		{"nested zone", "[dns]\nzones = [\"example.com\", \"gslb.example.com\"] #!\n", "dns.zones[1]", "lies inside zone \"example.com.\"; nested zones are not supported"},
		{"enclosing zone", "[dns]\nzones = [\"gslb.example.com\", \"example.com\"] #!\n", "dns.zones[1]", "contains zone \"gslb.example.com.\""},
		{"empty label", "[dns]\nzones = [\"gslb..example.com\"] #!\n", "dns.zones[0]", "has an empty label"},
		{"long label", "[dns]\nzones = [\"" + strings.Repeat("a", 64) + ".com\"] #!\n", "dns.zones[0]", "longer than 63"},
		{"long name", "[dns]\nzones = [\"" + strings.Repeat(strings.Repeat("a", 60)+".", 5) + "com\"] #!\n", "dns.zones[0]", "longer than 253"},
		{"wildcard zone", "[dns]\nzones = [\"*.example.com\"] #!\n", "dns.zones[0]", `'*' is not allowed`},
		{"root zone", "[dns]\nzones = [\".\"] #!\n", "dns.zones[0]", "root zone is not supported"},
		{"nameserver", "[dns]\nzones = [\"gslb.example.com\"]\nnameservers = [\"ns1.example.com\", \"ns 2\"] #!\n", "dns.nameservers[1]", "is not allowed in a name"},
		{"hostmaster", "[dns]\nzones = [\"gslb.example.com\"]\nhostmaster = \"first.last@example.com\" #!\n", "dns.hostmaster", "local part"},
		{"default_ttl too big", "[dns]\nzones = [\"gslb.example.com\"]\ndefault_ttl = 2147483648 #!\n", "dns.default_ttl", "must be between 0 and 2147483647"},
		{"negative_ttl negative", "[dns]\nzones = [\"gslb.example.com\"]\nnegative_ttl = -1 #!\n", "dns.negative_ttl", "must be between 0 and 2147483647"},
		{"zones not an array", "[dns]\nzones = \"gslb.example.com\" #!\n", "dns.zones", "must be an array, not a string"},

		// Domains.
		{"domain without name", zoneOK + "[[domains]] #!\nservice = \"webapp\"\n", "domains[0].name", "required"},
		{"domain outside zones", zoneOK + "[[domains]]\nname = \"webapp.example.org\" #!\n", "domains[0].name", `"webapp.example.org." is not inside any zone`},
		{"domain at apex", zoneOK + "[[domains]]\nname = \"gslb.example.com\" #!\n", "domains[0].name", "is a zone apex"},
		{"duplicate domain", zoneOK + domainOK + "[[domains]]\nname = \"WebApp.gslb.example.com.\" #!\n", "domains[1].name", "already defined by domains[0]"},
		{"domain name syntax", zoneOK + "[[domains]]\nname = \"web app.gslb.example.com\" #!\n", "domains[0].name", "is not allowed in a name"},
		{"routing", zoneOK + domainOK + "routing = \"rr\" #!\n", "domains[0].routing", `must be one of "round-robin", "weighted", "failover", not "rr"`},
		{"fallback", zoneOK + domainOK + "fallback = \"none\" #!\n", "domains[0].fallback", `must be one of "all", "servfail", "nodata", not "none"`},
		{"ttl too big", zoneOK + domainOK + "ttl = 2147483648 #!\n", "domains[0].ttl", "must be between 0 and 2147483647"},
		{"ttl beyond uint32", zoneOK + domainOK + "ttl = 99999999999 #!\n", "domains[0].ttl", "must be between 0 and 2147483647"},
		{"ttl negative", zoneOK + domainOK + "ttl = -5 #!\n", "domains[0].ttl", "must be between 0 and 2147483647"},
		{"ttl float", zoneOK + domainOK + "ttl = 1.5 #!\n", "domains[0].ttl", "must be an integer, not a float"},
		{"name not a string", zoneOK + "[[domains]]\nname = 5 #!\n", "domains[0].name", "must be a string, not an integer"},
		{"empty service", zoneOK + domainOK + "service = \"\" #!\n", "domains[0].service", "must not be empty"},
		{"second domain", zoneOK + domainOK + "[[domains]]\nname = \"api.gslb.example.com\"\nroutng = \"weighted\" #!\n", "domains[1].routng", "unknown key"},

		// Backends.
		{"service not served", zoneOK + domainOK + "[[backends]]\nservice = \"api\" #!\naddress = \"10.0.0.1\"\nport = 80\n", "backends[0].service", `service "api" has backends but no domain serves it`},
		{"service missing", zoneOK + domainOK + "[[backends]] #!\naddress = \"10.0.0.1\"\nport = 80\n", "backends[0].service", "required"},
		{"address missing", zoneOK + domainOK + "[[backends]] #!\nservice = \"webapp\"\nport = 80\n", "backends[0].address", "required"},
		{"address invalid", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.1.256\" #!\nport = 80\n", "backends[0].address", "is not an IPv4 or IPv6 address"},
		{"address host name", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"web.internal\" #!\nport = 80\n", "backends[0].address", "is not an IPv4 or IPv6 address"},
		{"address zoned", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"fe80::1%eth0\" #!\nport = 80\n", "backends[0].address", "zoned address"},
		{"address unspecified", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"::\" #!\nport = 80\n", "backends[0].address", "not a unicast address"},
		{"address multicast", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"224.0.0.1\" #!\nport = 80\n", "backends[0].address", "not a unicast address"},
		{"port missing", zoneOK + domainOK + "[[backends]] #!\nservice = \"webapp\"\naddress = \"10.0.0.1\"\n", "backends[0].port", "required"},
		{"port zero", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.0.1\"\nport = 0 #!\n", "backends[0].port", "must be between 1 and 65535"},
		{"port too big", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.0.1\"\nport = 65536 #!\n", "backends[0].port", "must be between 1 and 65535"},
		{"port string", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.0.1\"\nport = \"80\" #!\n", "backends[0].port", "must be an integer, not a string"},
		{"weight too big", zoneOK + domainOK + backend + "weight = 1001 #!\n", "backends[0].weight", "must be between 0 and 1000"},
		{"weight negative", zoneOK + domainOK + backend + "weight = -1 #!\n", "backends[0].weight", "must be between 0 and 1000"},
		{"priority negative", zoneOK + domainOK + backend + "priority = -1 #!\n", "backends[0].priority", "must not be negative"},
		{"duplicate backend", zoneOK + domainOK + "[[backends]]\nservice = \"webapp\"\naddress = \"2001:db8::1\"\nport = 80\n[[backends]] #!\nservice = \"webapp\"\naddress = \"2001:DB8:0::1\"\nport = 80\n", "backends[1]", "duplicate of backends[0]"},

		// Health checks.
		{"check type", zoneOK + domainOK + backend + "[backends.health_check]\ntype = \"icmp\" #!\n", "backends[0].health_check.type", `must be one of "http", "https", "tcp", "none", not "icmp"`},
		{"check type not a string", zoneOK + domainOK + backend + "[backends.health_check]\ntype = 5 #!\npath = \"/x\"\n", "backends[0].health_check.type", "must be a string, not an integer"},
		{"interval zero", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"0s\" #!\n", "backends[0].health_check.interval", "must be greater than 0"},
		{"interval negative", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"-10s\" #!\n", "backends[0].health_check.interval", "must not be negative"},
		{"interval integer", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = 10 #!\n", "backends[0].health_check.interval", "must be a string, not an integer"},
		{"interval garbage", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"often\" #!\n", "backends[0].health_check.interval", `invalid duration "often"`},
		{"timeout zero", zoneOK + domainOK + backend + "[backends.health_check]\ntimeout = \"0s\" #!\n", "backends[0].health_check.timeout", "must be greater than 0"},
		{"timeout over interval", zoneOK + domainOK + backend + "[backends.health_check]\ninterval = \"1s\"\ntimeout = \"2s\" #!\n", "backends[0].health_check.timeout", "2s must not exceed the interval (1s)"},
		{"timeout over default interval", zoneOK + domainOK + backend + "[backends.health_check]\ntimeout = \"1m\" #!\n", "backends[0].health_check.timeout", "must not exceed the interval (10s)"},
		{"failure threshold", zoneOK + domainOK + backend + "[backends.health_check]\nfailure_threshold = 0 #!\n", "backends[0].health_check.failure_threshold", "must be at least 1"},
		{"success threshold", zoneOK + domainOK + backend + "[backends.health_check]\nsuccess_threshold = -2 #!\n", "backends[0].health_check.success_threshold", "must be at least 1"},
		{"expected status low", zoneOK + domainOK + backend + "[backends.health_check]\nexpected_status = [200, 99] #!\n", "backends[0].health_check.expected_status[1]", "must be between 100 and 599"},
		{"expected status high", zoneOK + domainOK + backend + "[backends.health_check]\nexpected_status = [\n  200,\n  600, #!\n]\n", "backends[0].health_check.expected_status[1]", "must be between 100 and 599"},
		{"expected status empty", zoneOK + domainOK + backend + "[backends.health_check]\nexpected_status = [] #!\n", "backends[0].health_check.expected_status", "must list at least one status"},
		{"path relative", zoneOK + domainOK + backend + "[backends.health_check]\npath = \"health\" #!\n", "backends[0].health_check.path", `must start with "/", not "health"`},
		{"path on tcp", zoneOK + domainOK + backend + "[backends.health_check]\ntype = \"tcp\"\npath = \"/health\" #!\n", "backends[0].health_check.path", "applies only to http and https checks"},
		{"status on none", zoneOK + domainOK + backend + "health_check = { type = \"none\", expected_status = [200] } #!\n", "backends[0].health_check.expected_status", "applies only to http and https checks"},
		{"insecure on http", zoneOK + domainOK + backend + "[backends.health_check]\ninsecure_skip_verify = true #!\n", "backends[0].health_check.insecure_skip_verify", "applies only to https checks"},
		{"insecure not bool", zoneOK + domainOK + backend + "[backends.health_check]\ntype = \"https\"\ninsecure_skip_verify = \"yes\" #!\n", "backends[0].health_check.insecure_skip_verify", "must be true or false, not a string"},
		{"host with path", zoneOK + domainOK + backend + "[backends.health_check]\nhost = \"example.com/x\" #!\n", "backends[0].health_check.host", "is not a host name"},

		// Unknown keys.
		{"unknown top-level key", "colour = \"red\" #!\n" + zoneOK, "colour", "unknown key"},
		{"unknown key differs in case", "Mode = \"agent\" #!\n" + zoneOK, "Mode", "unknown key"},
		{"unknown table", zoneOK + "[overwatch.gossip] #!\nbind_address = \"0.0.0.0:7946\"\n", "overwatch.gossip", "unknown key"},
		{"unknown nested key", zoneOK + "[dns.extra] #!\nx = 1\n", "dns.extra", "unknown key"},
		{"unknown key in array of tables", zoneOK + domainOK + backend + "[[backends]]\nservice = \"webapp\"\naddress = \"10.0.1.11\"\nport = 80\n[backends.health_check]\nkind = \"tcp\" #!\n", "backends[1].health_check.kind", "unknown key"},
		{"unknown key in inline table", zoneOK + domainOK + backend + "health_check = { type = \"tcp\", retries = 3 } #!\n", "backends[0].health_check.retries", "unknown key"},
		{"unknown dotted key", "logging.colour = true #!\n" + zoneOK, "logging.colour", "unknown key"},
		{"table where a value belongs", "mode = { name = \"x\" } #!\n" + zoneOK, "mode", "must be a string, not a table"},
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
		{"empty file in agent mode", "mode = \"agent\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustLoad(t, tt.text)
		})
	}
}
