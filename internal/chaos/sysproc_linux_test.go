package chaos

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills a child when the test binary dies without running
// its cleanups (a panic, a -timeout), so no server outlives the suite.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
