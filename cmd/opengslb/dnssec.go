package main

// opengslb dnssec ds: the DS records to hand to the parent zone, read from
// the key files on disk, so it works before the overwatch first starts
// serving and without its API.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/urfave/cli/v2"

	"github.com/opengslb/opengslb/actors/signer"
	"github.com/opengslb/opengslb/config"
)

func dnssecCommand() *cli.Command {
	return &cli.Command{
		Name:  "dnssec",
		Usage: "DNSSEC tools",
		Subcommands: []*cli.Command{{
			Name:  "ds",
			Usage: "print the DS records of the zones' keys, for the parent zone",
			Description: "Reads the key files in the overwatch's data_dir/dnssec (from --config, or --data-dir)\n" +
				"and prints each key-signing key's SHA-256 DS record, as dnssec-dsfromkey -2 does.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "zone", Aliases: []string{"z"}, Usage: "only this `ZONE` (default: every zone with keys)"},
				&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the overwatch's TOML configuration `FILE` (its data_dir)", EnvVars: []string{"OPENGSLB_CONFIG"}},
				&cli.StringFlag{Name: "data-dir", Usage: "the overwatch's data_dir `DIR` (keys are in DIR/dnssec)"},
			},
			OnUsageError: func(c *cli.Context, err error, _ bool) error { return usageError(c, "%v", err) },
			Action:       dnssecDSCommand,
		}},
	}
}

func dnssecDSCommand(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError(c, "unexpected argument %q", c.Args().First())
	}
	dir, err := keyDir(c)
	if err != nil {
		return err
	}
	keys, err := signer.LoadKeys(dir)
	if err != nil {
		return fmt.Errorf("dnssec ds: %w", err)
	}
	var zones []string
	for _, k := range keys {
		if !slices.Contains(zones, k.Zone) {
			zones = append(zones, k.Zone)
		}
	}
	want := ""
	if z := c.String("zone"); z != "" {
		want = dns.CanonicalName(z)
	}
	if want == "" && len(zones) == 0 {
		return fmt.Errorf("dnssec ds: no DNSSEC keys in %s (an overwatch with overwatch.dnssec.enabled makes them at its first start)", dir)
	}
	if want != "" && !slices.Contains(zones, want) {
		has := "no zone has keys there"
		if len(zones) > 0 {
			has = "zones with keys: " + strings.Join(zones, ", ")
		}
		return fmt.Errorf("dnssec ds: no key for zone %s in %s; %s", want, dir, has)
	}
	var lines []string
	for _, k := range keys {
		// Only a key with the SEP flag has its DS at the parent, as
		// dnssec-dsfromkey decides; the signer makes no other kind.
		if (want == "" || k.Zone == want) && k.DNSKEY.Flags&dns.SEP != 0 {
			lines = append(lines, k.DS().String())
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("dnssec ds: the keys of zone %s in %s are all zone-signing keys (flags 256): none has a DS", want, dir)
	}
	_, err = fmt.Fprintln(c.App.Writer, strings.Join(lines, "\n"))
	return err
}

// keyDir is the key directory that --config or --data-dir names.
func keyDir(c *cli.Context) (string, error) {
	path, dataDir := c.String("config"), c.String("data-dir")
	switch {
	case path != "" && dataDir != "":
		return "", usageError(c, "give --config FILE or --data-dir DIR, not both (--config may come from OPENGSLB_CONFIG)")
	case dataDir != "":
		return filepath.Join(dataDir, signer.KeyDir), nil
	case path != "":
		cfg, err := config.Load(path)
		if err != nil {
			return "", fmt.Errorf("dnssec ds: %w", err)
		}
		return signer.KeyDirOf(cfg), nil
	}
	return "", usageError(c, "give --config FILE (the overwatch's configuration) or --data-dir DIR (its data_dir)")
}
