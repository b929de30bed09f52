package testenv

import "testing"

// SkipShort skips t under `go test -short`, saying what it would have
// started. It is the one place that decides: StartRedis, StartRedisCluster
// and StartDynalite call it, so a test that only needs those servers never
// checks testing.Short itself, and a test that is slow for another reason
// (it builds a binary, drives a browser) calls it with that reason. The
// README's test command never passes -short, so nothing is skipped there.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: " + what)
	}
}
