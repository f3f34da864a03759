// Command opengslb runs an OpenGSLB overwatch or agent, and holds the
// operator's tools (config check, key generation, version).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		// 1 for failures, 2 for usage errors (cli.Exit carries the code).
		os.Exit(reportError(os.Stderr, err))
	}
}

func newApp() *cli.App {
	configFlag := &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration `FILE`", EnvVars: []string{"OPENGSLB_CONFIG"}}
	return &cli.App{
		Name:    "opengslb",
		Usage:   "DNS-first global server load balancer",
		Version: versionString(),
		// Errors are printed once, by main, with the program's name.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			{
				Name:  "overwatch",
				Usage: "serve the GSLB zones authoritatively",
				Flags: []cli.Flag{
					configFlag,
					&cli.BoolFlag{Name: "demo", Usage: "serve a built-in demo configuration on loopback high ports"},
				},
				Action: runOverwatchCommand,
			},
			{
				Name:   "agent",
				Usage:  "check local backends and gossip their health to the overwatches",
				Flags:  []cli.Flag{configFlag},
				Action: runAgentCommand,
			},
			{
				Name:   "run",
				Usage:  "run the daemon that the file's mode names",
				Flags:  []cli.Flag{configFlag},
				Action: runByMode,
			},
			{
				Name:  "config",
				Usage: "configuration tools",
				Subcommands: []*cli.Command{{
					Name:      "check",
					Usage:     "validate a configuration file and print every problem with its line",
					ArgsUsage: "FILE",
					Action:    checkConfigCommand,
				}},
			},
			{
				Name:  "keygen",
				Usage: "generate secrets",
				Subcommands: []*cli.Command{{
					Name:   "gossip",
					Usage:  "print a new gossip encryption key (32 random bytes, base64)",
					Action: keygenGossipCommand,
				}},
			},
			clientStatusCommand(),
			clientBackendsCommand(),
			clientAgentsCommand(),
			clientOverrideCommand(),
			clientReloadCommand(),
			clientHACommand(),
			dnssecCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					_, err := fmt.Fprintln(c.App.Writer, "opengslb", versionString())
					return err
				},
			},
		},
	}
}
