package testenv

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills a server when the test binary dies without
// running its cleanups (a panic or a -timeout), so no redis-server is left
// behind on a shared machine.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
