package recall

import (
	"context"
	"time"
)

// WithSleep makes the walk wait through sleep instead of Sleep, so a test
// can pace it against a fake clock.
func (b BulkReprocess) WithSleep(sleep func(context.Context, time.Duration) error) BulkReprocess {
	b.sleep = sleep
	return b
}
