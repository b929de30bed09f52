package dynamo

import (
	"context"
	"time"
)

// SetKeywordsSleep replaces the wait between retries of unprocessed
// keyword writes, so a test of the bound need not wait out the backoff.
func SetKeywordsSleep(k *Keywords, sleep func(context.Context, time.Duration) error) { k.sleep = sleep }
