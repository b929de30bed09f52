package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"recall/internal/auth"
	"recall/internal/config"
)

const tokenUsage = `
Usage: recall token --user NAME [--ttl 24h] [--data ./.recall]

Prints an HS256 bearer token whose subject is NAME, signed with the secret
'recall serve' verifies (RECALL_JWT_SECRET, or the one kept in the data
directory). Use it as: curl -H "Authorization: Bearer $(recall token --user alice)" ...`

func cmdToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", tokenUsage, stderr)
	user := fs.String("user", "", "the token's subject (the owner of what it creates)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	data := fs.String("data", "", "data directory holding the local secret (default $RECALL_DATA_DIR or ./.recall)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		fmt.Fprintln(stderr, "recall token: --user is required")
		return errUsage
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "recall token: --ttl must be positive")
		return errUsage
	}
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if *data != "" {
		cfg.Store.DataDir = *data
	}
	secret, err := localSecret(cfg)
	if err != nil {
		return err
	}
	tok, err := auth.Mint(secret, *user, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
