package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the name of the local secret in the data directory.
const SecretFile = "secret"

// LocalSecret returns the local runner's HS256 secret, kept in
// dir/SecretFile (mode 0600) so `recall token` and `recall serve` agree
// across restarts; the first caller generates it (32 random bytes, hex).
//
// The file appears whole or not at all: the secret is written and synced to
// a temporary file in dir, which is then hard-linked to the final name. A
// link fails if the name exists, so of several processes racing to create
// it exactly one wins and the others read the winner's. A crash leaves at
// worst a temporary file, which nothing reads, never a short secret.
func LocalSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, SecretFile)
	if s, err := readSecret(path); !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create data dir: %w", err)
	}
	buf := make([]byte, 32)
	rand.Read(buf)
	s := hex.EncodeToString(buf)
	tmp, err := writeTemp(dir, s+"\n")
	if err != nil {
		return nil, err
	}
	err = os.Link(tmp, path)
	os.Remove(tmp)
	switch {
	case errors.Is(err, fs.ErrExist):
		return readSecret(path) // another process made it first
	case err != nil:
		return nil, fmt.Errorf("auth: write secret: %w", err)
	}
	syncDir(dir)
	return []byte(s), nil
}

// writeTemp writes content to a new file in dir (mode 0600, as
// os.CreateTemp makes it), synced to disk, and returns its path.
func writeTemp(dir, content string) (string, error) {
	f, err := os.CreateTemp(dir, "."+SecretFile+"-*")
	if err != nil {
		return "", fmt.Errorf("auth: write secret: %w", err)
	}
	_, werr := f.WriteString(content)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("auth: write secret: %w", err)
	}
	return f.Name(), nil
}

// syncDir makes the new directory entry durable; failing to is not an
// error, since the secret is already readable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("auth: read secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < MinSecretBytes {
		return nil, fmt.Errorf("auth: %s is too short to be a secret; delete it to make a new one", path)
	}
	return []byte(s), nil
}

// DeriveKey derives a key for one purpose from secret (HMAC-SHA256 of the
// purpose), so one secret can sign tokens and, say, list cursors without a
// cursor ever being usable as a token signature.
func DeriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
