package lambdafn

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/config"
	"recall/internal/metrics"
)

// Boot is what every function does first: read the configuration for
// Lambda and build the logger Lambda's log settings describe, at the
// configured level. An invalid configuration ends the process (ExitOn), so
// Lambda reports an init error naming the variable rather than failing
// every request.
func Boot(function string) (*slog.Logger, config.Config) {
	log := lambdacontext.NewLogger()
	cfg, err := config.FromEnv(config.Lambda)
	ExitOn(log, function, "configuration", err)
	return Leveled(log, cfg.Log.Level), cfg
}

// ExitOn logs why function cannot start and exits when err is not nil: a
// function that cannot open what it needs must not take requests it would
// only fail, and an exit during init is what Lambda reports and retries.
func ExitOn(log *slog.Logger, function, what string, err error) {
	if err != nil {
		log.Error(function+": start", "error", fmt.Sprintf("%s: %v", what, err))
		os.Exit(1)
	}
}

// EMF returns the metrics observer a function writes to standard output,
// where Lambda's log stream turns EMF records into CloudWatch metrics; a
// record that cannot be written is logged, never fatal.
func EMF(log *slog.Logger) *metrics.EMF {
	return metrics.NewEMF(os.Stdout, metrics.EMFOptions{OnError: func(err error) { log.Warn("metrics not written", "error", err.Error()) }})
}
