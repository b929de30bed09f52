package redisq

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
)

// ModelUsage is one model's running counters.
type ModelUsage struct {
	Model string
	// Calls counts model calls answered (and billed), Failures calls that
	// ended in an error, Analyses analyses completed with model calls,
	// CacheHits analyses answered from a cache at no cost.
	Calls, Failures, Analyses, CacheHits int64
	InputTokens, OutputTokens            int64
}

// usageFields are the counters kept per model, in the order of counts.
var usageFields = []string{"calls", "failures", "analyses", "cache_hits", "input_tokens", "output_tokens"}

func counts(m *ModelUsage) []*int64 {
	return []*int64{&m.Calls, &m.Failures, &m.Analyses, &m.CacheHits, &m.InputTokens, &m.OutputTokens}
}

// Usage keeps running model usage totals shared by every worker, for
// `recall usage`: what the Bedrock analyzer counts for one process, summed
// over all of them and kept across restarts.
//
// Layout. One hash, {prefix}:usage, with a field "<counter>:<model>" per
// model and counter (calls, failures, analyses, cache_hits, input_tokens,
// output_tokens; counter names hold no colon, model IDs may) and "since",
// the Unix time of the first Add. Each Add is one HINCRBY per non-zero
// counter in a MULTI, one round trip; Totals is one HGETALL, a consistent
// snapshot. The hash has no TTL: these are records, not a cache, and under
// a volatile-* eviction policy they are never evicted.
type Usage struct {
	rdb redis.UniversalClient
	key string
}

// NewUsage returns the usage totals on client under prefix (DefaultPrefix
// when empty). It does no I/O.
func NewUsage(client redis.UniversalClient, prefix string) *Usage {
	return &Usage{rdb: client, key: tagged(prefix) + "usage"}
}

// Key is the Redis key of the totals hash.
func (u *Usage) Key() string { return u.key }

// Add adds d's counters to the totals of model d.Model, atomically. Errors
// are Redis's, classified (EUNAVAILABLE while it is down), or EINVALID when
// d names no model.
func (u *Usage) Add(ctx context.Context, d ModelUsage) error {
	if d.Model == "" {
		return recall.Errorf(recall.EINVALID, "redisq: usage: no model named")
	}
	_, err := u.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, u.key, "since", strconv.FormatInt(time.Now().Unix(), 10))
		for i, c := range counts(&d) {
			if *c != 0 {
				p.HIncrBy(ctx, u.key, usageFields[i]+":"+d.Model, *c)
			}
		}
		return nil
	})
	if err != nil {
		return redisErr(err, "usage add %s", d.Model)
	}
	return nil
}

// UsageTotals is the shared usage since the first recorded call.
type UsageTotals struct {
	// Since is when the first usage was recorded (zero when none was).
	Since time.Time
	// Models holds one entry per model, sorted by model ID; pricing them is
	// the caller's (bedrock's table).
	Models []ModelUsage
}

// Totals reads every model's totals in one round trip. Errors are Redis's,
// classified (EUNAVAILABLE while it is down).
func (u *Usage) Totals(ctx context.Context) (UsageTotals, error) {
	h, err := u.rdb.HGetAll(ctx, u.key).Result()
	if err != nil {
		return UsageTotals{}, redisErr(err, "usage totals")
	}
	var out UsageTotals
	byModel := map[string]*ModelUsage{}
	for f, v := range h {
		if f == "since" {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil {
				out.Since = time.Unix(s, 0).UTC()
			}
			continue
		}
		name, model, ok := strings.Cut(f, ":")
		i := slices.Index(usageFields, name)
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || i < 0 || err != nil {
			continue // not ours; leave it to whoever wrote it
		}
		m := byModel[model]
		if m == nil {
			m = &ModelUsage{Model: model}
			byModel[model] = m
		}
		*counts(m)[i] = n
	}
	for _, m := range byModel {
		out.Models = append(out.Models, *m)
	}
	slices.SortFunc(out.Models, func(a, b ModelUsage) int { return strings.Compare(a.Model, b.Model) })
	return out, nil
}
