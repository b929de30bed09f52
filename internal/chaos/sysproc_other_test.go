//go:build !linux

package chaos

import "os/exec"

// setDeathSignal has no portable equivalent off Linux; t.Cleanup still
// stops every child on a normal exit.
func setDeathSignal(cmd *exec.Cmd) {}
