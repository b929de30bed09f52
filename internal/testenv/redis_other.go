//go:build !linux

package testenv

import "os/exec"

// setParentDeathSignal has no portable equivalent off Linux; t.Cleanup
// still stops the servers on every normal exit.
func setParentDeathSignal(cmd *exec.Cmd) {}
