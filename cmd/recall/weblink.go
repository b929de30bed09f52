package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"time"

	"recall/internal/auth"
	"recall/internal/web"
)

// signInTTL is how long the sign-in link `recall serve` prints stays valid.
const signInTTL = 24 * time.Hour

// localWeb is the web app as the local runner serves it: signed in with
// links from this command (local mode).
func localWeb() (http.Handler, error) {
	return web.New(web.Config{Auth: web.AuthLocal})
}

// signInLink is the address that signs the web app in as the token's
// subject. The token rides in the fragment, which browsers never send to
// the server, so it reaches neither the request nor a log; the page moves
// it into sessionStorage and off the address bar.
func signInLink(addr, token string) string {
	return "http://" + linkHost(addr) + "/#token=" + token
}

// linkHost turns a listen address into one a browser on this machine can
// open: no host or a wildcard host (":8000", "0.0.0.0:8000", "[::]:8000")
// becomes localhost.
func linkHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// defaultUser is whom `recall serve` signs in by default: the person
// running it.
func defaultUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "me"
}

// printSignIn writes the web app's address and a sign-in link for name to
// w (standard output, never the log: the link holds a token).
func printSignIn(w io.Writer, addr string, secret []byte, name string) error {
	tok, err := auth.Mint(secret, name, signInTTL)
	if err != nil {
		return fmt.Errorf("sign-in link for %q: %w", name, err)
	}
	fmt.Fprintf(w, "Recall is at http://%s/\nSign in as %s (valid %s): %s\n", linkHost(addr), name, signInTTL, signInLink(addr, tok))
	return nil
}
