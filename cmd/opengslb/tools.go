package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/opengslb/opengslb/config"
)

func checkConfigCommand(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("config check: give exactly one FILE")
	}
	path := c.Args().First()
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(c.App.ErrWriter, err)
		return cli.Exit(fmt.Sprintf("config check: %s is not valid", path), 1)
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s: ok (mode %s, %d zones, %d domains, %d backends)\n",
		path, cfg.Mode, len(cfg.DNS.Zones), len(cfg.Domains), len(cfg.Backends))
	return err
}

func keygenGossipCommand(c *cli.Context) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("keygen gossip: read random bytes: %w", err)
	}
	_, err := fmt.Fprintln(c.App.Writer, base64.StdEncoding.EncodeToString(key))
	return err
}

func runByMode(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return errors.New("run: --config FILE is required")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	switch cfg.Mode {
	case config.ModeAgent:
		return runAgent(cfg, path)
	default:
		return runOverwatch(cfg, path)
	}
}
