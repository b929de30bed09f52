package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"recall/internal/auth"
)

const tokenUsage = `
Usage: recall token --user NAME [--ttl 24h] [--data ./.recall] [--link [--addr :8000]]

Prints an HS256 bearer token whose subject is NAME, signed with the secret
'recall serve' verifies (RECALL_JWT_SECRET, or the one kept in the data
directory). Use it as: curl -H "Authorization: Bearer $(recall token --user alice)" ...

With --link it prints a link that signs the web app in as NAME instead:
http://HOST:PORT/#token=<JWT>, for the 'recall serve' listening on --addr.`

func cmdToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", tokenUsage, stderr)
	user := fs.String("user", "", "the token's subject (the owner of what it creates)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	data := fs.String("data", "", "data directory holding the local secret (default $RECALL_DATA_DIR or ./.recall)")
	link := fs.Bool("link", false, "print a web app sign-in link instead of the bare token")
	addr := fs.String("addr", envOr("RECALL_ADDR", ":8000"), "with --link: the address 'recall serve' listens on (also RECALL_ADDR)")
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
	cfg, err := localConfig(*data)
	if err != nil {
		return err
	}
	secret, err := localSecret(cfg)
	if err != nil {
		return err
	}
	tok, err := auth.Mint(secret, *user, *ttl)
	if err != nil {
		return err
	}
	if *link {
		tok = signInLink(*addr, tok)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
