package config

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// Gossip key sizes: serf's keyring takes AES-128, AES-192 or AES-256 keys.
var gossipKeySizes = []int{16, 24, 32}

// MinTokenLength is the shortest service token accepted, in characters.
const MinTokenLength = 16

// decodeGossipKey decodes an encryption_key. Its errors never quote the
// key: they go to logs and terminals.
func decodeGossipKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("is not standard base64 (bad input at byte %d; the key is not shown)", int64(ce))
		}
		return nil, errors.New("is not standard base64 (the key is not shown)")
	}
	for _, n := range gossipKeySizes {
		if len(key) == n {
			return key, nil
		}
	}
	return nil, fmt.Errorf("decodes to %d bytes; a gossip key must decode to 16, 24 or 32 bytes (`opengslb keygen gossip` makes one)", len(key))
}

// GossipKey returns the decoded encryption_key of the mode in force, or nil
// and no error when this node runs without gossip (an overwatch without
// [overwatch.gossip]). In a Config that Load returned it cannot fail.
func (c *Config) GossipKey() ([]byte, error) {
	var path, key string
	switch {
	case c == nil:
		return nil, nil
	case c.Mode == ModeOverwatch && c.Overwatch != nil && c.Overwatch.Gossip != nil:
		path, key = "overwatch.gossip.encryption_key", c.Overwatch.Gossip.EncryptionKey
	case c.Mode == ModeAgent && c.Agent != nil:
		path, key = "agent.gossip.encryption_key", c.Agent.Gossip.EncryptionKey
	default:
		return nil, nil
	}
	b, err := decodeGossipKey(key)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return b, nil
}

// identity is the [*.identity] table of the mode in force, or nil.
func (c *Config) identity() *Identity {
	switch {
	case c == nil:
	case c.Mode == ModeOverwatch && c.Overwatch != nil:
		return &c.Overwatch.Identity
	case c.Mode == ModeAgent && c.Agent != nil:
		return &c.Agent.Identity
	}
	return nil
}

// NodeID is this node's gossip name in the mode in force: node_id of
// [overwatch.identity] or [agent.identity], which defaults to the host
// name in lower case.
func (c *Config) NodeID() string {
	if id := c.identity(); id != nil {
		return id.NodeID
	}
	return ""
}

// Region is the region of the mode in force's identity table, possibly
// empty.
func (c *Config) Region() string {
	if id := c.identity(); id != nil {
		return id.Region
	}
	return ""
}

// CheckedBackends are the backends this node health-checks: [[backends]]
// on an overwatch, [[agent.backends]] on an agent.
func (c *Config) CheckedBackends() []Backend {
	switch {
	case c == nil:
		return nil
	case c.Mode == ModeAgent:
		if c.Agent == nil {
			return nil
		}
		return c.Agent.Backends
	default:
		return c.Backends
	}
}
